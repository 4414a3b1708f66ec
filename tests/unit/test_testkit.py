"""molecule/ragops_testkit: the shared client module and the shared create step of the molecule scenarios."""

from __future__ import annotations

import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from ansible_collections.ragops.stack.plugins.module_utils import tenant as rule
from ragops_testkit import lab

ROOT = Path(__file__).resolve().parents[2]
BOT = "550e8400-e29b-41d4-a716-446655440000"


def test_the_key_is_the_one_the_lab_and_the_split_scenario_deploy():
    for path in ("inventories/lab/group_vars/all/main.yml", "molecule/split/group_vars/all/90-molecule.yml"):
        assert yaml.safe_load((ROOT / path).read_text())["ragops_api_keys"][0] == lab.LAB_API_KEY, path


def test_partition_names_are_the_tenant_rule():
    assert lab.milvus_partition_name is rule.milvus_partition_name
    assert lab.postgres_partition_name is rule.postgres_partition_name
    assert lab.milvus_partition_name(BOT.upper()) == "bot_550e8400e29b41d4a716446655440000"


def test_vector_is_reproducible_from_a_seed_or_a_generator():
    assert lab.vector(7, 128) == lab.vector(7, 128) != lab.vector(8, 128)
    assert len(lab.vector("bot", 16)) == 16 and all(-1 <= v < 1 for v in lab.vector("bot", 16))
    rng = random.Random(3)
    first, second = lab.vector(rng, 4), lab.vector(rng, 4)
    assert first == lab.vector(3, 4) and second != first


class Echo(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        status = 503 if self.path == "/frozen" else 200
        answer = json.dumps({"key": self.headers.get("X-API-Key"), "type": self.headers.get("Content-Type"),
                             "body": json.loads(body) if body else None}).encode()
        self.send_response(status)
        self.send_header("Retry-After", "120")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_GET = do_POST

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_call_sends_json_with_the_lab_key_and_returns_any_status(server):
    response = lab.call("POST", server + "/search", {"top_k": 3})
    assert response.status_code == 200
    assert response.json() == {"key": lab.LAB_API_KEY, "type": "application/json", "body": {"top_k": 3}}
    frozen = lab.call("POST", server + "/frozen", {"x": 1}, key="other")
    assert frozen.status_code == 503 and frozen.headers.get("retry-after") == "120"
    assert frozen.json()["key"] == "other"
    ready = lab.call("GET", server + "/readyz", key=None)
    assert ready.json() == {"key": None, "type": "application/json", "body": None}


def test_call_with_check_raises_on_an_http_error(server):
    with pytest.raises(RuntimeError, match="HTTP 503"):
        lab.call("POST", server + "/frozen", {}, check=True)


def test_every_platform_uses_only_keys_the_shared_create_step_passes_on():
    create = yaml.safe_load((ROOT / "molecule/ragops_testkit/create.yml").read_text())[0]
    handled = set(create["vars"]["molecule_platform_keys"])
    host = yaml.safe_load((ROOT / "molecule/ragops_testkit/vars/systemd-host.yml").read_text())["molecule_systemd_host"]
    assert set(host) <= handled
    for scenario in sorted((ROOT / "molecule").glob("*/molecule.yml")):
        for platform in yaml.safe_load(scenario.read_text())["platforms"]:
            assert set(platform) <= handled, (scenario.parent.name, platform["name"], set(platform) - handled)
