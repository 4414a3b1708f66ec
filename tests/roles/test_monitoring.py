"""The monitoring role's configuration, rendered for real by ansible-playbook and checked with promtool and amtool.

Two inventories: phase 1 (one server in every group) and phase 2 (api1, milvus1, pg1, nfs1; monitoring on api1).
The play includes the role's ``config`` entry point on localhost, with every path pointing into a scratch
directory and services not managed, so nothing is installed and no service is touched.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.roles.paths import ANSIBLE_PLAYBOOK, PYTHON, ROOT

PLAYBOOK = """\
- name: Render the monitoring configuration
  hosts: monitoring
  gather_facts: false
  tasks:
    - name: Render and validate every configuration file of the role
      ansible.builtin.include_role:
        name: ragops.stack.monitoring
        tasks_from: config
"""


def members(*hosts: str) -> dict:
    return {"hosts": {host: None for host in hosts}}


PHASE1_INVENTORY = {
    "all": {
        "hosts": {"rag1": {"ragops_address": "192.0.2.10"}},
        "children": {group: members("rag1") for group in ("postgres", "milvus", "api", "monitoring", "storage")},
    }
}

PHASE2_INVENTORY = {
    "all": {
        "vars": {"ragops_storage_path": "/srv/rag-data"},
        "hosts": {
            "api1": {"ragops_address": "10.0.2.11", "ragops_api_instances": 2, "ragops_api_base_port": 9001},
            "milvus1": {"ansible_host": "10.0.2.12"},  # no ragops_address: falls back to ansible_host
            "pg1": {},  # neither: falls back to the inventory hostname
            "nfs1": {"ragops_address": "fd00::14"},
        },
        "children": {
            "api": members("api1"),
            "monitoring": members("api1"),
            "milvus": members("milvus1"),
            "postgres": members("pg1"),
            "storage": members("api1", "milvus1", "pg1"),
            "storage_server": members("nfs1"),
        },
    }
}

PHASE2_VARS = {
    "monitoring_alert_target_down_for": "3m",
    "monitoring_alert_storage_used_percent": 95,
    "monitoring_alert_api_error_ratio": 0.2,
    "monitoring_alert_api_p99_latency_seconds": 3.0,
    "monitoring_prometheus_retention_size": "50GB",
    "monitoring_nginx_enabled": True,
    "monitoring_grafana_enabled": True,
    "monitoring_alertmanager_receivers": [
        {"name": "ops", "webhook_configs": [{"url": "http://hooks.example.invalid/ragops", "send_resolved": True}]},
        {"name": "pager", "webhook_configs": [{"url": "http://pager.example.invalid/hook"}]},
    ],
    "monitoring_alertmanager_default_receiver": "ops",
    "monitoring_alertmanager_routes": [{"receiver": "pager", "matchers": ['severity="critical"']}],
    "monitoring_prometheus_extra_scrape_configs": [
        {"job_name": "blackbox", "static_configs": [{"targets": ["192.0.2.99:9115"], "labels": {"host": "probe"}}]},
    ],
}

# Metrics the platform exports, plus the standard ones (up, node exporter) dashboards and rules may use.
API_METRICS = {"ragops_api_requests_total", "ragops_api_request_duration_seconds_bucket"}
BACKUP_METRICS = {"ragops_backup_last_success_timestamp_seconds", "ragops_backup_last_run_success"}
OWN_METRICS = API_METRICS | BACKUP_METRICS
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
                "offset", "inf", "nan"}


@dataclass
class Run:
    out: Path
    output: str
    rc: int
    ok: int = 0
    changed: int = 0
    failed: int = 0

    def path(self, relative: str) -> Path:
        return self.out / relative


def tool(name: str) -> str:
    found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if not found:
        pytest.fail(f"{name} is required to validate the monitoring configuration and was not found; "
                    "install it with `apt-get install -y prometheus prometheus-alertmanager`")
    return found


def start(workdir: Path, inventory: dict, extra: dict, *flags: str) -> tuple[subprocess.Popen, Path]:
    """Write inventory, play and variables into ``workdir``, then start the play rendering into ``workdir/out``."""
    workdir.mkdir(parents=True)
    out = workdir / "out"
    (workdir / "inventory.yml").write_text(json.dumps(inventory))
    (workdir / "play.yml").write_text(PLAYBOOK)
    me, my_group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    extra_vars = {
        "ansible_connection": "local",
        "ansible_python_interpreter": PYTHON,
        "monitoring_manage_services": False,
        "monitoring_config_dir": str(out / "etc" / "prometheus"),
        "monitoring_default_dir": str(out / "etc" / "default"),
        "monitoring_grafana_provisioning_dir": str(out / "etc" / "grafana" / "provisioning"),
        "monitoring_grafana_dashboards_dir": str(out / "var" / "lib" / "grafana" / "dashboards" / "ragops"),
        "monitoring_promtool_path": tool("promtool"),
        "monitoring_amtool_path": tool("amtool"),
        "monitoring_config_owner": me,
        "monitoring_prometheus_group": my_group,
        "monitoring_grafana_group": my_group,
        **extra,
    }
    (workdir / "vars.json").write_text(json.dumps(extra_vars))
    if "--check" not in flags:
        (out / "etc" / "default").mkdir(parents=True)  # as on a real host
    return launch(workdir, *flags)


def launch(workdir: Path, *flags: str) -> tuple[subprocess.Popen, Path]:
    tmp = workdir / f"ansible-tmp-{len(list(workdir.glob('ansible-tmp-*')))}"
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_LOCAL_TEMP=str(tmp), ANSIBLE_REMOTE_TEMP=str(tmp),
               PATH=f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}")
    proc = subprocess.Popen(
        [str(ANSIBLE_PLAYBOOK), "-i", str(workdir / "inventory.yml"), str(workdir / "play.yml"),
         "-e", f"@{workdir / 'vars.json'}", *flags],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
    return proc, workdir / "out"


def finish(started: tuple[subprocess.Popen, Path]) -> Run:
    proc, out = started
    output = proc.communicate(timeout=120)[0]
    run = Run(out=out, output=output, rc=proc.returncode)
    recap = re.search(r"^\S+\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", output, re.M)
    assert recap, output
    run.ok, run.changed, unreachable, failed = map(int, recap.groups())
    run.failed = failed + unreachable
    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Run]:
    """Every ansible-playbook run the tests look at, started together (they take seconds each)."""
    base = tmp_path_factory.mktemp("monitoring")
    started = {
        "phase1": start(base / "phase1", PHASE1_INVENTORY, {}),
        "phase2": start(base / "phase2", PHASE2_INVENTORY, PHASE2_VARS),
        "check": start(base / "check", PHASE2_INVENTORY, PHASE2_VARS, "--check", "--diff"),
        "bad_spec": start(base / "bad_spec", PHASE1_INVENTORY, {"monitoring_groups": {"api": "web"}}),
        "bad_duration": start(base / "bad_duration", PHASE1_INVENTORY,
                              {"monitoring_alert_target_down_for": "two minutes"}),
    }
    try:
        runs = {"phase1": finish(started["phase1"])}
        started["phase1_again"] = launch(runs["phase1"].out.parent)  # overlaps with the runs still going
        runs.update((name, finish(proc)) for name, proc in started.items() if name != "phase1")
    finally:
        for entry in started.values():
            proc = entry[0]
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for name in ("phase1", "phase2"):
        assert runs[name].failed == 0 and runs[name].rc == 0, runs[name].output
    return runs


@pytest.fixture(params=["phase1", "phase2"])
def rendered(request, runs) -> Run:
    return runs[request.param]


def load_yaml(path: Path):
    return yaml.safe_load(path.read_text())


def targets_by_job(run: Run) -> dict[str, list[tuple[str, str]]]:
    config = load_yaml(run.path("etc/prometheus/prometheus.yml"))
    jobs = {}
    for job in config["scrape_configs"]:
        pairs = []
        for static in job["static_configs"]:
            assert set(static["labels"]) == {"host"}, job
            pairs += [(target, static["labels"]["host"]) for target in static["targets"]]
        jobs[job["job_name"]] = sorted(pairs)
    return jobs


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers that are not functions, keywords or label names."""
    expr = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    names = set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", expr))
    return {name for name in names if name.lower() not in PROMQL_WORDS}


