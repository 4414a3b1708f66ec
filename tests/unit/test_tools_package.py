"""The ragops_tools package: the shared rules are the collection's own files, and it runs without Ansible."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import ragops_tools
from ansible_collections.ragops.stack.plugins.lookup.collection_path import collection_path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "tools" / "ragops_tools"
COMMANDS = ("backup", "restore", "verify", "retention", "list", "live", "copy-milvus")


def test_the_shared_rules_are_symlinks_to_module_utils():
    """tenant.py and partition_catalog.py are the one implementation, not copies."""
    assert Path(ragops_tools.__file__).parent == PACKAGE
    for name in ("tenant.py", "partition_catalog.py"):
        link = PACKAGE / name
        assert link.is_symlink(), name
        assert os.readlink(link) == "../../plugins/module_utils/" + name
        assert link.resolve() == (ROOT / "plugins" / "module_utils" / name).resolve()


def test_every_module_imports_without_ansible():
    """On a host the package has the tools virtualenv only: none of its modules may reach for Ansible."""
    modules = sorted("ragops_tools." + p.stem for p in PACKAGE.glob("*.py") if p.stem != "__main__")
    code = ("import importlib, json, sys\n"
            "for name in %r:\n    importlib.import_module(name)\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('ansible', 'ansible_collections'))))"
            % modules)
    proc = subprocess.run([sys.executable, "-I", "-c", "import sys; sys.path.insert(0, %r)\n" % str(PACKAGE.parent)
                           + code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_no_file_of_the_package_is_over_300_lines():
    sizes = {p.name: len(p.read_text().splitlines()) for p in PACKAGE.glob("*.py")}
    assert sizes and max(sizes.values()) <= 300, sizes


def test_the_command_line_keeps_its_commands():
    proc = subprocess.run([sys.executable, "-m", "ragops_tools", "--help"], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(PACKAGE.parent)), cwd="/", check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: ragops-backup ")
    for command in COMMANDS:
        assert command in proc.stdout


def test_the_common_role_finds_the_package_through_the_collection_path_lookup():
    found = Path(collection_path("tools/ragops_tools"))
    assert found.resolve() == PACKAGE.resolve()
    role = (ROOT / "roles" / "common" / "tasks" / "main.yml").read_text()
    assert "lookup('ragops.stack.collection_path', 'tools/ragops_tools')" in role
