"""Phase 3 in render-only mode: every manifest and Helm values file the playbook would apply, checked offline."""

from __future__ import annotations

import base64
import json
import re

import kubernetes_validate
import pytest
import yaml

from tests.conftest import ROOT
from tests.k8s.conftest import API_KEY, BASE_VARS, MIRROR, SECRET_VALUES, SECRETS, VERSIONS, run_playbook

K8S_VERSION = VERSIONS["k8s_versions_kubernetes"] + ".0"
NAMESPACE = "ragops"
API_SELECTOR = {"app.kubernetes.io/name": "ragops-api"}

EXPECTED_FILES = {
    "k8s_cluster/namespace.yaml",
    "k8s_operators/cloudnative-pg.values.yaml", "k8s_operators/kube-prometheus-stack.values.yaml",
    "k8s_operators/seaweedfs.values.yaml", "k8s_operators/seaweedfs-secret.yaml",
    "k8s_operators/seaweedfs-networkpolicy.yaml", "k8s_operators/grafana-secret.yaml",
    "k8s_postgres/secrets.yaml", "k8s_postgres/schema-configmap.yaml", "k8s_postgres/cluster.yaml",
    "k8s_postgres/pooler.yaml", "k8s_postgres/networkpolicy.yaml", "k8s_postgres/podmonitor.yaml",
    "k8s_milvus/milvus.values.yaml", "k8s_milvus/s3-secret.yaml", "k8s_milvus/networkpolicy.yaml",
    "k8s_milvus_backup/config-secret.yaml", "k8s_milvus_backup/cronjob.yaml",
    "k8s_api/secret.yaml", "k8s_api/configmap.yaml", "k8s_api/deployment.yaml", "k8s_api/service.yaml",
    "k8s_api/hpa.yaml", "k8s_api/pdb.yaml", "k8s_api/ingress.yaml", "k8s_api/networkpolicy.yaml",
    "k8s_api/servicemonitor.yaml", "k8s_api/tools.yaml",
}

# Custom resources: no schema of theirs ships in a PyPI package, so their structure is checked here
# (the required fields of the CRDs of CloudNativePG 1.30 and prometheus-operator 0.93, and the fields we use).
CUSTOM_KINDS = {
    ("postgresql.cnpg.io/v1", "Cluster"): [("spec", "instances"), ("spec", "imageName"), ("spec", "storage", "size"),
                                           ("spec", "bootstrap")],
    ("postgresql.cnpg.io/v1", "Pooler"): [("spec", "cluster", "name"), ("spec", "pgbouncer", "poolMode"),
                                          ("spec", "type"), ("spec", "instances")],
    ("monitoring.coreos.com/v1", "PodMonitor"): [("spec", "selector", "matchLabels"), ("spec", "podMetricsEndpoints")],
    ("monitoring.coreos.com/v1", "ServiceMonitor"): [("spec", "selector", "matchLabels"), ("spec", "endpoints")],
}
CUSTOM_SPEC_KEYS = {
    "Cluster": {"instances", "imageName", "primaryUpdateStrategy", "enableSuperuserAccess", "postgresql", "affinity",
                "resources", "storage", "walStorage", "bootstrap", "externalClusters"},
    "Pooler": {"cluster", "instances", "type", "pgbouncer", "template"},
    "PodMonitor": {"selector", "podMetricsEndpoints"},
    "ServiceMonitor": {"selector", "endpoints"},
}


def dig(obj, *path):
    for key in path:
        obj = obj[key]
    return obj


# -- what is written ---------------------------------------------------------------------------------------------

def test_render_writes_every_manifest_and_values_file(rendered):
    assert set(rendered.texts) == EXPECTED_FILES
    assert all(rendered.docs[path] for path in EXPECTED_FILES), "a rendered file is empty"


def test_render_contacts_no_cluster(rendered):
    for task in ("Apply the manifests that hold secrets", "Install or upgrade the charts",
                 "Ask the API server for its version",
                 "Apply the namespace manifests"):
        matches = list(re.finditer(rf"TASK \[[^\]]*{task}\][^\n]*\n(.*?)\n\n", rendered.output, re.S))
        assert matches, task
        for match in matches:
            assert match.group(1).strip().startswith("skipping"), match.group(0)


