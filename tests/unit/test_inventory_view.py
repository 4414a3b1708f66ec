"""Ad-hoc commands from the repository root see each inventory's own values.

The root group_vars/all.yml is the platform file every inventory links as
group_vars/all/00-platform.yml; ansible.cfg points ad-hoc commands at the
playbook directory so that it is not loaded a second time, above the
inventory, as playbook-level variables.
"""

import json
import subprocess

import yaml

from tests.conftest import ROOT


def inventory_vars(inventory: str) -> dict:
    proc = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "ansible-inventory"), "-i", f"inventories/{inventory}", "--list"],
        capture_output=True, text=True, cwd=ROOT, check=False,
        env={"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "PATH": str(ROOT / ".venv" / "bin")},
    )
    assert proc.returncode == 0, proc.stderr
    listing = json.loads(proc.stdout)
    host = listing["_meta"]["hostvars"]
    return next(iter(host.values()))


def test_lab_inventory_shows_its_tenants():
    declared = yaml.safe_load((ROOT / "inventories" / "lab" / "group_vars" / "all" / "main.yml").read_text())
    assert declared["ragops_tenants"], "the lab inventory declares its demo bots"
    seen = inventory_vars("lab")
    assert seen["ragops_tenants"] == declared["ragops_tenants"]
    assert seen["ragops_lab"] is True
