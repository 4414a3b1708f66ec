"""Tenant provisioning benchmark: 1,000 tenants on the real PostgreSQL and Milvus.

Prints, side by side in one run:
  (a) our modules, one task each with the whole list (ansible-playbook, startup included)
  (b) the floor: a plain Python script making the same calls with psycopg + pymilvus
  (c) the naive way: an Ansible loop with one item per tenant (measured on a sample, extrapolated)
  (d) the idempotent re-run of (a) with every tenant present
  (e) the same play with two modules that do nothing: ansible-playbook's own part of (d)

Each scenario gets its own Milvus collection and PostgreSQL schema, dropped at the end.
Usage: python tests/bench/bench_tenants.py [--tenants 1000] [--loop-sample 100]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "collections"))

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402
from pymilvus import MilvusClient  # noqa: E402

from ansible_collections.ragops.stack.plugins.module_utils.tenant import (  # noqa: E402
    milvus_partition_name,
    postgres_partition_name,
)
from tests.conftest import MILVUS_URI, PG, pg_dsn  # noqa: E402

PG_ARGS = """\
        login_host: "{{ pg.login_host }}"
        login_port: "{{ pg.login_port }}"
        login_user: "{{ pg.login_user }}"
        login_password: "{{ pg.login_password }}"
        db: "{{ pg.db }}"
        schema: "{{ schema }}"
"""

PLAY = """
- name: Provision tenants
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Milvus partitions
      ragops.stack.milvus_partition:
        uri: "{{ milvus_uri }}"
        collection: "{{ collection }}"
        tenants: "{{ tenants }}"
    - name: PostgreSQL partitions
      ragops.stack.postgres_partition:
{pg_args}        tenants: "{{ tenants }}"
""".replace("{pg_args}", PG_ARGS)

# The same play shape with two modules that do nothing: what ansible-playbook itself costs before (d)'s work.
FLOOR_PLAY = """
- name: Provision nothing
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: No-op one
      ansible.builtin.ping:
    - name: No-op two
      ansible.builtin.ping:
"""

LOOP_PLAY = """
- name: Provision tenants one by one
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Milvus partition
      ragops.stack.milvus_partition:
        uri: "{{ milvus_uri }}"
        collection: "{{ collection }}"
        tenants: ["{{ item }}"]
      loop: "{{ tenants }}"
    - name: PostgreSQL partition
      ragops.stack.postgres_partition:
{pg_args}        tenants: ["{{ item }}"]
      loop: "{{ tenants }}"