def standard_metric(name: str) -> bool:
    return name in OWN_METRICS or name == "up" or name.startswith("node_")


# -- the runs ------------------------------------------------------------------------------------------------


def test_both_layouts_render_and_a_second_run_changes_nothing(runs):
    for name in ("phase1", "phase2"):
        assert runs[name].changed > 0, runs[name].output
    again = runs["phase1_again"]
    assert again.failed == 0 and again.changed == 0, again.output


def test_check_mode_on_a_fresh_host_reports_changes_and_writes_nothing(runs):
    check = runs["check"]
    assert check.failed == 0 and check.rc == 0, check.output
    assert check.changed > 0, check.output
    assert not check.out.exists(), sorted(check.out.rglob("*"))
    assert "hooks.example.invalid" not in check.output  # Alertmanager receivers stay out of --diff


def test_argument_spec_rejects_an_incomplete_group_mapping(runs):
    bad = runs["bad_spec"]
    assert bad.failed == 1, bad.output
    assert "monitoring_groups" in bad.output and "missing required arguments" in bad.output, bad.output
    assert not bad.out.joinpath("etc/prometheus").exists()


def test_promtool_rejects_a_bad_duration_before_the_file_is_written(runs):
    bad = runs["bad_duration"]
    assert bad.failed == 1, bad.output
    assert "Write the alert rules" in bad.output and "two minutes" in bad.output, bad.output
    assert not bad.out.joinpath("etc/prometheus/rules/ragops.yml").exists()


