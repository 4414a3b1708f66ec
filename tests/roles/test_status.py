"""playbooks/status.yml's role on this machine: the report reads as a table, in a normal run and in check mode.

The host is an API and monitoring host without a data tier, so the role reads no database; a stand-in
``systemctl`` on PATH answers for systemd, and two ``http.server`` instances answer ``/readyz``. The
output is the one a person reads: ansible-playbook with the repository's ansible.cfg.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from tests.roles.paths import ANSIBLE_PLAYBOOK, PYTHON, ROOT

SYSTEMCTL = """#!{python}
import sys
names = [a for a in sys.argv[1:] if a not in ("show", "--no-pager", "-p") and "," not in a]
down = {{"prometheus-alertmanager": ("failed", "failed")}}
print("\\n\\n".join("Id=%s\\nActiveState=%s\\nSubState=%s\\nUnitFileState=enabled\\nLoadState=loaded"
                   % ((n if "." in n else n + ".service",) + down.get(n, ("active", "running"))) for n in names))
"""


class Ready(BaseHTTPRequestHandler):
    def do_GET(self):
        ready = self.server.server_address[1] == self.server.ready_port
        body = json.dumps({"checks": {"milvus": "ok", "postgres": "ok" if ready else "timeout"}}).encode()
        self.send_response(200 if ready else 503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def ports():
    """Two consecutive free ports, the first ready and the second not."""
    for base in range(18601, 18700, 2):
        try:
            servers = [ThreadingHTTPServer(("127.0.0.1", port), Ready) for port in (base, base + 1)]
        except OSError:
            continue
        for server in servers:
            server.ready_port = base
            threading.Thread(target=server.serve_forever, daemon=True).start()
        yield base
        for server in servers:
            server.shutdown()
            server.server_close()
        return
    pytest.skip("no two free ports in 18601-18700")


def status(tmp_path: Path, base: int, *flags: str) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "systemctl").write_text(SYSTEMCTL.format(python=sys.executable))
    (bin_dir / "systemctl").chmod(0o755)
    storage = tmp_path / "storage"
    (storage / "prometheus").mkdir(parents=True, exist_ok=True)
    inventory = {"all": {"children": {"ragops": {"children": {
        "api": {"hosts": {"status-host": None}}, "monitoring": {"hosts": {"status-host": None}},
        "postgres": {"hosts": {}}}}}}}  # an empty tier group, and none for milvus: both are skipped
    (tmp_path / "inventory" / "group_vars" / "all").mkdir(parents=True, exist_ok=True)
    (tmp_path / "inventory" / "hosts.yml").write_text(yaml.safe_dump(inventory))
    platform = tmp_path / "inventory" / "group_vars" / "all" / "00-platform.yml"  # as every inventory links it
    if not platform.is_symlink():
        platform.symlink_to(ROOT / "group_vars" / "all.yml")
    variables = dict(ansible_connection="local", ansible_python_interpreter=PYTHON, status_storage_path=str(storage),
                     status_api_venv=str(tmp_path / "api"), status_api_base_port=base, status_api_instances=2,
                     status_nginx_readyz_url="http://127.0.0.1:%d/readyz" % base, status_http_timeout=5)
    (tmp_path / "vars.json").write_text(json.dumps(variables))
    (tmp_path / "play.yml").write_text(textwrap.dedent("""\
        - name: Platform status, as playbooks/status.yml without become
          hosts: ragops
          gather_facts: false
          roles:
            - role: ragops.stack.status
        """))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH="%s:%s" % (bin_dir, os.environ["PATH"]))
    run = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", str(tmp_path / "inventory"), str(tmp_path / "play.yml"),
                          "-e", "@%s" % (tmp_path / "vars.json"), *flags],
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=300, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert re.search(r"status-host\s+:\s+ok=\d+\s+changed=0\s+unreachable=0\s+failed=0", run.stdout), run.stdout
    return run.stdout


def report(output: str) -> list[str]:
    """The lines of the report: the YAML block under ``msg: |-``, its indentation removed."""
    match = re.search(r"^( *)msg: \|-\n((?:\1 +.*\n|\n)+)", output, re.MULTILINE)
    assert match, "the report is not a block of text:\n" + output[-3000:]
    return textwrap.dedent(match.group(2)).rstrip("\n").splitlines()


@pytest.mark.parametrize("flags", [(), ("--check", "--diff")], ids=["run", "check"])
def test_the_report_is_a_table_one_line_per_item(tmp_path, ports, flags):
    lines = report(status(tmp_path, ports, *flags))
    assert lines[0] == "==== status-host (api, monitoring) ===="
    assert lines[1] == "SERVICE                            STATE      SUB        ENABLED"
    assert "prometheus-node-exporter           active     running    enabled" in lines
    assert "prometheus-alertmanager            failed     failed     enabled   <-- not running" in lines
    assert "  instance :%-18d 200 milvus=ok postgres=ok" % ports in lines
    assert "  instance :%-18d 503 milvus=ok postgres=timeout" % (ports + 1) in lines
    assert "  nginx                        200 milvus=ok postgres=ok   (http://127.0.0.1:%d/readyz)" % ports in lines
    for heading in ("VERSIONS", "LISTENING PORTS", "STORAGE %s" % (tmp_path / "storage"), "LAST BACKUP", "TENANTS",
                    "API READINESS"):
        assert heading in lines
    assert all(line == line.rstrip() and "\t" not in line for line in lines)
