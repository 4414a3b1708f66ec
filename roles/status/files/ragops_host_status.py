# Copyright: ragops.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only facts of one ragops host, as JSON: units, package versions, listening ports, storage, backups.

Run by the ragops.stack.status role with the system python3 (standard library only), as root.
Argument: a JSON object {units, packages, storage_path, backup_root, tiers, api_venv}.
"""

import datetime as dt
import glob
import json
import os
import pwd
import subprocess
import sys


def units(names):
    if not names:
        return {}
    proc = subprocess.run(["systemctl", "show", "--no-pager", "-p", "Id,ActiveState,SubState,UnitFileState,LoadState"]
                          + names, capture_output=True, text=True, check=False)
    result = {}
    for block in proc.stdout.strip().split("\n\n"):
        facts = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if facts.get("Id"):
            result[facts["Id"]] = facts
    return dict((n, result.get(n) or result.get(n + ".service") or {}) for n in names)


def packages(names):
    proc = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\t${Version}\t${db:Status-Status}\n"] + names,
                          capture_output=True, text=True, check=False)
    found = {}
    for line in proc.stdout.splitlines():
        name, version, status = (line.split("\t") + ["", ""])[:3]
        if status == "installed":
            found[name] = version
    return found


def listening():
    """[(port, address, process)] of the TCP sockets in LISTEN state."""
    inodes = {}
    for fd in glob.glob("/proc/[0-9]*/fd/*"):
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            pid = fd.split("/")[2]
            try:
                with open("/proc/%s/comm" % pid) as handle:
                    inodes[target[8:-1]] = handle.read().strip()
            except OSError:
                continue
    seen = {}
    for path, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            with open(path) as handle:
                lines = handle.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts[3] != "0A":
                continue
            address, port = parts[1].split(":")
            port = int(port, 16)
            if width == 8:
                raw = bytes.fromhex(address)[::-1]
                shown = ".".join(str(b) for b in raw)
            else:
                shown = "::" if set(address) == {"0"} else ("::1" if address.endswith("01000000") else "[v6]")
            # Without CAP_SYS_PTRACE (a container), other users' sockets cannot be tied to a process: the
            # owning account still tells which service it is.
            owner = inodes.get(parts[9]) or "user " + user_name(int(parts[7]))
            seen.setdefault(port, set()).add((shown, owner))
    return [dict(port=p, addresses=sorted({a for a, _command in v}),
                 process=sorted({c for _address, c in v}, key=len)[0])
            for p, v in sorted(seen.items())]


def user_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def tree_size(path):
    total = 0
    for base, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(base, name)).st_blocks * 512
            except OSError:
                continue
    return total


def storage(path):
    if not os.path.isdir(path):
        return dict(path=path, exists=False)
    stat = os.statvfs(path)
    size, free = stat.f_blocks * stat.f_frsize, stat.f_bavail * stat.f_frsize
    dirs = dict((name, tree_size(os.path.join(path, name))) for name in sorted(os.listdir(path))
                if os.path.isdir(os.path.join(path, name)))
    return dict(path=path, exists=True, size=size, used=size - stat.f_bfree * stat.f_frsize, available=free, dirs=dirs)


def backups(root, tiers):
    now = dt.datetime.now(dt.timezone.utc)
    result = {}
    for tier in tiers:
        best = None
        for path in glob.glob(os.path.join(root, "*", "*", tier, "manifest.json")):
            try:
                with open(path) as handle:
                    manifest = json.load(handle)
            except (OSError, ValueError):
                continue
            if manifest.get("status") == "ok" and (best is None or manifest["finished_at"] > best["finished_at"]):
                best = manifest
        if best:
            age = (now - dt.datetime.fromisoformat(best["finished_at"])).total_seconds()
            result[tier] = dict(id=best["id"], age_seconds=int(age), method=best.get("method"),
                                bytes=sum(f["bytes"] for f in best.get("files", {}).values()))
        else:
            result[tier] = None
    return result


def api_version(venv):
    found = sorted(glob.glob(os.path.join(venv, "lib", "python3*", "site-packages", "ragops_api-*.dist-info")))
    return found[-1].rsplit("/", 1)[1][len("ragops_api-"):-len(".dist-info")] if found else None


def main():
    request = json.loads(sys.argv[1])
    print(json.dumps(dict(
        units=units(request["units"]),
        packages=packages(request["packages"]),
        ports=listening(),
        storage=storage(request["storage_path"]),
        backups=backups(request["backup_root"], request["tiers"]),
        api_version=api_version(request["api_venv"]),
    )))


if __name__ == "__main__":
    main()