# -- the files, checked by the real tools --------------------------------------------------------------------


def test_promtool_and_amtool_accept_the_files(rendered):
    config_dir = rendered.path("etc/prometheus")
    outputs = []
    for argv in ([tool("promtool"), "check", "rules", str(config_dir / "rules" / "ragops.yml")],
                 [tool("promtool"), "check", "config", str(config_dir / "prometheus.yml")],
                 [tool("amtool"), "check-config", str(config_dir / "alertmanager.yml")]):
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        outputs.append(proc.stdout)
    assert "SUCCESS: 7 rules found" in outputs[1]  # prometheus.yml loads the rules file


def test_phase1_targets(runs):
    assert targets_by_job(runs["phase1"]) == {
        "prometheus": [("127.0.0.1:9090", "rag1")],
        "alertmanager": [("127.0.0.1:9093", "rag1")],
        "node": [("192.0.2.10:9100", "rag1")],
        "postgres": [("192.0.2.10:9187", "rag1")],
        "milvus": [("192.0.2.10:9091", "rag1")],
        "api": [(f"192.0.2.10:{port}", "rag1") for port in (8001, 8002)],
    }


def test_phase2_targets_one_node_target_per_distinct_host(runs):
    assert targets_by_job(runs["phase2"]) == {
        "prometheus": [("127.0.0.1:9090", "api1")],
        "alertmanager": [("127.0.0.1:9093", "api1")],
        "node": sorted([("10.0.2.11:9100", "api1"), ("10.0.2.12:9100", "milvus1"), ("pg1:9100", "pg1"),
                        ("[fd00::14]:9100", "nfs1")]),
        "postgres": [("pg1:9187", "pg1")],
        "milvus": [("10.0.2.12:9091", "milvus1")],
        "api": [("10.0.2.11:9001", "api1"), ("10.0.2.11:9002", "api1")],
        "nginx": [("10.0.2.11:9113", "api1")],
        "blackbox": [("192.0.2.99:9115", "probe")],
    }


def test_metrics_paths_alerting_and_rule_files(rendered):
    config = load_yaml(rendered.path("etc/prometheus/prometheus.yml"))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["milvus"]["metrics_path"] == "/metrics"
    assert jobs["api"]["metrics_path"] == "/metrics"
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["127.0.0.1:9093"]
    assert config["rule_files"] == [str(rendered.path("etc/prometheus/rules/*.yml"))]


def service_args(path: Path) -> list[str]:
    line = next(line for line in path.read_text().splitlines() if line.startswith("ARGS="))
    return shlex.split(shlex.split(line)[0].split("=", 1)[1])