""".replace("{pg_args}", PG_ARGS)


def prepare(milvus: MilvusClient, conn: psycopg.Connection, tag: str) -> tuple[str, str]:
    """A fresh tenant collection and a fresh schema with the documents parent."""
    collection, schema = f"bench_{tag}", f"bench_{tag}"
    if milvus.has_collection(collection):
        milvus.drop_collection(collection)
    run_module_cli("milvus_collection", uri=MILVUS_URI, collection=collection, dim=8)
    conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    conn.execute(f"CREATE SCHEMA {schema}")
    conn.execute(
        f"CREATE TABLE {schema}.documents (bot_id uuid NOT NULL, id text NOT NULL, text text NOT NULL DEFAULT '',"
        " metadata jsonb NOT NULL DEFAULT '{}', PRIMARY KEY (bot_id, id)) PARTITION BY LIST (bot_id)"
    )
    return collection, schema


def run_module_cli(name: str, **args) -> dict:
    from tests.modrun import run_module

    result = run_module(name, **args)
    if result.get("failed"):
        raise SystemExit(f"{name} failed: {result['msg']}")
    return result


def playbook(text: str, variables: dict) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "play.yml").write_text(text)
        (Path(tmp) / "vars.json").write_text(json.dumps(variables))
        env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_LOCALHOST_WARNING="false",
                   ANSIBLE_INVENTORY_UNPARSED_WARNING="false", PATH=f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}")
        started = time.perf_counter()
        command = ["ansible-playbook", str(Path(tmp) / "play.yml"), "-e", "@" + str(Path(tmp) / "vars.json")]
        proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
        elapsed = time.perf_counter() - started
    if proc.returncode:
        raise SystemExit(f"playbook failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return elapsed


def plain_script(milvus: MilvusClient, conn: psycopg.Connection, collection: str, schema: str,
                 tenants: list[str]) -> float:
    """The same calls the modules make, without Ansible: the floor."""
    parent = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier("documents"))
    started = time.perf_counter()
    existing = set(milvus.list_partitions(collection))
    for tenant in tenants:
        name = milvus_partition_name(tenant)
        if name not in existing:
            milvus.create_partition(collection, name)
    for tenant in tenants:
        table = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(postgres_partition_name(tenant)))
        with conn.transaction():
            conn.execute("SET LOCAL lock_timeout = '2s'")
            conn.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(table, parent))
            conn.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT ragops_tenant_bound CHECK (bot_id IS NOT NULL AND"
                                 " bot_id = {})").format(table, sql.Literal(tenant)))
            conn.execute(sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES IN ({})").format(
                parent, table, sql.Literal(tenant)))
            conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT ragops_tenant_bound").format(table))
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--loop-sample", type=int, default=100)
    args = parser.parse_args()
    tenants = [str(uuid.uuid4()) for _tenant in range(args.tenants)]
    milvus = MilvusClient(uri=MILVUS_URI, timeout=120)
    conn = psycopg.connect(pg_dsn(), autocommit=True)
    common = {"milvus_uri": MILVUS_URI, "pg": PG}
    made = []
    rows = []
    try:
        collection, schema = prepare(milvus, conn, "modules")
        made.append((collection, schema))
        variables = dict(common, collection=collection, schema=schema, tenants=tenants)
        modules = playbook(PLAY, variables)

        collection, schema = prepare(milvus, conn, "plain")
        made.append((collection, schema))
        floor = plain_script(milvus, conn, collection, schema, tenants)

        collection, schema = prepare(milvus, conn, "loop")
        made.append((collection, schema))
        sample = tenants[: args.loop_sample]
        loop_sample = playbook(LOOP_PLAY, dict(common, collection=collection, schema=schema, tenants=sample))
        loop = loop_sample * args.tenants / len(sample)

        # Re-runs last, once the servers have settled (Milvus loads new partitions in the background).
        reruns = sorted(playbook(PLAY, variables) for _run in range(3))
        rerun = reruns[1]
        noops = sorted(playbook(FLOOR_PLAY, {}) for _run in range(3))

        rows = [
            ("(a) modules, one task per server with the list", modules, "measured"),
            ("(b) plain psycopg + pymilvus script (floor)", floor, "measured"),
            ("(c) Ansible loop, one item per tenant", loop,
             f"{len(sample)} measured ({loop_sample:.1f} s), x{args.tenants / len(sample):g}"),
            ("(d) idempotent re-run of (a), all present", rerun,
             "median of 3: " + ", ".join(f"{r:.2f}" for r in reruns)),
            ("(e) the same play with two no-op modules (ping)", noops[1],
             "median of 3: " + ", ".join(f"{r:.2f}" for r in noops) + "; Ansible's own share of (d)"),
        ]
    finally:
        for collection, schema in made:
            milvus.drop_collection(collection)
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        milvus.close()
        conn.close()

    print(f"\n{args.tenants} tenants, each one Milvus partition + one PostgreSQL partition")
    print(f"{'scenario':<50} {'seconds':>9} {'ms/tenant':>10}  note")
    for label, seconds, note in rows:
        print(f"{label:<50} {seconds:>9.2f} {1000 * seconds / args.tenants:>10.2f}  {note}")
    print(f"\n(a)/(b) = {modules / floor:.2f}x   (goal <= 1.5x)")
    print(f"(c)/(a) = {loop / modules:.1f}x   (goal >= 20x)")
    print(f"(d)     = {rerun:.2f} s   (goal <= 2 s), of which {noops[1]:.2f} s is ansible-playbook itself (e)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
