"""Write .lab/env, load a small demo data set into the lab through Nginx and run one search.

The bots, the dimension and the API key come from the lab inventory
(ansible-inventory). Each bot gets DOCS documents with deterministic
embeddings; the search uses one document's own vector, so it must come back
first.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

from ragops_testkit.lab import call, vector

DOCS = 20
ROOT = Path(__file__).resolve().parents[1]
LAB_HOST = os.environ.get("RAGOPS_LAB_HOST", "ragops-lab")


def lab_settings() -> dict:
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-inventory"), "-i", str(ROOT / "inventories" / "lab"),
                           # playbooks/ as the base: the top-level group_vars/ is not an inventory's
                           "--playbook-dir", str(ROOT / "playbooks"), "--host", LAB_HOST],
                          capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(proc.stdout)


def write_env(settings: dict) -> None:
    values = {"RAGOPS_API_URL": "https://127.0.0.1:8443", "RAGOPS_API_KEY": settings["ragops_api_keys"][0],
              "RAGOPS_PROMETHEUS_URL": "http://127.0.0.1:9090"}
    (ROOT / ".lab").mkdir(exist_ok=True)
    env_file = ROOT / ".lab" / "env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    env_file.chmod(0o600)
    os.environ.update(values)


def api(method: str, path: str, body: dict | None = None) -> dict:
    """A request to the lab's API (.lab/env); an HTTP error stops the demo."""
    return call(method, os.environ["RAGOPS_API_URL"].rstrip("/") + path, body, key=os.environ["RAGOPS_API_KEY"],
                timeout=30, cafile=os.environ.get("RAGOPS_CA_FILE"), check=True).json()


def main() -> int:
    settings = lab_settings()
    write_env(settings)
    bots = settings["ragops_tenants"]
    dim = int(settings["ragops_dim"])
    probe = None
    for bot in bots:
        rng = random.Random(bot["id"])  # noqa: S311 - reproducible demo vectors, not secrets
        documents = [{"id": f"{bot['name']}-{i:03d}", "text": f"{bot['name']} handbook, section {i}",
                      "metadata": {"section": i, "bot": bot["name"]}, "embedding": vector(rng, dim)}
                     for i in range(DOCS)]
        api("PUT", f"/v1/bots/{bot['id']}/documents", {"documents": documents})
        probe = probe or (bot, documents[7])
    bot, document = probe
    # Searches are Bounded-consistent: fresh writes become visible within a few seconds.
    deadline = time.monotonic() + 30
    while True:
        results = api("POST", f"/v1/bots/{bot['id']}/search",
                      {"embedding": document["embedding"], "top_k": 3})["results"]
        if (results and results[0]["id"] == document["id"]) or time.monotonic() > deadline:
            break
        time.sleep(1)
    print(f"demo: {DOCS} documents for each of {len(bots)} bots; search in {bot['name']} returned "
          + ", ".join(f"{r['id']} ({r['score']:.3f})" for r in results))
    if not results or results[0]["id"] != document["id"]:
        print(f"demo search did not return {document['id']} first", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