def test_service_arguments(runs):
    phase1 = service_args(runs["phase1"].path("etc/default/prometheus"))
    assert "--storage.tsdb.path=/mnt/storage/rag-data/prometheus" in phase1
    assert "--storage.tsdb.retention.time=30d" in phase1
    assert "--web.listen-address=0.0.0.0:9090" in phase1
    assert f"--config.file={runs['phase1'].path('etc/prometheus/prometheus.yml')}" in phase1
    assert not any(arg.startswith("--storage.tsdb.retention.size") for arg in phase1)

    phase2 = service_args(runs["phase2"].path("etc/default/prometheus"))
    assert "--storage.tsdb.path=/srv/rag-data/prometheus" in phase2
    assert "--storage.tsdb.retention.size=50GB" in phase2

    alertmanager = service_args(runs["phase1"].path("etc/default/prometheus-alertmanager"))
    assert "--web.listen-address=127.0.0.1:9093" in alertmanager
    assert "--cluster.listen-address=" in alertmanager
    assert f"--config.file={runs['phase1'].path('etc/prometheus/alertmanager.yml')}" in alertmanager


def test_alertmanager_routes_to_the_configured_receivers(runs):
    default = load_yaml(runs["phase1"].path("etc/prometheus/alertmanager.yml"))
    assert default["route"]["receiver"] == "default"
    assert default["receivers"] == [{"name": "default"}]
    custom = load_yaml(runs["phase2"].path("etc/prometheus/alertmanager.yml"))
    assert custom["route"]["receiver"] == "ops"
    assert custom["route"]["routes"] == PHASE2_VARS["monitoring_alertmanager_routes"]
    assert custom["receivers"] == PHASE2_VARS["monitoring_alertmanager_receivers"]


# -- the alert rules -----------------------------------------------------------------------------------------


def rules(run: Run) -> dict[str, dict]:
    groups = load_yaml(run.path("etc/prometheus/rules/ragops.yml"))["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"]}


def test_rules_use_the_thresholds_and_only_known_metrics(runs):
    phase1, phase2 = rules(runs["phase1"]), rules(runs["phase2"])
    assert set(phase1) == {"TargetDown", "MilvusUnhealthy", "StorageAlmostFull", "ApiErrorRateHigh",
                           "ApiLatencyHigh", "BackupTooOld", "BackupFailed"}
    assert phase1["BackupTooOld"]["expr"].endswith("> 26 * 3600")
    assert phase1["TargetDown"]["expr"] == "up == 0" and phase1["TargetDown"]["for"] == "2m"
    assert phase2["TargetDown"]["for"] == "3m"
    assert phase1["MilvusUnhealthy"]["expr"] == 'up{job="milvus"} == 0' and phase1["MilvusUnhealthy"]["for"] == "1m"
    assert phase1["StorageAlmostFull"]["expr"].endswith("> 80")
    assert phase2["StorageAlmostFull"]["expr"].endswith("> 95")
    assert '"/|/mnt|/mnt/storage|/mnt/storage/rag\\\\-data"' in phase1["StorageAlmostFull"]["expr"]
    assert '"/|/srv|/srv/rag\\\\-data"' in phase2["StorageAlmostFull"]["expr"]
    assert phase1["ApiErrorRateHigh"]["expr"].endswith("> 0.05")
    assert phase2["ApiErrorRateHigh"]["expr"].endswith("> 0.2")
    assert phase1["ApiLatencyHigh"]["expr"].endswith("> 1.0")
    assert phase2["ApiLatencyHigh"]["expr"].endswith("> 3.0")
    for rule in [*phase1.values(), *phase2.values()]:
        assert all(standard_metric(name) for name in metric_names(rule["expr"])), rule["expr"]


