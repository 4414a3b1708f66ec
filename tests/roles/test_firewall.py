"""The firewall role's rules, rendered by ansible-playbook from a phase-2 inventory, validated with ``nft -c``
and then loaded for real into a network namespace, where real TCP connections from the admitted and the
refused addresses show what the rules do. Needs root, ``nft`` and ``ip`` (iproute2).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.roles.paths import ANSIBLE_PLAYBOOK, PYTHON, ROOT

PLAYBOOK = """\
- name: Render the firewall rules
  hosts: ragops
  gather_facts: false
  tasks:
    - name: Check and write the rules of each host
      ansible.builtin.include_role:
        name: ragops.stack.firewall
        tasks_from: rules
"""

ADDRESSES = {"api1": "198.18.0.11", "milvus1": "198.18.0.12", "pg1": "198.18.0.13", "nfs1": "198.18.0.14"}
OUTSIDER = "198.18.0.99"


def members(*hosts: str) -> dict:
    return {"hosts": {host: None for host in hosts}}


INVENTORY = {
    "all": {
        "hosts": {host: {"ragops_address": address} for host, address in ADDRESSES.items()},
        "children": {
            "ragops": {
                "children": {
                    "api": members("api1"),
                    "monitoring": members("api1"),
                    "milvus": members("milvus1"),
                    "postgres": members("pg1"),
                    "storage_server": members("nfs1"),
                    "storage": members("api1", "milvus1", "pg1"),
                }
            }
        },
    }
}


def render(tmp_path: Path, inventory: dict, **extra) -> subprocess.CompletedProcess:
    (tmp_path / "inventory.json").write_text(json.dumps(inventory))
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    extra_vars = {
        "ansible_connection": "local",
        "ansible_python_interpreter": PYTHON,
        "firewall_manage_service": False,
        "firewall_config_file": str(tmp_path / "out" / "{{ inventory_hostname }}.nft"),
        "firewall_ssh_sources": ["203.0.113.0/24"],
        **extra,
    }
    (tmp_path / "vars.json").write_text(json.dumps(extra_vars))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    return subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-i", str(tmp_path / "inventory.json"), str(tmp_path / "play.yml"),
         "-e", f"@{tmp_path / 'vars.json'}"],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=300, check=False,
    )


@pytest.fixture(scope="module")
def rules(tmp_path_factory) -> dict[str, str]:
    if shutil.which("nft") is None:
        pytest.fail("nft is required (apt-get install -y nftables)")
    tmp_path = tmp_path_factory.mktemp("firewall")
    run = render(tmp_path, INVENTORY)
    assert run.returncode == 0, run.stdout + run.stderr
    return {host: (tmp_path / "out" / f"{host}.nft").read_text() for host in ADDRESSES}


def accept_lines(text: str, port: int) -> list[str]:
    return [line.strip() for line in text.splitlines()
            if "accept" in line and "dport" in line and f" {port}" in line.split("dport", 1)[1]]


def test_each_port_opens_only_to_the_groups_that_use_it(rules):
    api, milvus, pg, nfs = ADDRESSES["api1"], ADDRESSES["milvus1"], ADDRESSES["pg1"], ADDRESSES["nfs1"]
    assert accept_lines(rules["pg1"], 5432) == [f"ip saddr {{ {api}, {pg} }} tcp dport {{ 5432 }} accept"]
    assert accept_lines(rules["pg1"], 9187) == [f"ip saddr {{ {api} }} tcp dport {{ 9187 }} accept"]
    assert accept_lines(rules["milvus1"], 19530) == [f"ip saddr {{ {api}, {milvus} }} tcp dport {{ 19530 }} accept"]
    assert accept_lines(rules["nfs1"], 2049) == [f"ip saddr {{ {api}, {milvus}, {pg} }} tcp dport {{ 2049 }} accept"]
    assert accept_lines(rules["api1"], 443) == ["tcp dport { 80, 443 } accept"]
    assert accept_lines(rules["api1"], 8001) == [f"ip saddr {{ {api} }} tcp dport {{ 8001, 8002 }} accept"]
    for host in ("milvus1", "pg1", "nfs1"):
        assert accept_lines(rules[host], 443) == []
        assert accept_lines(rules[host], 9100) == [f"ip saddr {{ {api} }} tcp dport {{ 9100 }} accept"]
    assert accept_lines(rules["api1"], 5432) == accept_lines(rules["api1"], 19530) == []
    assert nfs not in rules["pg1"] and nfs not in rules["milvus1"]
    for text in rules.values():
        assert "policy drop;" in text
        assert accept_lines(text, 22) == ["ip saddr { 203.0.113.0/24 } tcp dport { 22 } accept"]


def test_a_bad_address_fails_before_anything_is_written(tmp_path):
    inventory = json.loads(json.dumps(INVENTORY))
    inventory["all"]["hosts"]["api1"]["ragops_address"] = "api.internal"
    run = render(tmp_path, inventory)
    assert run.returncode != 0
    assert "pg1: firewall rule 'postgresql' would admit 'api.internal'" in run.stdout
    assert "api, postgres" in run.stdout
    assert not (tmp_path / "out" / "pg1.nft").exists()


def netns(name: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", name, *argv], capture_output=True, text=True, check=check)


@pytest.fixture
def lan():
    """A bridge in the server's namespace, one client namespace per source address; cleaned up afterwards."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.fail("the traffic test needs root and iproute2 (network namespaces)")
    tag = uuid.uuid4().hex[:6]
    server = f"fw-srv-{tag}"
    clients: dict[str, str] = {}
    subprocess.run(["ip", "netns", "add", server], check=True)
    try:
        netns(server, "ip", "link", "add", "br0", "type", "bridge")
        netns(server, "ip", "addr", "add", f"{ADDRESSES['pg1']}/24", "dev", "br0")
        netns(server, "ip", "link", "set", "br0", "up")
        netns(server, "ip", "link", "set", "lo", "up")
        for index, address in enumerate((ADDRESSES["api1"], ADDRESSES["milvus1"], OUTSIDER)):
            name = f"fw-cl{index}-{tag}"
            subprocess.run(["ip", "netns", "add", name], check=True)
            clients[address] = name
            subprocess.run(["ip", "link", "add", f"v{index}{tag}", "netns", name, "type", "veth",
                            "peer", "name", f"p{index}", "netns", server], check=True)
            netns(server, "ip", "link", "set", f"p{index}", "master", "br0", "up")
            netns(name, "ip", "addr", "add", f"{address}/24", "dev", f"v{index}{tag}")
            netns(name, "ip", "link", "set", f"v{index}{tag}", "up")
        yield server, clients
    finally:
        for name in [server, *clients.values()]:
            subprocess.run(["ip", "netns", "del", name], check=False)


