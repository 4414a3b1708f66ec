"""The modules through ansible-playbook: in-tree FQCNs, idempotence, check/diff mode, secrets."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from tests.conftest import MILVUS_URI, PG, ROOT, new_tenants

PLAYBOOK = ROOT / "tests" / "integration" / "playbooks" / "tenants.yml"


def playbook(tmp_path, extra_vars: dict, *flags: str) -> tuple[dict, str]:
    varsfile = tmp_path / "vars.json"
    varsfile.write_text(json.dumps(extra_vars))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
               PATH=f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}")
    proc = subprocess.run(["ansible-playbook", str(PLAYBOOK), "-e", f"@{varsfile}", *flags],
                          capture_output=True, text=True, env=env, cwd=ROOT, check=False, timeout=300)
    output = proc.stdout + proc.stderr
    recap = re.search(r"localhost\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", output)
    assert recap, output
    ok, changed, unreachable, failed = map(int, recap.groups())
    return {"ok": ok, "changed": changed, "failed": failed + unreachable, "rc": proc.returncode}, output


@pytest.fixture
def extra_vars(collection, pg_schema):
    return {"milvus_uri": MILVUS_URI, "collection": collection, "schema": pg_schema, "pg": PG,
            "milvus_token": "", "tenants": new_tenants(5)}


def test_converge_then_idempotent_then_clean_check_diff(tmp_path, extra_vars):
    first, output = playbook(tmp_path, extra_vars)
    assert first["failed"] == 0 and first["rc"] == 0, output
    assert first["changed"] == 3, output

    second, output = playbook(tmp_path, extra_vars)
    assert second["failed"] == 0 and second["changed"] == 0, output

    check, output = playbook(tmp_path, extra_vars, "--check", "--diff")
    assert check["failed"] == 0 and check["changed"] == 0, output


def test_check_diff_on_new_tenants_shows_them_and_changes_nothing(tmp_path, extra_vars, milvus, pg):
    playbook(tmp_path, extra_vars)
    newcomer = new_tenants(1)[0]
    extra_vars["tenants"].append(newcomer)
    extra_vars["tenants"] = extra_vars["tenants"][1:]  # lists are compared by content, order aside
    check, output = playbook(tmp_path, extra_vars, "--check", "--diff")
    assert check["changed"] == 2, output
    hexed = newcomer.replace("-", "")
    assert f"bot_{hexed}" in output
    assert f"documents_{hexed}" in output
    assert f"bot_{hexed}" not in milvus.list_partitions(extra_vars["collection"])
    assert pg.execute("SELECT to_regclass(%s)", (f"{extra_vars['schema']}.documents_{hexed}",)).fetchone()[0] is None


def test_secrets_never_reach_the_output(tmp_path, extra_vars):
    extra_vars["milvus_token"] = "milvus-Token-9f8e7d"
    output = playbook(tmp_path, extra_vars, "-vvv")[1]
    assert "milvus-Token-9f8e7d" not in output
    assert PG["login_password"] not in output
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in output