def promtool_test(run: Run, tmp_path: Path, input_series: list[dict], alert_tests: list[dict]) -> None:
    test_file = tmp_path / "rules_test.yml"
    test_file.write_text(yaml.safe_dump({
        "rule_files": [str(run.path("etc/prometheus/rules/ragops.yml"))],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": input_series, "alert_rule_test": alert_tests}],
    }))
    proc = subprocess.run([tool("promtool"), "test", "rules", str(test_file)],
                          capture_output=True, text=True, check=False, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_target_down_names_job_and_host_after_its_for_duration(runs, tmp_path):
    series = [{"series": 'up{job="postgres",instance="pg1:9187",host="pg1"}', "values": "1 0 0 0 0 0"}]
    fired = [{"exp_labels": {"severity": "critical", "job": "postgres", "instance": "pg1:9187", "host": "pg1"},
              "exp_annotations": {"summary": "postgres on pg1 is down",
                                  "description": "Prometheus has not been able to scrape pg1:9187 "
                                                 "(job postgres, host pg1)."}}]
    promtool_test(runs["phase1"], tmp_path, series, [
        {"eval_time": "2m", "alertname": "TargetDown", "exp_alerts": []},
        {"eval_time": "3m", "alertname": "TargetDown", "exp_alerts": fired},
    ])
    promtool_test(runs["phase2"], tmp_path, series, [  # 3m in phase 2
        {"eval_time": "3m", "alertname": "TargetDown", "exp_alerts": []},
        {"eval_time": "4m", "alertname": "TargetDown", "exp_alerts": fired},
    ])


def test_milvus_unhealthy_fires_before_target_down(rendered, tmp_path):
    series = [{"series": 'up{job="milvus",instance="10.0.2.12:9091",host="milvus1"}', "values": "1 0 0 0"}]
    promtool_test(rendered, tmp_path, series, [
        {"eval_time": "2m", "alertname": "MilvusUnhealthy", "exp_alerts": [{
            "exp_labels": {"severity": "critical", "job": "milvus", "instance": "10.0.2.12:9091", "host": "milvus1"},
            "exp_annotations": {"summary": "Milvus on milvus1 is unhealthy",
                                "description": "The Milvus metrics endpoint 10.0.2.12:9091 on milvus1 "
                                               "does not answer."},
        }]},
        {"eval_time": "2m", "alertname": "TargetDown", "exp_alerts": []},
    ])


def filesystem(host: str, mountpoint: str, used_percent: int) -> list[dict]:
    labels = (f'job="node",instance="{host}:9100",host="{host}",device="/dev/sdb1",fstype="ext4",'
              f'mountpoint="{mountpoint}"')
    return [{"series": f"node_filesystem_size_bytes{{{labels}}}", "values": "100x10"},
            {"series": f"node_filesystem_avail_bytes{{{labels}}}", "values": f"{100 - used_percent}x10"}]


def storage_alert(host: str, mountpoint: str, used_percent: int, threshold: int, watched: str) -> dict:
    labels = {"severity": "warning", "job": "node", "instance": f"{host}:9100", "host": host,
              "device": "/dev/sdb1", "fstype": "ext4", "mountpoint": mountpoint}
    annotations = {"summary": f"{mountpoint} on {host} is {used_percent}% full",
                   "description": f"Filesystem usage above {threshold}% (watched mount points: {watched})."}
    return {"exp_labels": labels, "exp_annotations": annotations}


def test_storage_alert_watches_the_storage_mount_and_root(runs, tmp_path):
    # Phase 1: storage path /mnt/storage/rag-data, threshold 80%; /boot is full but not watched.
    watched = "/, /mnt, /mnt/storage, /mnt/storage/rag-data"
    promtool_test(runs["phase1"], tmp_path,
                  filesystem("rag1", "/mnt/storage", 90) + filesystem("rag1", "/", 85)
                  + filesystem("rag1", "/boot", 99) + filesystem("rag1", "/var", 50),
                  [{"eval_time": "6m", "alertname": "StorageAlmostFull",
                    "exp_alerts": [storage_alert("rag1", "/mnt/storage", 90, 80, watched),
                                   storage_alert("rag1", "/", 85, 80, watched)]}])
    # Phase 2: storage path /srv/rag-data, threshold 95%.
    promtool_test(runs["phase2"], tmp_path,
                  filesystem("nfs1", "/srv/rag-data", 97) + filesystem("nfs1", "/", 90)
                  + filesystem("nfs1", "/mnt/storage", 99),
                  [{"eval_time": "6m", "alertname": "StorageAlmostFull",
                    "exp_alerts": [storage_alert("nfs1", "/srv/rag-data", 97, 95, "/, /srv, /srv/rag-data")]}])


def api_traffic(errors_per_minute: int, slow: bool) -> list[dict]:
    """600 requests a minute on api1, ``errors_per_minute`` of them 5xx; all within 1-2.5s when ``slow``."""
    base = 'job="api",instance="10.0.2.11:9001",host="api1",route="/search",method="POST"'
    series = [
        {"series": f'ragops_api_requests_total{{{base},status="200"}}', "values": f"0+{600 - errors_per_minute}x20"},
        {"series": f'ragops_api_requests_total{{{base},status="503"}}', "values": f"0+{errors_per_minute}x20"},
    ]
    buckets = {"0.5": 0 if slow else 600, "1": 0 if slow else 600, "2.5": 600, "+Inf": 600}
    series += [{"series": f'ragops_api_request_duration_seconds_bucket{{{base},le="{le}"}}',
                "values": f"0+{count}x20"} for le, count in buckets.items()]
    return series


def test_api_error_rate_and_latency_alerts_follow_the_thresholds(runs, tmp_path):
    # 10% of requests fail, p99 is about 2.5s.
    traffic = api_traffic(errors_per_minute=60, slow=True)
    promtool_test(runs["phase1"], tmp_path, traffic, [  # thresholds 0.05 and 1s
        {"eval_time": "15m", "alertname": "ApiErrorRateHigh", "exp_alerts": [{
            "exp_labels": {"severity": "warning", "host": "api1"},
            "exp_annotations": {"summary": "API on api1 answers 10% of requests with 5xx",
                                "description": "Share of 5xx responses above 0.05 over 5m."}}]},
        {"eval_time": "15m", "alertname": "ApiLatencyHigh", "exp_alerts": [{
            "exp_labels": {"severity": "warning", "host": "api1"},
            "exp_annotations": {"summary": "API p99 latency on api1 is 2.485s",
                                "description": "p99 request latency above 1.0s over 5m."}}]},
    ])
    promtool_test(runs["phase2"], tmp_path, traffic, [  # thresholds 0.2 and 3s
        {"eval_time": "15m", "alertname": "ApiErrorRateHigh", "exp_alerts": []},
        {"eval_time": "15m", "alertname": "ApiLatencyHigh", "exp_alerts": []},
    ])
    promtool_test(runs["phase1"], tmp_path, api_traffic(errors_per_minute=6, slow=False), [  # 1%, fast
        {"eval_time": "15m", "alertname": "ApiErrorRateHigh", "exp_alerts": []},
        {"eval_time": "15m", "alertname": "ApiLatencyHigh", "exp_alerts": []},
    ])


# -- Grafana -------------------------------------------------------------------------------------------------


def test_grafana_is_provisioned_only_when_enabled(runs):
    assert not runs["phase1"].path("etc/grafana").exists()
    assert runs["phase2"].path("etc/grafana/provisioning/datasources/ragops.yml").is_file()


def test_grafana_datasource_and_dashboard_provider(runs):
    run = runs["phase2"]
    datasources = load_yaml(run.path("etc/grafana/provisioning/datasources/ragops.yml"))
    assert datasources["apiVersion"] == 1
    [source] = datasources["datasources"]
    assert source == {**source, "uid": "ragops-prometheus", "type": "prometheus", "url": "http://127.0.0.1:9090",
                      "access": "proxy"}
    providers = load_yaml(run.path("etc/grafana/provisioning/dashboards/ragops.yml"))
    [provider] = providers["providers"]
    assert provider["type"] == "file"
    assert Path(provider["options"]["path"]) == run.path("var/lib/grafana/dashboards/ragops")
    assert sorted(p.name for p in Path(provider["options"]["path"]).iterdir()) == ["ragops-overview.json"]


def test_grafana_dashboard_panels_use_the_datasource_and_known_metrics(runs, tmp_path):
    dashboard = json.loads(runs["phase2"].path("var/lib/grafana/dashboards/ragops/ragops-overview.json").read_text())
    assert dashboard["uid"] == "ragops-overview"
    titles = [panel["title"] for panel in dashboard["panels"]]
    assert titles == ["API requests per second", "API 5xx share", "API p99 latency", "Milvus up", "Node CPU usage",
                      "Node memory usage", "Node disk I/O busy", "Storage usage"]
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(titles)
    exprs = []
    for panel in dashboard["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "ragops-prometheus"}, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "ragops-prometheus", panel["title"]
            names = metric_names(target["expr"])
            assert names and all(standard_metric(name) for name in names), (panel["title"], names)
            exprs.append(target["expr"])
    assert {name for expr in exprs for name in metric_names(expr)} >= API_METRICS | {"up"}
    # promtool parses every expression, as recording rules.
    rules_file = tmp_path / "dashboard_rules.yml"
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:panel_{index}", "expr": expr} for index, expr in enumerate(exprs)]}]}))
    proc = subprocess.run([tool("promtool"), "check", "rules", str(rules_file)],
                          capture_output=True, text=True, check=False, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
