"""Render-only runs of playbooks/k8s.yml against inventories/k8s, shared by the k8s tests."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

INVENTORY = ROOT / "inventories" / "k8s"
PLAYBOOK = ROOT / "playbooks" / "k8s.yml"
VERSIONS = yaml.safe_load((ROOT / "roles" / "k8s_versions" / "defaults" / "main.yml").read_text())

# The vault of the test: every value must end up in Secret objects only.
SECRETS = {
    "vault_ragops_postgres_password": "Pg-Test-Secret-4f1a9'q",
    "vault_ragops_k8s_s3_access_key": "S3AccessTest7788",
    "vault_ragops_k8s_s3_secret_key": "S3-Secret-Test-91b2c",
    "vault_ragops_k8s_grafana_admin_password": "Grafana-Test-Pw-33",
    "vault_ragops_k8s_tls_key": "-----BEGIN PRIVATE KEY-----\nTESTKEYxyz987\n-----END PRIVATE KEY-----",
    "vault_ragops_k8s_postgres_source_password": "Phase2-Source-Pw-55",
}
API_KEY = "api-key-test-5e6f7a"
SECRET_VALUES = [*SECRETS.values(), API_KEY]
BASE_VARS = {**SECRETS, "vault_ragops_api_keys": [API_KEY],
             "vault_ragops_k8s_tls_cert": "-----BEGIN CERTIFICATE-----\nTESTCERTabc\n-----END CERTIFICATE-----"}

# Variant: the other branches (Milvus 2.5 pins, a migration from phase 2, a
# cert-manager issuer, an existing Prometheus, an offline registry mirror).
MIRROR = "registry.internal:5000"
VARIANT_VARS = {
    "k8s_versions_milvus": "v2.5.16", "k8s_versions_milvus_chart": "4.2.58",
    "ragops_k8s_postgres_bootstrap": "import", "ragops_k8s_postgres_source_host": "192.0.2.21",
    "ragops_k8s_milvus_restore_backup": "phase2_final",
    "ragops_k8s_cert_manager_issuer": "letsencrypt-prod",
    "ragops_k8s_monitoring": "existing", "ragops_k8s_monitor_labels": {"release": "prometheus"},
    "ragops_k8s_image_registry": MIRROR,
    "ragops_k8s_chart_repositories": {"milvus": "oci://registry.internal:5000/charts"},
}


def run_playbook(workdir: Path, extra_vars: dict, playbook: Path = PLAYBOOK,
                 *flags: str) -> subprocess.CompletedProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    varsfile = workdir / "vars.json"
    varsfile.write_text(json.dumps(extra_vars))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
               PATH=f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}")
    return subprocess.run(["ansible-playbook", "-i", str(INVENTORY), str(playbook), "-e", f"@{varsfile}", *flags],
                          capture_output=True, text=True, env=env, cwd=ROOT, check=False, timeout=300)


@dataclass
class Rendered:
    """What one render-only run wrote: {relative path: file text}, parsed documents, the run's output."""

    root: Path
    output: str
    texts: dict[str, str] = field(default_factory=dict)
    docs: dict[str, list[dict]] = field(default_factory=dict)

    def manifests(self, kind: str | None = None) -> list[dict]:
        return [doc for path, docs in sorted(self.docs.items()) if not path.endswith(".values.yaml")
                for doc in docs if kind is None or doc["kind"] == kind]

    def one(self, kind: str, name: str) -> dict:
        found = [doc for doc in self.manifests(kind) if doc["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name}, got {len(found)}"
        return found[0]

    def values(self, release: str) -> dict:
        paths = [p for p in self.docs if p.endswith(f"/{release}.values.yaml")]
        assert len(paths) == 1, f"no values file for {release}: {sorted(self.docs)}"
        return self.docs[paths[0]][0]


def render(workdir: Path, extra_vars: dict) -> Rendered:
    out = workdir / "render"
    proc = run_playbook(workdir, {**BASE_VARS, **extra_vars, "ragops_k8s_render_dir": str(out)})
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    rendered = Rendered(root=out, output=output)
    for path in sorted(out.rglob("*")):
        if path.is_file():
            rel = str(path.relative_to(out))
            rendered.texts[rel] = path.read_text()
            rendered.docs[rel] = [doc for doc in yaml.safe_load_all(rendered.texts[rel]) if doc]
    return rendered


@pytest.fixture(scope="session")
def rendered(tmp_path_factory) -> Rendered:
    """The inventory as shipped (Milvus 2.6, new PostgreSQL, SeaweedFS, kube-prometheus-stack)."""
    return render(tmp_path_factory.mktemp("k8s-default"), {})


@pytest.fixture(scope="session")
def variant(tmp_path_factory) -> Rendered:
    return render(tmp_path_factory.mktemp("k8s-variant"), VARIANT_VARS)