# -- schemas -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["rendered", "variant"])
def test_manifests_validate_against_the_kubernetes_schemas(which, request):
    result = request.getfixturevalue(which)
    checked = 0
    for doc in result.manifests():
        key = (doc["apiVersion"], doc["kind"])
        assert doc["metadata"].get("name"), doc
        if key in CUSTOM_KINDS:
            for path in CUSTOM_KINDS[key]:
                dig(doc, *path)  # KeyError names the missing field
            assert set(doc["spec"]) <= CUSTOM_SPEC_KEYS[doc["kind"]], f"unknown fields in {doc['kind']}"
            continue
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{doc['kind']} {doc['metadata']['name']}: {exc.message} at {list(exc.path)}")
        checked += 1
    assert checked >= 20


def test_a_broken_manifest_is_caught_by_the_validator(rendered):
    """The validator is strict: an unknown field or a wrong type fails (guards the test above)."""
    deployment = json.loads(json.dumps(rendered.one("Deployment", "ragops-api")))
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)
    deployment = json.loads(json.dumps(rendered.one("Deployment", "ragops-api")))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_everything_namespaced_lands_in_the_platform_namespace(rendered):
    for doc in rendered.manifests():
        if doc["kind"] == "Namespace":
            continue
        expected = "monitoring" if doc["metadata"]["name"] == "grafana-admin" else NAMESPACE
        assert doc["metadata"].get("namespace") == expected, doc["metadata"]


# -- Milvus ------------------------------------------------------------------------------------------------------

def test_milvus_26_sizing_follows_the_seeds(rendered):
    values = rendered.values("milvus")
    assert values["cluster"]["enabled"] is True
    assert values["queryNode"]["replicas"] == 3
    # Milvus 2.6 has no index node: its data nodes build indexes (3 data + 2 index of the seeds).
    assert values["dataNode"]["replicas"] == 5
    assert values["indexNode"] == {"enabled": False}
    assert values["streamingNode"]["replicas"] == 3
    assert values["streaming"]["enabled"] is True
    assert values["mixCoordinator"]["replicas"] == 2
    assert values["mixCoordinator"]["activeStandby"]["enabled"] is True
    for legacy in ("rootCoordinator", "queryCoordinator", "dataCoordinator", "indexCoordinator"):
        assert values[legacy]["enabled"] is False
    assert values["etcd"]["replicaCount"] == 3
    assert "maxPartitionNum: 1024" in values["extraConfigFiles"]["user.yaml"]
    assert "type: woodpecker" in values["extraConfigFiles"]["user.yaml"]


def test_milvus_25_keeps_its_index_nodes(variant):
    values = variant.values("milvus")
    assert values["queryNode"]["replicas"] == 3
    assert values["dataNode"]["replicas"] == 3
    assert values["indexNode"]["enabled"] is True and values["indexNode"]["replicas"] == 2
    assert "streamingNode" not in values and "streaming" not in values
    assert "woodpecker" not in values["extraConfigFiles"]["user.yaml"]
    assert values["image"]["all"]["tag"] == "v2.5.16"


def test_milvus_uses_the_platform_s3_with_keys_from_a_secret(rendered):
    values = rendered.values("milvus")
    assert values["minio"]["enabled"] is False, "community MinIO images stopped in October 2025"
    for mq in ("pulsar", "pulsarv3", "kafka"):
        assert values[mq]["enabled"] is False
    s3 = values["externalS3"]
    assert s3["enabled"] is True and s3["accessKey"] == "" and s3["secretKey"] == ""
    assert s3["host"] == f"seaweedfs-s3.{NAMESPACE}.svc.cluster.local" and s3["port"] == "8333"
    secret = rendered.one("Secret", "milvus-s3")
    assert secret["stringData"] == {"access-key": SECRETS["vault_ragops_k8s_s3_access_key"],
                                    "secret-key": SECRETS["vault_ragops_k8s_s3_secret_key"]}
    for component in ("proxy", "mixCoordinator", "queryNode", "dataNode", "streamingNode"):
        env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in values[component]["extraEnv"]}
        assert env == {"MINIO_ACCESS_KEY_ID": {"name": "milvus-s3", "key": "access-key"},
                       "MINIO_SECRET_ACCESS_KEY": {"name": "milvus-s3", "key": "secret-key"}}, component
        assert values[component]["resources"]["requests"] and values[component]["resources"]["limits"], component


