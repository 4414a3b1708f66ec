"""The filter plugin exposes the same rule to templates, through real Jinja rendering."""

import json
import subprocess
import sys

from tests.conftest import ROOT

BOT = "550E8400-E29B-41D4-A716-446655440000"


def render(expression: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ROOT / ".venv" / "bin" / "ansible"), "localhost", "-m", "ansible.builtin.debug",
         "-a", "msg={{ %s }}" % expression, "-o"],
        capture_output=True, text=True, cwd=ROOT, check=False,
        env={"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "PATH": str(ROOT / ".venv" / "bin"),
             "ANSIBLE_LOCALHOST_WARNING": "false", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
             "ANSIBLE_PYTHON_INTERPRETER": sys.executable},
    )


def message(proc: subprocess.CompletedProcess):
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.split("=>", 1)[1])["msg"]


def test_filters_in_templates():
    out = message(render(
        f"['{BOT}' | ragops.stack.milvus_partition_name, '{BOT}' | ragops.stack.postgres_partition_name,"
        f" '{BOT}' | ragops.stack.postgres_partition_name('chunks'), '{BOT}' | ragops.stack.tenant_uuid,"
        f" '{BOT}' | ragops.stack.tenant_hex]"))
    assert out == ["bot_550e8400e29b41d4a716446655440000", "documents_550e8400e29b41d4a716446655440000",
                   "chunks_550e8400e29b41d4a716446655440000", "550e8400-e29b-41d4-a716-446655440000",
                   "550e8400e29b41d4a716446655440000"]


def test_filter_error_names_the_value_and_rule():
    proc = render("'bot-1' | ragops.stack.milvus_partition_name")
    assert proc.returncode != 0
    assert "tenant 'bot-1' is not a UUID (rule: 8-4-4-4-12 or 32 hex digits)" in proc.stdout + proc.stderr


def test_owner_record_beside_the_directory():
    out = message(render(
        "['/mnt/storage/rag-data/milvus' | ragops.stack.owner_record,"
        " '/mnt/storage/rag-data/postgresql/15/main/' | ragops.stack.owner_record,"
        " '/srv//data' | ragops.stack.owner_record]"))
    assert out == ["/mnt/storage/rag-data/.milvus.owner", "/mnt/storage/rag-data/postgresql/15/.main.owner",
                   "/srv/.data.owner"]


def test_owner_record_refuses_a_relative_path_and_the_root():
    for path in ("'rag-data/milvus'", "'/'"):
        proc = render(f"{path} | ragops.stack.owner_record")
        assert proc.returncode != 0
        assert "owner_record" in proc.stdout + proc.stderr
