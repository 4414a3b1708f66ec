"""What the molecule scenarios' verifiers share: a host by container name, the API through Nginx, the
userspace NFSv4.1 client, Prometheus' targets and the check-mode run of the playbooks."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import time
import uuid
from pathlib import Path

import testinfra

from ragops_testkit.lab import LAB_API_KEY

ROOT = Path(__file__).resolve().parents[2]
RESOURCES = Path(__file__).resolve().parent


# ragops_tools_command on a host of the stack, and the backup program's configuration.
TOOLS_COMMAND = "/opt/ragops/tools/bin/python -m ragops_tools"
TOOLS_CONFIG = "/etc/ragops/backup.json"


# The inventory and host the verifiers run playbooks against: molecule's under molecule, the lab otherwise
# (RAGOPS_TEST_INVENTORY and RAGOPS_TEST_HOST override both).
INVENTORY = os.environ.get("RAGOPS_TEST_INVENTORY") or os.environ.get("MOLECULE_INVENTORY_FILE") \
    or str(ROOT / "inventories" / "lab")
HOST = os.environ.get("RAGOPS_TEST_HOST") or ("ragops-molecule" if os.environ.get("MOLECULE_INVENTORY_FILE")
                                              else "ragops-lab")


def run_playbook(path: Path, *extra: str) -> tuple[str, tuple[str, str, str]]:
    """Run a playbook against INVENTORY; its output and HOST's (changed, unreachable, failed)."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"))
    proc = subprocess.run(["ansible-playbook", "-i", INVENTORY, str(path), *extra],
                          capture_output=True, text=True, cwd=ROOT, env=env, check=False, timeout=1200)
    recap = re.search(re.escape(HOST) + r"\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)",
                      proc.stdout)
    assert recap, proc.stdout[-3000:] + proc.stderr[-2000:]
    return proc.stdout, recap.groups()


def tools_program(host, *args: str) -> dict:
    """Run one ragops_tools command on the host; its JSON answer."""
    result = host.run("%s --config %s %s" % (TOOLS_COMMAND, TOOLS_CONFIG, " ".join(args)))
    lines = result.stdout.strip().splitlines()
    assert lines, result.stderr
    return json.loads(lines[-1])


def docker_host(name: str):
    return testinfra.get_host(f"docker://{name}")


def api(host, method: str, path: str, body: dict | None = None, key: str | None = LAB_API_KEY) -> tuple[int, dict]:
    """One request through Nginx on ``host`` (HTTPS on 127.0.0.1): status and JSON body."""
    command = ["curl", "-sk", "-o", "/tmp/body", "-w", "%{http_code}", "-X", method,
               "-H", "Content-Type: application/json", f"https://127.0.0.1{path}"]
    if key:
        command[1:1] = ["-H", f"X-API-Key: {key}"]
    if body is not None:
        encoded = base64.b64encode(json.dumps(body).encode()).decode()
        host.run_test("echo %s | base64 -d > /tmp/request.json", encoded)
        command += ["--data-binary", "@/tmp/request.json"]
    status = int(host.check_output(" ".join("'%s'" % part for part in command)))
    text = host.check_output("cat /tmp/body")
    return status, (json.loads(text) if text.strip().startswith("{") else {"raw": text})


def assert_search_isolates_bots(host, bots: tuple[str, str], dim: int) -> None:
    """The same five vectors PUT for two bots through Nginx; a search in the first returns its five, best first,
    and none of the second's (which score exactly as high). Other documents the bots may already hold (another
    verifier's) do not matter: the ids of this run are new."""
    run = uuid.uuid4().hex[:8]
    vector = [((i * 7) % 13) / 13 - 0.5 for i in range(dim)]
    for bot, prefix in zip(bots, ("a", "b")):
        documents = [{"id": f"{prefix}-{run}-{i}", "text": f"{prefix} text {i}", "metadata": {"n": i},
                      "embedding": [v + i * 0.01 for v in vector]} for i in range(5)]
        status, body = api(host, "PUT", f"/v1/bots/{bot}/documents", {"documents": documents})
        assert status == 200, body
    mine = [f"a-{run}-{i}" for i in range(5)]
    deadline = time.monotonic() + 60
    while True:
        status, body = api(host, "POST", f"/v1/bots/{bots[0]}/search", {"embedding": vector, "top_k": 100})
        ids = [r["id"] for r in body.get("results", [])]
        if set(mine) <= set(ids) or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert status == 200, body
    assert set(mine) <= set(ids), f"all of bot A's new documents: {ids}"
    assert not [i for i in ids if i.startswith(f"b-{run}-")], f"nothing of bot B's: {ids}"
    assert body["results"][0]["id"] == mine[0] and body["results"][0]["text"] == "a text 0"


def nfs41(client: str, server: str, *args: str) -> tuple[int, dict]:
    """Run nfs41.py (a minimal NFSv4.1 client) in container ``client`` against ``server``."""
    host = docker_host(client)
    if not host.file("/tmp/nfs41.py").exists:
        encoded = base64.b64encode((RESOURCES / "nfs41.py").read_bytes()).decode()
        host.run_test("echo %s | base64 -d > /tmp/nfs41.py", encoded)
    result = host.run("python3 /tmp/nfs41.py %s " + " ".join(["%s"] * len(args)), server, *args)
    assert result.stdout.strip(), result.stderr
    return result.rc, json.loads(result.stdout)


def prometheus_targets(host, wait: float = 90) -> tuple[list[dict], list[tuple]]:
    """Prometheus' active targets once all are up (or ``wait`` seconds have passed), and those still down."""
    deadline = time.monotonic() + wait
    while True:
        targets = json.loads(host.check_output("curl -s http://127.0.0.1:9090/api/v1/targets"))["data"]["activeTargets"]
        down = [(t["labels"]["job"], t["scrapeUrl"], t["health"], t.get("lastError")) for t in targets
                if t["health"] != "up"]
        if not down or time.monotonic() > deadline:
            return targets, down
        time.sleep(5)


def check_diff(hosts: list[str], playbooks=("playbooks/site.yml", "playbooks/tenants.yml")) -> None:
    """``--check --diff`` of the playbooks against the scenario's hosts reports nothing to change."""
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE")
    assert inventory, "run through molecule verify"
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    env["ANSIBLE_COLLECTIONS_PATH"] = str(ROOT / "collections")
    for playbook in playbooks:
        proc = subprocess.run(["ansible-playbook", "-i", inventory, str(ROOT / playbook), "--check", "--diff"],
                              capture_output=True, text=True, cwd=ROOT, env=env, check=False, timeout=1200)
        for name in hosts:
            recap = re.search(rf"{re.escape(name)}\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)",
                              proc.stdout)
            assert recap, f"{playbook}: no recap for {name}\n" + proc.stdout[-3000:] + proc.stderr[-2000:]
            assert recap.groups() == ("0", "0", "0"), f"{playbook} on {name}:\n" + proc.stdout[-6000:]
