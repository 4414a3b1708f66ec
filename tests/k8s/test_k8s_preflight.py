"""The preflight of the Kubernetes phase refuses missing and well-known secrets before anything is written."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.conftest import ROOT
from tests.k8s.conftest import BASE_VARS, run_playbook


@pytest.mark.parametrize(("variable", "value"), [
    ("vault_ragops_k8s_s3_secret_key", ""),
    ("vault_ragops_postgres_password", "postgres"),
    ("vault_ragops_k8s_s3_access_key", "minioadmin"),
    ("vault_ragops_k8s_grafana_admin_password", "admin"),
])
def test_preflight_refuses_a_missing_or_default_secret(tmp_path, variable, value):
    out = tmp_path / "render"
    proc = run_playbook(tmp_path, {**BASE_VARS, variable: value, "ragops_k8s_render_dir": str(out)})
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    name = variable.removeprefix("vault_")
    assert f"{name} is missing, empty or a well-known default" in output, output
    assert "rule: production inventories take secrets from ansible-vault" in output
    assert not out.exists() or not any(out.rglob("*.yaml")), "nothing may be written after a refusal"


def test_preflight_without_a_vault_names_the_first_secret(tmp_path):
    proc = run_playbook(tmp_path, {"ragops_k8s_render_dir": str(tmp_path / "render")})
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "ragops_postgres_password is missing, empty or a well-known default" in output, output


def test_preflight_requires_tls_and_api_keys(tmp_path):
    no_tls = {**BASE_VARS, "vault_ragops_k8s_tls_cert": "", "ragops_k8s_render_dir": str(tmp_path / "a")}
    proc = run_playbook(tmp_path / "tls", no_tls)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "the Ingress has no certificate" in output, output
    no_keys = {**BASE_VARS, "vault_ragops_api_keys": [], "ragops_k8s_render_dir": str(tmp_path / "b")}
    proc = run_playbook(tmp_path / "keys", no_keys)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "ragops_api_keys is empty or holds a well-known default" in output, output


def test_tenants_playbook_targets_the_tools_pod_in_the_cluster(tmp_path):
    proc = run_playbook(tmp_path, {}, ROOT / "playbooks" / "tenants.yml", "--list-hosts")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    plays = output.split("play #")[1:]
    assert plays and all("ragops-tools" in play for play in plays), output
    assert "localhost" not in plays[-1] and "k8s-cp1" not in output


def test_tenants_variables_point_at_in_cluster_services():
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               PATH=f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}")
    proc = subprocess.run(["ansible", "-i", str(ROOT / "inventories" / "k8s"), "ragops-tools", "-m",
                           "ansible.builtin.debug", "-a", "msg={{ [tenants_milvus_uri, tenants_postgres_host,"
                           " ansible_connection, ansible_kubectl_pod, ansible_become] | to_json }}",
                           "-c", "local"],
                          capture_output=True, text=True, env=env, cwd=ROOT, check=False, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    values = json.loads(proc.stdout.split("msg:", 1)[1].strip().strip("'"))
    assert values[0] == "http://milvus.ragops.svc.cluster.local:19530"
    assert values[1] == "ragops-pg-rw.ragops.svc.cluster.local"
    assert values[2] == "kubernetes.core.kubectl" and values[3] == "ragops-api-tools-0"
    assert values[4] is False
