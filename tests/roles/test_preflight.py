"""playbooks/preflight.yml against the shipped phase-2 inventory and broken copies of it.

Every check is an assert on the controller (no host is contacted), so the play runs against the
inventory's real host names with a local connection.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.roles.paths import ANSIBLE_PLAYBOOK, ROOT

SPLIT = ROOT / "inventories" / "split"

SECRETS = {
    "vault_ragops_postgres_password": "a-long-random-postgres-secret",
    "vault_ragops_postgres_exporter_password": "a-long-random-exporter-secret",
    "vault_ragops_api_keys": ["a-long-random-api-key"],
}


def preflight(tmp_path: Path, inventory: Path | None = None, **extra) -> subprocess.CompletedProcess:
    (tmp_path / "vars.json").write_text(json.dumps({"ansible_connection": "local", **extra}))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    return subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-i", str(inventory or SPLIT), str(ROOT / "playbooks" / "preflight.yml"),
         "-e", f"@{tmp_path / 'vars.json'}"],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=300, check=False,
    )


def split_copy(tmp_path: Path, change) -> Path:
    """The shipped split inventory with its hosts file changed by ``change``; group_vars stay the shipped ones."""
    target = tmp_path / "split"
    target.mkdir()
    (target / "group_vars").symlink_to(SPLIT / "group_vars")
    hosts = yaml.safe_load((SPLIT / "hosts.yml").read_text())
    change(hosts["all"])
    (target / "hosts.yml").write_text(yaml.safe_dump(hosts))
    return target


def test_the_split_inventory_passes_with_its_secrets(tmp_path):
    run = preflight(tmp_path, **SECRETS)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "failed=0" in run.stdout


def test_the_split_inventory_without_vault_names_the_missing_secret(tmp_path):
    run = preflight(tmp_path)
    assert run.returncode != 0
    assert "ragops_postgres_password is missing, empty or a well-known default" in run.stdout


def test_two_hosts_with_one_address_are_refused(tmp_path):
    def same_address(inventory: dict) -> None:
        inventory["hosts"]["rag-postgres-1"]["ansible_host"] = inventory["hosts"]["rag-milvus-1"]["ansible_host"]

    run = preflight(tmp_path, split_copy(tmp_path, same_address), **SECRETS)
    assert run.returncode != 0
    assert "ragops_address 192.0.2.12 is given to more than one host (rag-milvus-1, rag-postgres-1)" in run.stdout


def test_a_second_storage_server_is_refused(tmp_path):
    def two_servers(inventory: dict) -> None:
        inventory["hosts"]["rag-storage-2"] = {"ansible_host": "192.0.2.15"}
        inventory["children"]["ragops"]["children"]["storage_server"]["hosts"]["rag-storage-2"] = None

    run = preflight(tmp_path, split_copy(tmp_path, two_servers), **SECRETS)
    assert run.returncode != 0
    assert "inventory group 'storage_server' has 2 hosts (rag-storage-1, rag-storage-2)" in run.stdout


def test_a_tier_without_a_host_is_refused(tmp_path):
    def no_milvus(inventory: dict) -> None:
        inventory["children"]["ragops"]["children"]["milvus"]["hosts"] = {}

    run = preflight(tmp_path, split_copy(tmp_path, no_milvus), **SECRETS)
    assert run.returncode != 0
    assert "inventory group 'milvus' has no host" in run.stdout


@pytest.mark.parametrize("bad", ["5f0c5b2e-0000-0000-0000-00000000000g", "bot-one"])
def test_a_bad_tenant_id_is_named(tmp_path, bad):
    run = preflight(tmp_path, ragops_tenants=[{"id": bad, "name": "x"}], **SECRETS)
    assert run.returncode != 0
    assert bad in run.stdout


def test_a_repeated_tenant_is_named(tmp_path):
    bot = "550e8400-e29b-41d4-a716-446655440000"
    run = preflight(tmp_path, ragops_tenants=[{"id": bot, "name": "a"}, {"id": bot.upper(), "name": "b"}], **SECRETS)
    assert run.returncode != 0
    assert f"ragops_tenants repeats ['{bot}']" in run.stdout