def test_object_store_is_seaweedfs_with_auth_from_a_secret(rendered):
    values = rendered.values("seaweedfs")
    assert values["s3"]["enabled"] is True and values["s3"]["enableAuth"] is True
    assert values["s3"]["existingConfigSecret"] == "seaweedfs-s3-identities"
    assert {b["name"] for b in values["s3"]["createBuckets"]} == {"milvus", "milvus-backup"}
    assert values["master"]["replicas"] == 3 and values["volume"]["replicas"] == 3
    config = json.loads(rendered.one("Secret", "seaweedfs-s3-identities")["stringData"]["seaweedfs_s3_config"])
    assert config["identities"][0]["credentials"] == [{"accessKey": SECRETS["vault_ragops_k8s_s3_access_key"],
                                                       "secretKey": SECRETS["vault_ragops_k8s_s3_secret_key"]}]


def test_milvus_backup_config_and_schedule(rendered, variant):
    config = yaml.safe_load(rendered.one("Secret", "milvus-backup-config")["stringData"]["backup.yaml"])
    assert config["milvus"]["address"] == "milvus" and config["milvus"]["port"] == 19530
    assert config["minio"]["secretAccessKey"] == SECRETS["vault_ragops_k8s_s3_secret_key"]
    assert config["minio"]["backupBucketName"] == "milvus-backup"
    cron = rendered.one("CronJob", "milvus-backup")
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]
    assert pod["metadata"]["labels"]["app.kubernetes.io/name"] == "milvus-backup"
    assert "milvus-backup create" in pod["spec"]["containers"][0]["args"][0]
    assert variant.manifests("CronJob"), "still scheduled in the variant"
    restore = variant.one("Job", "milvus-restore-phase2-final")
    assert "restore" in restore["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert "phase2_final" in restore["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert rendered.manifests("Job") == []


# -- PostgreSQL --------------------------------------------------------------------------------------------------

def test_cloudnativepg_cluster_is_a_primary_and_two_standbys(rendered):
    cluster = rendered.one("Cluster", "ragops-pg")
    spec = cluster["spec"]
    assert spec["instances"] == 3
    assert spec["affinity"]["enablePodAntiAffinity"] is True
    assert spec["affinity"]["podAntiAffinityType"] == "required"
    assert spec["postgresql"]["synchronous"]["number"] == 1
    assert spec["resources"]["requests"] and spec["resources"]["limits"]
    initdb = spec["bootstrap"]["initdb"]
    assert initdb["database"] == "ragops" and initdb["owner"] == "ragops"
    assert initdb["secret"]["name"] == "ragops-pg-app-credentials"
    ref = initdb["postInitApplicationSQLRefs"]["configMapRefs"][0]
    sql = rendered.one("ConfigMap", ref["name"])["data"][ref["key"]]
    assert "PARTITION BY LIST (bot_id)" in sql and "OWNER TO ragops" in sql
    secret = rendered.one("Secret", "ragops-pg-app-credentials")
    assert secret["type"] == "kubernetes.io/basic-auth"
    assert secret["stringData"]["password"] == SECRETS["vault_ragops_postgres_password"]


def test_pgbouncer_pooler_in_front_of_the_primary(rendered):
    pooler = rendered.one("Pooler", "ragops-pg-pooler-rw")
    assert pooler["spec"]["cluster"]["name"] == "ragops-pg"
    assert pooler["spec"]["type"] == "rw" and pooler["spec"]["instances"] == 2
    assert pooler["spec"]["pgbouncer"]["poolMode"] == "transaction"
    dsn = rendered.one("Secret", "ragops-api")["stringData"]["RAGOPS_PG_DSN"]
    assert f"host=ragops-pg-pooler-rw.{NAMESPACE}.svc.cluster.local" in dsn


def test_migration_imports_the_phase2_database(variant):
    spec = variant.one("Cluster", "ragops-pg")["spec"]
    imported = spec["bootstrap"]["initdb"]["import"]
    assert imported["type"] == "microservice" and imported["databases"] == ["ragops"]
    assert imported["source"]["externalCluster"] == "phase2"
    external = spec["externalClusters"][0]
    assert external["name"] == "phase2" and external["connectionParameters"]["host"] == "192.0.2.21"
    assert external["password"] == {"name": "ragops-pg-source-credentials", "key": "password"}
    source = variant.one("Secret", "ragops-pg-source-credentials")
    assert source["stringData"]["password"] == SECRETS["vault_ragops_k8s_postgres_source_password"]


# -- the API -----------------------------------------------------------------------------------------------------

def test_api_deployment_probes_resources_and_config(rendered):
    deployment = rendered.one("Deployment", "ragops-api")
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    port = {p["name"]: p["containerPort"] for p in container["ports"]}["http"]
    config = rendered.one("ConfigMap", "ragops-api")["data"]
    assert config["RAGOPS_PORT"] == str(port) and config["RAGOPS_HOST"] == "0.0.0.0"  # noqa: S104 (the pod's address)
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["resources"]["requests"]["cpu"] and container["resources"]["requests"]["memory"]
    assert container["resources"]["limits"]["memory"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert {"configMapRef": {"name": "ragops-api"}} in container["envFrom"]
    assert {"secretRef": {"name": "ragops-api"}} in container["envFrom"]
    assert "env" not in container
    assert config["RAGOPS_MILVUS_URI"] == f"http://milvus.{NAMESPACE}.svc.cluster.local:19530"
    assert config["RAGOPS_DIM"] == "768" and config["RAGOPS_COLLECTION"] == "chatty"
    assert rendered.one("Secret", "ragops-api")["stringData"]["RAGOPS_API_KEYS"] == API_KEY
    for name in config:
        assert name.startswith("RAGOPS_") or name == "FORWARDED_ALLOW_IPS", name


def test_api_config_names_are_the_ones_the_app_reads(rendered):
    source = (ROOT / "api" / "ragops_api" / "config.py").read_text()
    read = set(re.findall(r'reader\.\w+\("([A-Z_]+)"\)', source))
    config = rendered.one("ConfigMap", "ragops-api")["data"]
    secret = rendered.one("Secret", "ragops-api")["stringData"]
    for name in [*config, *secret]:
        if name.startswith("RAGOPS_"):
            assert name.removeprefix("RAGOPS_") in read, f"{name} is not read by api/ragops_api/config.py"


def test_api_autoscaling_and_disruption_budget(rendered):
    deployment = rendered.one("Deployment", "ragops-api")
    hpa = rendered.one("HorizontalPodAutoscaler", "ragops-api")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "ragops-api"}
    assert hpa["spec"]["minReplicas"] == 2 and hpa["spec"]["maxReplicas"] == 10
    assert {m["resource"]["name"] for m in hpa["spec"]["metrics"]} == {"cpu", "memory"}
    pdb = rendered.one("PodDisruptionBudget", "ragops-api")
    assert pdb["spec"]["maxUnavailable"] == 1
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    service = rendered.one("Service", "ragops-api")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    tools = rendered.one("StatefulSet", "ragops-api-tools")["spec"]["template"]["metadata"]["labels"]
    assert not pdb["spec"]["selector"]["matchLabels"].items() <= tools.items(), "the tools pod is not an API pod"
    assert not service["spec"]["selector"].items() <= tools.items()


def test_ingress_terminates_tls(rendered, variant):
    ingress = rendered.one("Ingress", "ragops-api")
    hosts = [rule["host"] for rule in ingress["spec"]["rules"]]
    assert hosts == ["search.example.com"]
    tls = ingress["spec"]["tls"]
    assert tls and set(hosts) <= {h for entry in tls for h in entry["hosts"]}
    secret = rendered.one("Secret", tls[0]["secretName"])
    assert secret["type"] == "kubernetes.io/tls"
    assert secret["stringData"]["tls.key"] == SECRETS["vault_ragops_k8s_tls_key"]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "ragops-api", "port": {"name": "http"}}
    # With cert-manager the issuer fills the Secret: no certificate of ours is rendered.
    issued = variant.one("Ingress", "ragops-api")
    assert issued["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt-prod"
    assert issued["spec"]["tls"][0]["secretName"] == "ragops-api-tls"
    assert [s for s in variant.manifests("Secret") if s["type"] == "kubernetes.io/tls"] == []


# -- network policies --------------------------------------------------------------------------------------------

def _matches(selector: dict, labels: dict) -> bool:
    assert set(selector) <= {"matchLabels"}, f"unsupported selector {selector}"
    return selector.get("matchLabels", {}).items() <= labels.items()


def allowed(policies: list[dict], pod: dict, peer: dict, peer_namespace: str, port: int) -> bool:
    """NetworkPolicy semantics for ingress: may `peer` (labels, namespace) open `port` on `pod` (labels)?"""
    selecting = [p for p in policies if p["metadata"]["namespace"] == NAMESPACE
                 and "Ingress" in p["spec"].get("policyTypes", ["Ingress"]) and _matches(p["spec"]["podSelector"], pod)]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get("ingress", []):
            if rule.get("ports") and port not in [p["port"] for p in rule["ports"]]:
                continue
            if "from" not in rule:
                return True
            for source in rule["from"]:
                if "namespaceSelector" in source:
                    ns_labels = {"kubernetes.io/metadata.name": peer_namespace}
                    ok = _matches(source["namespaceSelector"], ns_labels)
                    if "podSelector" in source:
                        ok = ok and _matches(source["podSelector"], peer)
                elif "podSelector" in source:
                    ok = peer_namespace == NAMESPACE and _matches(source["podSelector"], peer)
                else:
                    ok = True  # ipBlock: not used by the roles, would open the port
                if ok:
                    return True
    return False


def pod_labels(rendered, kind: str, name: str) -> dict:
    return rendered.one(kind, name)["spec"]["template"]["metadata"]["labels"]


def test_only_api_pods_reach_postgres_and_milvus(rendered):
    policies = rendered.manifests("NetworkPolicy")
    api = pod_labels(rendered, "Deployment", "ragops-api")
    tools = pod_labels(rendered, "StatefulSet", "ragops-api-tools")
    postgres = {"cnpg.io/cluster": "ragops-pg", "cnpg.io/podRole": "instance", "role": "primary"}
    pooler = {"cnpg.io/poolerName": "ragops-pg-pooler-rw", "cnpg.io/cluster": "ragops-pg"}
    proxy = {"app.kubernetes.io/name": "milvus", "app.kubernetes.io/instance": "milvus", "component": "proxy"}
    strangers = [({"app": "anything"}, NAMESPACE), (api, "default"), ({}, "kube-system"), ({}, "monitoring"),
                 ({"app.kubernetes.io/name": "x"}, NAMESPACE),
                 ({"app.kubernetes.io/instance": "seaweedfs", "app.kubernetes.io/name": "seaweedfs"}, NAMESPACE)]
    for target, port in ((postgres, 5432), (pooler, 5432), (proxy, 19530)):
        assert allowed(policies, target, api, NAMESPACE, port), (target, port)
        assert allowed(policies, target, tools, NAMESPACE, port), (target, port)
        for peer, namespace in strangers:
            assert not allowed(policies, target, peer, namespace, port), (target, port, peer, namespace)
    # Inside each system its own members talk; the pooler reaches the instances.
    assert allowed(policies, postgres, pooler, NAMESPACE, 5432)
    assert allowed(policies, postgres, {"cnpg.io/cluster": "ragops-pg"}, NAMESPACE, 5432)
    assert allowed(policies, proxy, {"app.kubernetes.io/instance": "milvus", "component": "querynode"}, NAMESPACE,
                   19530)
    # The backup jobs reach the Milvus proxy, not PostgreSQL; Prometheus only the metrics ports.
    backup = rendered.one("CronJob", "milvus-backup")["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    assert allowed(policies, proxy, backup, NAMESPACE, 19530)
    assert not allowed(policies, postgres, backup, NAMESPACE, 5432)
    assert allowed(policies, postgres, {}, "monitoring", 9187)
    assert allowed(policies, proxy, {}, "monitoring", 9091)
    assert allowed(policies, postgres, {}, "cnpg-system", 8000)
    assert not allowed(policies, postgres, {}, "cnpg-system", 5432)


def test_api_pods_take_traffic_from_the_ingress_controller_only(rendered):
    policies = rendered.manifests("NetworkPolicy")
    api = pod_labels(rendered, "Deployment", "ragops-api")
    tools = pod_labels(rendered, "StatefulSet", "ragops-api-tools")
    assert allowed(policies, api, {}, "kube-system", 8080)
    assert allowed(policies, api, {}, "monitoring", 8080)
    assert not allowed(policies, api, {"app": "anything"}, NAMESPACE, 8080)
    assert not allowed(policies, tools, {}, "kube-system", 8080), "nothing connects to the tools pod"
    s3 = {"app.kubernetes.io/instance": "seaweedfs", "app.kubernetes.io/component": "s3"}
    assert allowed(policies, s3, {"app.kubernetes.io/instance": "milvus"}, NAMESPACE, 8333)
    assert not allowed(policies, s3, api, NAMESPACE, 8333)


def test_namespace_denies_ingress_by_default(rendered):
    deny = rendered.one("NetworkPolicy", "default-deny-ingress")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}


def test_the_policy_evaluator_sees_an_open_port(rendered):
    """Guards the tests above: a policy admitting everyone on 5432 must be seen."""
    policies = rendered.manifests("NetworkPolicy") + [{
        "metadata": {"name": "oops", "namespace": NAMESPACE},
        "spec": {"podSelector": {"matchLabels": {"cnpg.io/cluster": "ragops-pg"}}, "policyTypes": ["Ingress"],
                 "ingress": [{"ports": [{"protocol": "TCP", "port": 5432}]}]}}]
    assert allowed(policies, {"cnpg.io/cluster": "ragops-pg"}, {"app": "anything"}, "default", 5432)


# -- secrets -----------------------------------------------------------------------------------------------------

def _forms(value: str) -> list[str]:
    return [value, json.dumps(value)[1:-1], base64.b64encode(value.encode()).decode()]


@pytest.mark.parametrize("which", ["rendered", "variant"])
def test_secrets_appear_in_secret_objects_only(which, request):
    result = request.getfixturevalue(which)
    for path, docs in result.docs.items():
        text = result.texts[path]
        if not any(doc.get("kind") == "Secret" for doc in docs):
            for secret in SECRET_VALUES:
                for form in _forms(secret):
                    assert form not in text, f"a secret is in {path}"
            continue
        for doc in docs:
            if doc.get("kind") != "Secret":
                dumped = json.dumps(doc)
                for secret in SECRET_VALUES:
                    assert all(form not in dumped for form in _forms(secret)), f"a secret is in {path} {doc['kind']}"
    for secret in SECRET_VALUES:
        assert all(form not in result.output for form in _forms(secret)), "a secret is in the playbook output"


def test_every_secret_of_the_vault_reaches_a_secret_object(rendered, variant):
    def in_secrets(result, value):
        return any(value in json.dumps(doc) or json.dumps(value)[1:-1] in json.dumps(doc)
                   for doc in result.manifests("Secret"))
    expected = [v for k, v in SECRETS.items() if k != "vault_ragops_k8s_postgres_source_password"] + [API_KEY]
    for value in expected:
        assert in_secrets(rendered, value)
    assert in_secrets(variant, SECRETS["vault_ragops_k8s_postgres_source_password"])


def test_rendered_files_are_private(rendered):
    for path in rendered.texts:
        assert (rendered.root / path).stat().st_mode & 0o077 == 0, path


# -- versions and mirrors ----------------------------------------------------------------------------------------

def test_images_and_charts_come_from_the_pinned_versions(rendered):
    milvus = rendered.values("milvus")
    assert milvus["image"]["all"]["tag"] == VERSIONS["k8s_versions_milvus"]
    assert milvus["attu"]["image"]["tag"] == VERSIONS["k8s_versions_attu"]
    assert milvus["etcd"]["image"]["tag"] == VERSIONS["k8s_versions_milvus_etcd"]
    assert rendered.values("cloudnative-pg")["image"]["tag"] == VERSIONS["k8s_versions_cnpg_operator"]
    assert rendered.values("seaweedfs")["image"]["tag"] == VERSIONS["k8s_versions_seaweedfs"]
    assert rendered.one("Cluster", "ragops-pg")["spec"]["imageName"].endswith(":" + VERSIONS["k8s_versions_postgresql"])
    assert rendered.one("Pooler", "ragops-pg-pooler-rw")["spec"]["pgbouncer"]["image"].endswith(
        ":" + VERSIONS["k8s_versions_pgbouncer"])
    backup = rendered.one("CronJob", "milvus-backup")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert backup["containers"][0]["image"].endswith(":" + VERSIONS["k8s_versions_milvus_backup"])
    assert f"chart zilliztech/milvus-helm {VERSIONS['k8s_versions_milvus_chart']}" in rendered.texts[
        "k8s_milvus/milvus.values.yaml"]


def test_versions_are_pinned_in_one_place():
    pins = [VERSIONS[k] for k in VERSIONS if k.startswith("k8s_versions_") and isinstance(VERSIONS[k], str)
            and re.fullmatch(r"v?\d+\.\d+(\.\d+)?([+-]\S+)?", VERSIONS[k])]
    assert len(pins) >= 12
    files = [p for role in (ROOT / "roles").glob("k8s_*") if role.name != "k8s_versions"
             for p in role.rglob("*") if p.is_file()]
    files += [p for p in (ROOT / "inventories" / "k8s").rglob("*") if p.is_file()] + [ROOT / "playbooks" / "k8s.yml"]
    for path in files:
        text = path.read_text()
        for pin in pins:
            assert not re.search(rf"(?<![\w.]){re.escape(pin)}(?![\w.])", text), f"{pin} hard-coded in {path}"


def test_offline_mirror_moves_every_image(variant):
    images = []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("repository"), str):
                # Helm image blocks: {registry, repository, tag} or {repository: <registry>/<path>, tag}.
                images.append(node["registry"] + "/" + node["repository"] if node.get("registry") else
                              node["repository"])
            for key, value in node.items():
                if key in ("image", "imageName") and isinstance(value, str):
                    images.append(value)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for path, docs in variant.docs.items():
        if path.startswith("k8s_api/"):
            continue  # the app's own image is given whole
        for doc in docs:
            walk(doc)
        for key in ("POSTGRES_IMAGE_NAME", "PGBOUNCER_IMAGE_NAME"):
            for doc in docs:
                if key in json.dumps(doc):
                    images.append(doc["config"]["data"][key])
    assert len(images) >= 8
    for image in images:
        assert image.startswith(MIRROR + "/"), image
    assert variant.values("seaweedfs")["global"]["imageRegistry"] == MIRROR


def test_the_pinned_set_is_checked_for_consistency(tmp_path):
    proc = run_playbook(tmp_path, {**BASE_VARS, "k8s_versions_milvus": "v2.6.15", "k8s_versions_milvus_chart": "4.2.58",
                                   "ragops_k8s_render_dir": str(tmp_path / "out")})
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "Milvus >= 2.6 needs milvus-helm >= 5.0.0" in output
