"""ragops.stack.k8s_apply is internal to the k8s_* roles: on its own, or included from a play, it refuses to run."""

from __future__ import annotations

import pytest
import yaml

from tests.k8s.conftest import run_playbook

MESSAGE = "ragops.stack.k8s_apply is internal to the k8s_* roles"


def include(entry_point: str, **params) -> dict:
    return {"tasks": [{"name": f"Include its {entry_point} entry point from a play",
                       "ansible.builtin.include_role": {"name": "ragops.stack.k8s_apply", "tasks_from": entry_point},
                       "vars": {"k8s_apply_kubeconfig": "/nonexistent", **params}}]}


@pytest.mark.parametrize("how", ["role", "manifests", "charts"])
def test_the_internal_role_refuses_to_run_outside_a_k8s_role(how, tmp_path):
    render = str(tmp_path / "render")
    section = {
        "role": {"roles": ["ragops.stack.k8s_apply"]},
        "manifests": include("manifests", k8s_apply_render_dir=render),
        "charts": include("charts", k8s_apply_render_dir=render, k8s_apply_chart_repositories={},
                          k8s_apply_helm_timeout="1m"),
    }[how]
    playbook = tmp_path / "direct.yml"
    playbook.write_text(yaml.safe_dump([{"name": "Use k8s_apply directly", "hosts": "k8s_controller",
                                         "gather_facts": False, **section}], sort_keys=False))
    proc = run_playbook(tmp_path, {}, playbook)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert MESSAGE in " ".join(output.split()), output
    assert not (tmp_path / "render").exists()
