"""The nfs_server role with NFS-Ganesha, checked from a listed client and from an outsider.

The machines have no kernel NFS client: writes and reads go through molecule/ragops_testkit/nfs41.py (a minimal
NFSv4.1 client) and libnfs-utils (NFSv3/NFSv4.0) run inside the client containers, as given uids.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from pathlib import Path

import pytest

from ragops_testkit.verify import docker_host
from ragops_testkit.verify import nfs41 as nfs41_from

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent

SERVER, CLIENT, OUTSIDER = "ragops-nfs-server", "ragops-nfs-client", "ragops-nfs-outsider"
EXPORT = "/export/rag-data"
REFUSED = {"NFS4ERR_NOENT", "NFS4ERR_ACCESS", "NFS4ERR_PERM", "NFS4ERR_WRONGSEC"}


@pytest.fixture(scope="module")
def server():
    return docker_host(SERVER)


def nfs41(name: str, *args: str) -> tuple[int, dict]:
    return nfs41_from(name, SERVER, *args)


def test_ganesha_runs_and_serves_nfsv4_only(server):
    service = server.service("nfs-ganesha")
    assert service.is_running and service.is_enabled
    assert server.socket("tcp://0.0.0.0:2049").is_listening or server.socket("tcp://:::2049").is_listening
    conf = server.file("/etc/ganesha/ganesha.conf").content_string
    assert re.search(r"Protocols = 4;", conf) and re.search(r"Minor_Versions = 1, 2;", conf)
    export = server.file("/etc/ganesha/ragops-export.conf").content_string
    assert "Clients = ragops-nfs-client;" in export, export
    assert "Squash = no_root_squash;" in export and "FSAL" in export


def test_export_root_belongs_to_root(server):
    root = server.file(EXPORT)
    assert root.is_directory and root.user == "root" and root.mode == 0o755


def test_client_root_creates_a_directory_owned_by_a_service_uid(server):
    # What the storage role does on a client: as root, create the layout and chown it (no_root_squash).
    name = f"milvus-{uuid.uuid4().hex[:8]}"
    rc, answer = nfs41(CLIENT, "mkdir", f"{EXPORT}/{name}", "--owner", "901", "--group", "901", "--mode", "0750")
    assert rc == 0, answer
    directory = server.file(f"{EXPORT}/{name}")
    assert directory.is_directory and directory.uid == 901 and directory.gid == 901 and directory.mode == 0o750


def test_write_as_uid_901_lands_on_the_server_owned_by_901_and_reads_back(server):
    directory = f"{EXPORT}/data-{uuid.uuid4().hex[:8]}"
    assert nfs41(CLIENT, "mkdir", directory, "--owner", "901", "--group", "901", "--mode", "0750")[0] == 0
    text = f"written over NFSv4.1 as 901 {uuid.uuid4()}"
    rc, answer = nfs41(CLIENT, "--uid", "901", "--gid", "901", "write", f"{directory}/file", text)
    assert rc == 0 and answer["written"] == len(text), answer

    on_server = server.file(f"{directory}/file")
    assert on_server.uid == 901 and on_server.gid == 901, (on_server.uid, on_server.gid)
    assert on_server.content_string == text

    rc, answer = nfs41(CLIENT, "--uid", "901", "--gid", "901", "read", f"{directory}/file")
    assert rc == 0 and answer["data"] == text, answer
    rc, answer = nfs41(CLIENT, "stat", f"{directory}/file")
    assert rc == 0 and (answer["owner"], answer["group"]) == ("901", "901"), answer  # numeric owners

    # Another service account (postgres, 902) is refused by the file's mode, by number.
    rc, answer = nfs41(CLIENT, "--uid", "902", "--gid", "902", "read", f"{directory}/file")
    assert rc == 3 and answer["error"] == "NFS4ERR_ACCESS", answer


def test_a_host_outside_the_list_is_refused(server):
    name = f"outsider-{uuid.uuid4().hex[:8]}"
    rc, answer = nfs41(OUTSIDER, "--uid", "901", "--gid", "901", "write", f"{EXPORT}/{name}", "x")
    assert rc == 3 and answer["error"] in REFUSED, answer
    rc, answer = nfs41(OUTSIDER, "mkdir", f"{EXPORT}/{name}")
    assert rc == 3 and answer["error"] in REFUSED, answer
    assert not server.file(f"{EXPORT}/{name}").exists


@pytest.mark.parametrize("name", [CLIENT, OUTSIDER])
def test_nfsv40_and_nfsv3_are_refused(name):
    # libnfs speaks NFSv4.0 and NFSv3 only: both must fail, from anyone.
    any_client = docker_host(name)
    v40 = any_client.run("timeout 30 nfs-ls 'nfs://%s%s?version=4'", SERVER, EXPORT)
    assert v40.rc != 0
    if name == CLIENT:
        assert "NFS4ERR_MINOR_VERS_MISMATCH" in v40.stdout + v40.stderr, v40.stdout + v40.stderr
    v3 = any_client.run("timeout 30 nfs-ls 'nfs://%s%s?version=3'", SERVER, EXPORT)
    assert v3.rc != 0, v3.stdout


def test_check_mode_on_the_converged_server_changes_nothing():
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE")
    assert inventory, "run through molecule verify"
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"))
    proc = subprocess.run(["ansible-playbook", "-i", inventory, str(HERE.parent / "converge.yml"), "--check", "--diff"],
                          capture_output=True, text=True, cwd=ROOT, env=env, check=False, timeout=600)
    recap = re.search(rf"{SERVER}\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", proc.stdout)
    assert recap, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert recap.groups() == ("0", "0", "0"), proc.stdout[-5000:]


def test_an_empty_client_list_is_refused_with_the_rule():
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE")
    assert inventory, "run through molecule verify"
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"))
    proc = subprocess.run(["ansible-playbook", "-i", inventory, str(HERE.parent / "converge.yml"), "--check",
                           "-e", '{"nfs_server_clients": []}'],
                          capture_output=True, text=True, cwd=ROOT, env=env, check=False, timeout=600)
    assert proc.returncode != 0
    assert "nfs_server_clients is empty" in proc.stdout, proc.stdout[-3000:]
