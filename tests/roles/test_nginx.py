"""The nginx role for real: rendered by Ansible, run by nginx, in front of two Python backends.

The role's ``config`` entry point renders nginx.conf, the site and a self-signed certificate into a
temporary directory; a real nginx serves that configuration on loopback ports in front of two
``http.server`` backends, and every check is a real HTTP request to 127.0.0.1. Needs the nginx binary
(``apt-get install -y nginx``) and root (the key is owned by root, workers run as www-data).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import yaml
from cryptography import x509

ROOT = Path(__file__).resolve().parents[2]
SLOW_SECONDS = 3  # the backend's /slow; longer than the proxy read timeout below
READ_TIMEOUT = 1
RATE, BURST = "1r/s", 5
BODY_LIMIT = "1m"
HEX_ID = re.compile(r"^[0-9a-f]{32}$")


def find_nginx() -> str:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/sbin/nginx") if os.access(p, os.X_OK)), "")


def ansible_playbook() -> str:
    local = Path(sys.executable).parent / "ansible-playbook"
    return str(local) if local.exists() else (shutil.which("ansible-playbook") or "ansible-playbook")


# --- backends -------------------------------------------------------------------------------


class Backend(BaseHTTPRequestHandler):
    """Answers JSON with its port and what it received; /slow sleeps; echoes X-Request-ID like the API."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.hits.append((self.command, self.path))
        if self.path == "/slow":
            time.sleep(SLOW_SECONDS)
        payload = {
            "port": self.server.server_port,
            "method": self.command,
            "path": self.path,
            "body_bytes": len(body),
            "request_id": self.headers.get("X-Request-ID"),
            "forwarded_for": self.headers.get("X-Forwarded-For"),
            "forwarded_proto": self.headers.get("X-Forwarded-Proto"),
            "has_api_key": "X-API-Key" in self.headers,
        }
        if self.path == "/healthz":
            payload["status"] = "ok"
        data = json.dumps(payload).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if self.headers.get("X-Request-ID"):
                self.send_header("X-Request-ID", self.headers["X-Request-ID"])
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # nginx gave up on /slow already

    do_GET = do_POST = do_PUT = do_DELETE = answer


def start_backends() -> list[ThreadingHTTPServer]:
    """Two backends on consecutive ports, as the role derives them from ragops_api_base_port."""
    for _attempt in range(50):
        base = 20000 + int.from_bytes(os.urandom(2), "big") % 40000
        servers = []
        try:
            for port in (base, base + 1):
                servers.append(ThreadingHTTPServer(("127.0.0.1", port), Backend))
        except OSError:
            for server in servers:
                server.server_close()
            continue
        for server in servers:
            server.hits = []
            threading.Thread(target=server.serve_forever, daemon=True).start()
        return servers
    raise RuntimeError("no two consecutive free ports on 127.0.0.1")


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _index in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


# --- ansible --------------------------------------------------------------------------------


