"""Run a real Milvus standalone server for the test suite.

The server binary comes from the ``milvus`` wheel pinned in requirements.txt
(its ``data/bin/*.lzma`` files). It runs with embedded etcd, local storage and
rocksmq, bound to loopback. Usage::

    python tests/services/milvus_server.py start|stop|restart|status [--env K=V ...]

State lives under ``$RAGOPS_CACHE`` (default ``.cache``) in ``milvus/``.
"""

from __future__ import annotations

import argparse
import lzma
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import milvus as milvus_wheel

ROOT = Path(__file__).resolve().parents[2]
BASE = Path(os.environ.get("RAGOPS_CACHE", ROOT / ".cache")).resolve() / "milvus"
WHEEL_DATA = Path(milvus_wheel.__file__).parent / "data"
HOST = "127.0.0.1"
HEALTH_URL = f"http://{HOST}:9091/healthz"

# Values for the wheel template's ``{{ name(type): default }}`` placeholders.
TEMPLATE_VALUES = {
    "etcd_data_dir": str(BASE / "data" / "etcd"),
    "local_storage_dir": str(BASE / "data" / "storage"),
    "rocksmq_data_dir": str(BASE / "data" / "rocksmq"),
    "system_log_path": str(BASE / "logs"),
    "etcd_log_path": str(BASE / "logs" / "etcd.log"),
}
PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)(?:\([a-z]+\))?\s*(?::\s*([^}]*?))?\s*\}\}")


def unpack() -> Path:
    bindir = BASE / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    for packed in sorted((WHEEL_DATA / "bin").glob("*.lzma")):
        target = bindir / packed.name[: -len(".lzma")]
        stamp = target.with_name(target.name + ".size")
        size = str(packed.stat().st_size)
        if target.exists() and stamp.exists() and stamp.read_text() == size:
            continue
        with lzma.open(packed) as src, open(target, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        target.chmod(0o755)
        stamp.write_text(size)
    return bindir


def render_config() -> Path:
    confdir = BASE / "conf"
    confdir.mkdir(parents=True, exist_ok=True)
    text = (WHEEL_DATA / "config.yaml.template").read_text()

    def fill(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        if name in TEMPLATE_VALUES:
            return TEMPLATE_VALUES[name]
        if default is None:
            raise SystemExit(f"milvus template placeholder {name!r} has no value")
        return default.strip()

    text = PLACEHOLDER.sub(fill, text)
    # Bind every component to loopback rather than the first routable address.
    text = re.sub(r"(?m)^(\s+)ip:\s*(#.*)?$", rf"\g<1>ip: {HOST}", text)
    text = re.sub(r"(?m)^(\s+gracefulStopTimeout:)\s*\d+", r"\g<1> 3", text)
    (confdir / "milvus.yaml").write_text(text)
    (confdir / "glog.conf").write_text((WHEEL_DATA / "glog.conf").read_text())
    for sub in ("logs", "run", "data"):
        (BASE / sub).mkdir(parents=True, exist_ok=True)
    return confdir


def healthy() -> bool:
    try:
        with urllib.request.urlopen(HEALTH_URL, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def pid() -> int | None:
    pidfile = BASE / "server.pid"
    if not pidfile.exists():
        return None
    value = int(pidfile.read_text())
    try:
        os.kill(value, 0)
    except ProcessLookupError:
        return None
    return value


def start(extra_env: dict[str, str], timeout: float = 120) -> None:
    if pid():
        print(f"milvus already running (pid {pid()})")
        return
    bindir = unpack()
    confdir = render_config()
    env = dict(os.environ)
    env.update(
        MILVUSCONF=str(confdir),
        LD_LIBRARY_PATH=str(bindir),
        DEPLOY_MODE="STANDALONE",
        MILVUS_RUN_DIR=str(BASE / "run"),
    )
    env.update(extra_env)
    log = open(BASE / "logs" / "stdout.log", "ab")
    proc = subprocess.Popen(
        [str(bindir / "milvus"), "run", "standalone"],
        cwd=BASE, env=env, stdout=log, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, start_new_session=True,
    )
    (BASE / "server.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"milvus exited with {proc.returncode}; see {BASE / 'logs'}")
        if healthy():
            print(f"milvus healthy on {HOST}:19530 (pid {proc.pid})")
            return
        time.sleep(0.5)
    raise SystemExit(f"milvus not healthy after {timeout}s; see {BASE / 'logs'}")


def stop(timeout: float = 60) -> None:
    running = pid()
    if not running:
        return
    os.killpg(running, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pid() is None:
            break
        try:
            waited = os.waitpid(running, os.WNOHANG)[0]
        except ChildProcessError:
            waited = 0
        if waited:
            break
        time.sleep(0.2)
    else:
        os.killpg(running, signal.SIGKILL)
    (BASE / "server.pid").unlink(missing_ok=True)
    print("milvus stopped")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "stop", "restart", "status"])
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment for the server (Milvus maps env to config keys)")
    args = parser.parse_args(argv)
    extra = dict(item.split("=", 1) for item in args.env)
    if args.action in ("stop", "restart"):
        stop()
    if args.action in ("start", "restart"):
        start(extra)
    if args.action == "status":
        print("healthy" if healthy() else "down")
        return 0 if healthy() else 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