CONNECT = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1.5).close()
    print("open")
except OSError as exc:
    print("closed", exc)
"""


def test_loaded_rules_admit_the_api_host_and_drop_the_others(rules, lan, tmp_path):
    server, clients = lan
    ruleset = tmp_path / "pg1.nft"
    ruleset.write_text(rules["pg1"])
    listener = subprocess.Popen(
        ["ip", "netns", "exec", server, PYTHON, "-c",
         "import socket,time\n"
         "s=[socket.create_server(('0.0.0.0',p)) for p in (5432,9187,19530)]\n"
         "time.sleep(60)"],
    )
    try:
        def reach(client: str, port: int) -> str:
            return netns(clients[client], PYTHON, "-c", CONNECT, ADDRESSES["pg1"], str(port)).stdout.split()[0]

        # Before the rules: everything answers (the drops below are the firewall's doing).
        for _attempt in range(50):
            if reach(OUTSIDER, 5432) == "open":
                break
        assert reach(ADDRESSES["milvus1"], 5432) == "open"
        netns(server, "nft", "-f", str(ruleset))
        assert reach(ADDRESSES["api1"], 5432) == "open"
        assert reach(ADDRESSES["api1"], 9187) == "open"  # the monitoring host (api1) scrapes the exporter
        assert reach(ADDRESSES["milvus1"], 5432) == "closed"
        assert reach(OUTSIDER, 5432) == "closed"
        assert reach(OUTSIDER, 9187) == "closed"
        assert reach(ADDRESSES["api1"], 19530) == "closed"  # not a PostgreSQL host's port
        # Reloading replaces the table instead of stacking a second copy.
        netns(server, "nft", "-f", str(ruleset))
        tables = netns(server, "nft", "list", "tables").stdout.split("\n")
        assert [t for t in tables if t.strip()] == ["table inet ragops"]
    finally:
        listener.kill()
        listener.wait()
