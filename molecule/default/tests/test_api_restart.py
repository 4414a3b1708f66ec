"""The api role's restart handler on the converged phase-1 host: every instance restarts, one at a time, each
ready again before the next, while searches through Nginx go on without one failure."""

from __future__ import annotations

import base64
import json

from ragops_testkit.lab import LAB_API_KEY, vector
from ragops_testkit.verify import HOST, api, run_playbook

BOT = "16fd2706-8baf-433b-82eb-8c7fada847da"
DIM = 128
PROBE = "/tmp/rolling-restart-probe"

RESTART = """
- name: Run the api role's restart handler
  hosts: {host}
  become: true
  gather_facts: false
  tasks:
    - name: Restart the API instances as the handler does
      ansible.builtin.include_role:
        name: ragops.stack.api
        tasks_from: restart
"""


def started_at(host, unit: str) -> int:
    return int(host.check_output("systemctl show -p ActiveEnterTimestampMonotonic --value %s", unit))


def test_the_handler_restarts_one_instance_at_a_time_and_no_search_fails(host, tmp_path):
    status, body = api(host, "PUT", f"/v1/bots/{BOT}/documents",
                       {"documents": [{"id": "rolling", "text": "restart probe", "embedding": vector(5, DIM)}]})
    assert status == 200, body
    units = host.check_output("systemctl list-units --plain --no-legend 'ragops-api@*' | awk '{print $1}'").split()
    assert len(units) >= 2, units
    before = {unit: started_at(host, unit) for unit in units}

    request = base64.b64encode(json.dumps({"embedding": vector(5, DIM), "top_k": 1}).encode()).decode()
    host.run_test("echo %s | base64 -d > %s.json && touch %s.on && : > %s.log", request, PROBE, PROBE, PROBE)
    # A search every 20 ms from the host itself, through Nginx, until the flag file goes.
    host.run_test(
        "nohup sh -c 'while [ -f {p}.on ]; do curl -sk -o /dev/null -w \"%{{http_code}}\\n\" -H \"X-API-Key: {key}\""
        " -H \"Content-Type: application/json\" --data-binary @{p}.json https://127.0.0.1/v1/bots/{bot}/search"
        " >> {p}.log; sleep 0.02; done' >/dev/null 2>&1 &".format(p=PROBE, key=LAB_API_KEY, bot=BOT))
    try:
        playbook = tmp_path / "restart.yml"
        playbook.write_text(RESTART.format(host=HOST))
        output, (_changed, unreachable, failed) = run_playbook(playbook)
        assert (unreachable, failed) == ("0", "0"), output[-3000:]
    finally:
        host.run_test("rm -f %s.on && sleep 1", PROBE)
    answers = host.check_output("cat %s.log", PROBE).split()

    after = {unit: started_at(host, unit) for unit in units}
    assert all(after[unit] > before[unit] for unit in units), (before, after)
    # One at a time: each instance came up after the one before it was ready again.
    ordered = sorted(units, key=lambda unit: int(unit.split("@")[1].split(".")[0]))
    assert [after[unit] for unit in ordered] == sorted(after.values()), after
    assert len(answers) >= 20, answers
    assert set(answers) == {"200"}, {code: answers.count(code) for code in set(answers)}
