# Copyright: ragops.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Processes, accounts, the host lock and file moves."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import shutil
import subprocess
from pathlib import Path

from ragops_tools.base import BackupError


def run(command: list, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
    if proc.returncode != 0:
        raise BackupError("%s failed (exit %d): %s" % (" ".join(command[:3]), proc.returncode,
                                                       (proc.stderr or proc.stdout).strip()[-2000:]))
    return proc


def as_user(user: str, command: list) -> list:
    if pwd.getpwuid(os.geteuid()).pw_name == user:
        return command
    return ["runuser", "-u", user, "--"] + command


@contextlib.contextmanager
def host_lock(path: str):
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise BackupError("another ragops-backup run holds %s; try again when it ends" % path) from None
        yield


def chown_tree(path: Path, uid: int, gid: int, dir_mode: int, file_mode: int) -> None:
    for base, _dirs, files in os.walk(path):
        os.chown(base, uid, gid)
        os.chmod(base, dir_mode)
        for name in files:
            os.chown(os.path.join(base, name), uid, gid)
            os.chmod(os.path.join(base, name), file_mode)


def link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
