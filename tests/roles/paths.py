"""Where the role tests find the repository, its ansible-playbook and the Python that runs modules locally."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = ROOT / ".venv" / "bin" / "ansible-playbook"
# Modules need only the standard library; the system Python starts them faster than the virtualenv's.
PYTHON = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else str(ROOT / ".venv" / "bin" / "python")