class Playbook:
    """ansible-playbook on localhost, one play per entry of ``plays`` (each: the role's config entry point with
    its own variables), started in the background. Plays share one process: Ansible's start-up is the slow part."""

    def __init__(self, workdir: Path, name: str, plays: list[dict], *args: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.names = [play["name"] for play in plays]
        playbook = [{
            "name": play["name"], "hosts": "localhost", "connection": "local", "gather_facts": False,
            "diff": play.get("diff", False), "vars": play["vars"],
            "tasks": [{
                "name": "Render the configuration",
                "ansible.builtin.include_role": {"name": "ragops.stack.nginx", "tasks_from": "config"},
            }],
        } for play in plays]
        path = workdir / f"{name}.yml"
        path.write_text(json.dumps(playbook, indent=1))  # JSON is YAML
        path.chmod(0o600)  # holds a private key
        env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
        self.proc = subprocess.Popen(
            [ansible_playbook(), "-i", "localhost,", "-e", f"ansible_python_interpreter={sys.executable}",
             *args, str(path)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self._result: tuple[int, dict, str, str] | None = None

    def result(self) -> tuple[int, dict, str, str]:
        """(rc, parsed JSON output, raw stdout, stderr)."""
        if self._result is None:
            stdout, stderr = self.proc.communicate(timeout=180)
            try:
                parsed = json.loads(stdout)
            except ValueError:
                parsed = {}
            self._result = (self.proc.returncode, parsed, stdout, stderr)
        return self._result

    def play(self, name: str) -> dict:
        """{"changed": tasks changed, "failures": messages of failed tasks, "ran": whether the play ran}."""
        plays = {p["play"]["name"]: p for p in self.result()[1].get("plays", [])}
        changed, failures = 0, []
        for task in plays.get(name, {}).get("tasks", []):
            host = task.get("hosts", {}).get("localhost", {})
            changed += bool(host.get("changed"))
            if host.get("failed") and not host.get("ignore_errors"):
                failures.append(str(host.get("msg", "")))
        return {"changed": changed, "failures": failures, "ran": name in plays}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def role_vars(base: Path, backend_port: int, ports: dict[str, int], nginx: str, **extra) -> dict:
    variables = {
        "ragops_lab": True,
        "ragops_server_name": "api.lab.test",
        "ragops_api_instances": 2,
        "ragops_api_base_port": backend_port,
        "nginx_manage_service": False,
        "nginx_binary": nginx,
        "nginx_conf_dir": str(base / "conf"),
        # Platform input (group_vars/all.yml), here beside the rest of the configuration.
        "ragops_write_freeze_file": str(base / "conf" / "ragops-write-freeze.conf"),
        "nginx_log_dir": str(base / "log"),
        "nginx_pid_file": str(base / "nginx.pid"),
        "nginx_listen_addresses": ["127.0.0.1"],
        "nginx_http_port": ports["http"],
        "nginx_https_port": ports["https"],
        # The lab publishes 8443 -> 443: the redirect names the published port, not the listener's.
        "nginx_https_redirect_port": ports["published"],
        "nginx_status_port": ports["status"],
        "nginx_client_max_body_size": BODY_LIMIT,
        "nginx_proxy_read_timeout": READ_TIMEOUT,
        "nginx_rate_limit_rate": RATE,
        "nginx_rate_limit_burst": BURST,
    }
    variables.update(extra)
    return variables


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nginx_binary() -> str:
    binary = find_nginx()
    if not binary:
        pytest.fail("nginx is not installed: `apt-get install -y nginx` (Debian 12 ships 1.22)")
    return binary


@pytest.fixture(scope="module")
def backends():
    servers = start_backends()
    yield servers
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory, nginx_binary, backends):
    """Render once, start the other playbook runs in the background, run nginx; kill it all at the end."""
    base = tmp_path_factory.mktemp("nginx")
    http, https, status, published = free_ports(4)
    ports = {"http": http, "https": https, "status": status, "published": published}
    backend_port = backends[0].server_port
    variables = role_vars(base / "lab", backend_port, ports, nginx_binary)

    first = Playbook(base, "render", [{"name": "render", "vars": variables}])
    rc, _output, stdout, stderr = first.result()
    assert rc == 0, f"rendering failed:\n{first.play('render')['failures'] or stdout[-3000:]}\n{stderr[-3000:]}"

    conf_dir = base / "lab" / "conf"
    key_text = (conf_dir / "tls" / "ragops-api.key").read_text()
    # In the background while nginx serves: the same render again, a check run on a fresh directory, and a
    # provided certificate followed by self-signed outside the lab (last: it fails the host).
    runs = {
        "again": Playbook(base, "again", [{"name": "again", "vars": variables}]),
        "check": Playbook(base, "check", [
            {"name": "check", "vars": role_vars(base / "fresh", backend_port, ports, nginx_binary)}],
            "--check", "--diff"),
        "others": Playbook(base, "others", [
            {"name": "provided", "diff": True, "vars": role_vars(
                base / "provided", backend_port, ports, nginx_binary, ragops_lab=False, nginx_tls_mode="provided",
                nginx_tls_certificate=(conf_dir / "tls" / "ragops-api.crt").read_text(),
                nginx_tls_private_key=key_text)},
            {"name": "refused", "vars": role_vars(base / "refused", backend_port, ports, nginx_binary,
                                                  ragops_lab=False, nginx_tls_mode="selfsigned")},
        ]),
    }

    error_log = base / "lab" / "log" / "error.log"
    nginx = subprocess.Popen(
        [nginx_binary, "-p", str(base / "lab"), "-c", str(conf_dir / "nginx.conf"), "-e", str(error_log),
         "-g", "daemon off;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while True:
            if nginx.poll() is not None:
                pytest.fail(f"nginx exited with {nginx.returncode}: {nginx.stderr.read()}\n"
                            f"{error_log.read_text() if error_log.exists() else ''}")
            try:
                socket.create_connection(("127.0.0.1", https), timeout=0.2).close()
                socket.create_connection(("127.0.0.1", status), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("nginx did not open its ports within 10 s")
                time.sleep(0.05)
        yield {
            "base": base, "conf_dir": conf_dir, "ports": ports, "backends": backends,
            "cert": str(conf_dir / "tls" / "ragops-api.crt"), "key_text": key_text,
            "https": f"https://127.0.0.1:{https}", "http": f"http://127.0.0.1:{http}",
            "access_log": base / "lab" / "log" / "access.log", "nginx": nginx_binary, "runs": runs,
            "process": nginx,
        }
    finally:
        nginx.terminate()
        try:
            nginx.wait(timeout=10)
        except subprocess.TimeoutExpired:
            nginx.kill()
            nginx.wait()
        for run in runs.values():
            run.stop()


@pytest.fixture
def api(lab):
    """GET/POST/PUT over HTTPS, each request with its own X-API-Key so that rate limits stay apart."""

    def call(method: str, path: str, **kwargs) -> requests.Response:
        headers = {"X-API-Key": f"test-{uuid.uuid4().hex}", **kwargs.pop("headers", {})}
        return requests.request(method, lab["https"] + path, headers=headers, verify=lab["cert"], timeout=10,
                                **kwargs)

    return call


# --- rendering ------------------------------------------------------------------------------


def test_every_default_is_documented_in_the_argument_specs():
    role = ROOT / "roles" / "nginx"
    defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text())
    specs = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    for entry_point in ("main", "config"):
        assert set(specs[entry_point]["options"]) == set(defaults), entry_point
    assert all(name.startswith("nginx_") for name in defaults)


def test_nginx_t_accepts_the_rendered_configuration(lab):
    result = subprocess.run(
        [lab["nginx"], "-t", "-p", str(lab["base"] / "lab"), "-c", str(lab["conf_dir"] / "nginx.conf"),
         "-e", str(lab["base"] / "lab" / "log" / "error.log")],
        check=False, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_upstream_is_derived_from_the_api_instances(lab):
    site = (lab["conf_dir"] / "conf.d" / "ragops-api.conf").read_text()
    first = lab["backends"][0].server_port
    assert re.findall(r"^\s*server (127\.0\.0\.1:\d+) ", site, re.M) == [f"127.0.0.1:{first}",
                                                                         f"127.0.0.1:{first + 1}"]
    assert "least_conn;" in site
    assert re.search(r"^\s*keepalive \d+;", site, re.M)


def test_self_signed_certificate_has_the_names_and_a_private_key(lab):
    tls = lab["conf_dir"] / "tls"
    key = (tls / "ragops-api.key").stat()
    assert stat.S_IMODE(key.st_mode) == 0o600 and key.st_uid == 0
    assert stat.S_IMODE(tls.stat().st_mode) == 0o700
    cert = x509.load_pem_x509_certificate((tls / "ragops-api.crt").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(names.get_values_for_type(x509.DNSName)) == {"api.lab.test", "localhost"}
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]


# --- serving --------------------------------------------------------------------------------


def test_http_redirects_to_the_configured_https_port(lab):
    # As in the lab: the client reaches HTTPS through a published port, not nginx's own listener port.
    published = lab["ports"]["published"]
    assert published != lab["ports"]["https"]
    for method in ("GET", "POST"):
        response = requests.request(method, lab["http"] + "/v1/bots/abc/search?top_k=3", allow_redirects=False,
                                    timeout=10)
        assert response.status_code == 301
        assert response.headers["Location"] == f"https://127.0.0.1:{published}/v1/bots/abc/search?top_k=3"


def test_plain_http_serves_the_health_check(lab):
    response = requests.get(lab["http"] + "/healthz", allow_redirects=False, timeout=10)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["forwarded_proto"] == "http"


def test_https_balances_over_both_instances(lab, api):
    seen = {api("GET", "/v1/bots").json()["port"] for _request in range(8)}
    assert seen == {server.server_port for server in lab["backends"]}


def test_security_headers_and_server_without_version(api):
    response = api("GET", "/v1/bots")
    assert response.status_code == 200
    headers = response.headers
    assert headers["Server"] == "nginx"
    assert headers["Strict-Transport-Security"] == "max-age=31536000"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"


def test_forwarded_headers_are_set_by_nginx_not_the_client(api):
    body = api("GET", "/v1/x", headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "http"}).json()
    assert body["forwarded_for"] == "127.0.0.1"
    assert body["forwarded_proto"] == "https"
    assert body["has_api_key"] is True


def test_request_id_is_passed_through_or_generated(api):
    given = api("GET", "/v1/x", headers={"X-Request-ID": "client-id.42"})
    assert given.headers["X-Request-ID"] == "client-id.42"  # once: the backend's copy is hidden
    assert given.json()["request_id"] == "client-id.42"
    for headers in ({}, {"X-Request-ID": "not valid!"}):
        response = api("GET", "/v1/x", headers=headers)
        assert HEX_ID.match(response.headers["X-Request-ID"])
        assert response.json()["request_id"] == response.headers["X-Request-ID"]


def test_body_over_the_limit_gets_413(lab, api):
    hits = sum(len(server.hits) for server in lab["backends"])
    accepted = api("PUT", "/v1/bots/abc/documents", data=b"x" * 700_000)
    assert accepted.status_code == 200 and accepted.json()["body_bytes"] == 700_000
    refused = api("PUT", "/v1/bots/abc/documents", data=b"x" * 2_000_000)
    assert refused.status_code == 413
    assert refused.json() == {"detail": "request body too large"}
    assert HEX_ID.match(refused.headers["X-Request-ID"])
    assert refused.headers["X-Content-Type-Options"] == "nosniff"
    assert sum(len(server.hits) for server in lab["backends"]) == hits + 1


def test_rate_limit_gives_429_after_the_burst(lab, api):
    key = f"limited-{uuid.uuid4().hex}"
    with requests.Session() as session:
        statuses, limited = [], None
        for _request in range(BURST + 10):
            response = session.get(lab["https"] + "/v1/x", headers={"X-API-Key": key}, verify=lab["cert"],
                                   timeout=10)
            statuses.append(response.status_code)
            if response.status_code == 429:
                limited = response
    assert statuses[:BURST + 1] == [200] * (BURST + 1), statuses
    assert statuses.count(429) >= 5 and set(statuses) == {200, 429}, statuses
    assert limited.json() == {"detail": "rate limit exceeded"}
    assert limited.headers["Retry-After"] == "1"
    assert limited.headers["X-Frame-Options"] == "DENY"
    assert HEX_ID.match(limited.headers["X-Request-ID"])
    # Another key, and requests without one, have buckets of their own.
    assert api("GET", "/v1/x").status_code == 200


def reload_nginx(lab) -> None:
    """SIGHUP, then wait until the new workers answer (the old ones finish their requests first)."""
    lab["process"].send_signal(signal.SIGHUP)
    time.sleep(1.0)


def test_write_freeze_turns_away_writes_and_lets_searches_through(lab, api):
    switch = lab["conf_dir"] / "ragops-write-freeze.conf"
    assert "not frozen" in switch.read_text()
    assert api("PUT", "/v1/bots/abc/documents", data=b"{}").status_code == 200
    hits = sum(len(server.hits) for server in lab["backends"])
    switch.write_text("set $ragops_write_frozen 1;\nset $ragops_write_freeze_retry_after 45;\n")
    reload_nginx(lab)
    try:
        for method, path in (("PUT", "/v1/bots/abc/documents"), ("DELETE", "/v1/bots/abc/documents/1"),
                             ("POST", "/v1/bots/abc/documents"), ("POST", "/v1/bots/abc/search/extra")):
            refused = api(method, path, data=b"{}")
            assert refused.status_code == 503, (method, path)
            assert refused.headers["Retry-After"] == "45"
            assert refused.json() == {"detail": "writes are paused for a migration; retry later"}
            assert refused.headers["X-Content-Type-Options"] == "nosniff"
        assert sum(len(server.hits) for server in lab["backends"]) == hits
        assert api("POST", "/v1/bots/abc/search", data=b"{}").status_code == 200
        assert api("GET", "/v1/bots/abc").status_code == 200
        assert sum(len(server.hits) for server in lab["backends"]) == hits + 2
    finally:
        switch.write_text("# Writes are not frozen.\n")
        reload_nginx(lab)
    assert api("PUT", "/v1/bots/abc/documents", data=b"{}").status_code == 200


def test_metrics_are_not_exposed(lab, api):
    hits = sum(len(server.hits) for server in lab["backends"])
    response = api("GET", "/metrics")
    assert response.status_code == 404 and response.json() == {"detail": "Not Found"}
    assert sum(len(server.hits) for server in lab["backends"]) == hits


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion:DeprecationWarning")
def test_tls_1_2_and_1_3_only(lab):
    port = lab["ports"]["https"]

    def handshake(version: ssl.TLSVersion) -> str:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(lab["cert"])
        context.minimum_version = context.maximum_version = version
        if version < ssl.TLSVersion.TLSv1_2:
            context.set_ciphers("DEFAULT:@SECLEVEL=0")  # let the client offer it, so the server is what refuses
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock, \
                context.wrap_socket(sock, server_hostname="localhost") as tls:
            return tls.version()

    assert handshake(ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
    assert handshake(ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
    for old in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
        with pytest.raises(ssl.SSLError):
            handshake(old)


def test_stub_status_answers_on_its_local_port(lab):
    port = lab["ports"]["status"]
    response = requests.get(f"http://127.0.0.1:{port}/nginx_status", timeout=10)
    assert response.status_code == 200
    assert response.text.startswith("Active connections:")
    assert requests.get(f"http://127.0.0.1:{port}/", timeout=10).status_code == 404


def test_access_log_is_json_with_timings_and_without_api_keys(lab, api):
    key = f"secret-{uuid.uuid4().hex}"
    request_id = f"log-{uuid.uuid4().hex[:8]}"
    assert api("GET", "/v1/logged", headers={"X-API-Key": key, "X-Request-ID": request_id}).status_code == 200
    text = ""
    for _attempt in range(50):  # the line is written after the response
        text = lab["access_log"].read_text()
        if request_id in text:
            break
        time.sleep(0.05)
    entries = [json.loads(line) for line in text.splitlines()]
    entry = next(e for e in entries if e["request_id"] == request_id)
    assert entry["status"] == 200 and entry["path"] == "/v1/logged" and entry["scheme"] == "https"
    assert isinstance(entry["request_time"], float)
    assert re.match(r"^\d+\.\d{3}$", entry["upstream_response_time"])
    assert entry["upstream_addr"].startswith("127.0.0.1:")
    assert key not in text and "limited-" not in text and "test-" not in text


# Last: timeouts count as failures against max_fails for the instances.
def test_timeouts_retry_idempotent_requests_only(lab, api):
    def slow_hits(method: str) -> int:
        return sum(hit == (method, "/slow") for server in lab["backends"] for hit in server.hits)

    start = time.monotonic()
    response = api("GET", "/slow")
    assert response.status_code == 504
    assert response.json() == {"detail": "the API instance did not answer in time"}
    assert slow_hits("GET") == 2  # tried on the next instance
    response = api("POST", "/slow", json={})
    assert response.status_code == 504
    assert slow_hits("POST") == 1  # a POST already sent is never replayed
    assert time.monotonic() - start < 3 * READ_TIMEOUT + 2


# --- the background runs -------------------------------------------------------------------


def test_second_render_changes_nothing(lab):
    run = lab["runs"]["again"]
    run.result()
    again = run.play("again")
    assert again["ran"] and not again["failures"], again
    assert again["changed"] == 0, again


def test_check_mode_on_a_fresh_host_does_not_fail_or_write(lab):
    lab["runs"]["check"].result()
    check = lab["runs"]["check"].play("check")
    assert check["ran"] and not check["failures"], check
    assert check["changed"] > 0
    assert not (lab["base"] / "fresh").exists()


def test_selfsigned_is_refused_outside_the_lab(lab):
    rc = lab["runs"]["others"].result()[0]
    assert rc != 0
    message = " ".join(lab["runs"]["others"].play("refused")["failures"])
    for words in ("Host localhost", "nginx_tls_mode is 'selfsigned'", "ragops_lab / nginx_lab is false",
                  "only for the lab", "nginx_tls_mode=provided", "nginx_tls_selfsigned_allowed"):
        assert words in message, message
    assert not (lab["base"] / "refused" / "conf").exists()


def test_provided_certificate_is_installed_and_the_key_never_logged(lab):
    stdout, stderr = lab["runs"]["others"].result()[2:]
    provided = lab["runs"]["others"].play("provided")
    assert provided["ran"] and not provided["failures"], provided
    key_path = lab["base"] / "provided" / "conf" / "tls" / "ragops-api.key"
    assert key_path.read_text() == lab["key_text"]
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600 and key_path.stat().st_uid == 0
    secret = lab["key_text"].splitlines()[1]
    assert secret not in stdout and secret not in stderr
