"""Run a ragops.stack module file directly, the way Ansible runs it on a host."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLLECTIONS = ROOT / "collections"


def run_module(name: str, check: bool = False, diff: bool = False, **args) -> dict:
    """Execute plugins/modules/<name>.py with ``args``; return its JSON result."""
    payload = dict(args)
    payload["_ansible_check_mode"] = check
    payload["_ansible_diff"] = diff
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": payload}, handle)
    env = dict(os.environ, PYTHONPATH=str(COLLECTIONS))
    try:
        proc = subprocess.run(
            [sys.executable, str(ROOT / "plugins" / "modules" / f"{name}.py"), handle.name],
            capture_output=True, text=True, env=env, timeout=300, check=False,
        )
    finally:
        os.unlink(handle.name)
    try:
        return json.loads(proc.stdout)
    except ValueError as exc:
        raise AssertionError(f"{name} printed no JSON (rc={proc.returncode}):\n{proc.stdout}\n{proc.stderr}") from exc


if __name__ == "__main__":
    print(json.dumps(run_module(sys.argv[1], **json.loads(sys.argv[2])), indent=1))
