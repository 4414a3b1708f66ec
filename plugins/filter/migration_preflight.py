# -*- coding: utf-8 -*-
# Copyright: ragops.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The checks a migration runs before anything changes: what it read, and the rules that must hold."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.compat.version import LooseVersion
from ansible.module_utils.six import string_types

from ansible_collections.ragops.stack.plugins.filter.storage import owner_record

# The groups of rules of migration_problems, in the order the preflight asserts them.
CHECKS = ("source", "tenants", "postgres_target", "postgres_rehome", "milvus_target", "milvus_rehome",
          "milvus_copy", "api_hosts")

# What migration_problems needs besides the facts of migration_check.
RULE_SETTINGS = ("host", "nodename", "postgres_target", "milvus_target", "postgres_method", "milvus_method",
                 "space_margin", "tenants", "collection", "write_freeze_file", "target_postgres_data_dir",
                 "milvus_data_dir", "milvus_owner_record", "api_unit_file")


def _dict(value):
    return value if isinstance(value, dict) else {}


def _required(check, name, read_by):
    """The facts of one method's checks; their absence is a defect of the play, not of the move."""
    facts = check.get(name)
    if not isinstance(facts, dict):
        raise AnsibleFilterError("migration_problems: %s facts are missing (%s not read)" % (name, read_by))
    return facts


def _decoded(read):
    """The text of a slurp result, or '' when the file was not read."""
    content = _dict(read).get("content")
    if not content:
        return ""
    try:
        return to_text(base64.b64decode(content), errors="surrogate_or_strict")
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError("%s: the content read is not base64 (%s)"
                                 % (_dict(read).get("source", "?"), exc)) from exc


def _int(value, default=0):
    """As Jinja's int filter: a number, or ``default`` for anything that is not one."""
    try:
        return int(to_text(value).strip())
    except (TypeError, ValueError):
        try:
            return int(float(to_text(value).strip()))
        except (TypeError, ValueError):
            return default


def _last_line_int(command):
    lines = _dict(command).get("stdout_lines") or ["", "0"]
    return _int(lines[-1])


def _listing(items):
    return ", ".join(sorted(items)) if items else "none"


def migration_state(read):
    """The migration state a slurp of the state file holds: a dict, or {} when there is no file."""
    text = _decoded(read)
    if not text.strip():
        return {}
    try:
        state = json.loads(text)
    except ValueError as exc:
        raise AnsibleFilterError("migration_state: %s does not hold JSON (%s)"
                                 % (_dict(read).get("source", "?"), exc)) from exc
    if not isinstance(state, dict):
        raise AnsibleFilterError("migration_state: %s holds %s, not a JSON object"
                                 % (_dict(read).get("source", "?"), type(state).__name__))
    return state


def _existing_tenants(info, name):
    tenants = _dict(info).get("tenants")
    if not isinstance(tenants, dict):
        raise AnsibleFilterError("migration_check: %s is not an info module result with 'tenants'" % name)
    return sorted(tenant for tenant, found in tenants.items() if _dict(found).get("exists"))


def migration_check(reads):
    """What the preflight compares, from the results the preflight's tasks registered.

    ``reads`` maps names to registered results; see migration_check.yml.
    """
    if not isinstance(reads, dict):
        raise AnsibleFilterError("migration_check: expected a dict of registered results, got %s"
                                 % type(reads).__name__)
    for name in ("source_pg_server", "source_pg_tenants", "source_milvus"):
        if not isinstance(reads.get(name), dict):
            raise AnsibleFilterError("migration_check: %s is missing (a result registered from the source)" % name)
    source_rows = reads["source_pg_server"].get("query_result") or []
    if not source_rows:
        raise AnsibleFilterError("migration_check: source_pg_server holds no query result")
    target_server = _dict(reads.get("target_pg_server"))
    milvus = reads["source_milvus"]
    target_unit = _dict(_dict(reads.get("target_milvus_unit")).get("status"))

    check = dict(
        source_pg=source_rows[0],
        target_pg=(target_server.get("query_result") or [{}])[0],
        target_pg_error=to_text(target_server.get("msg", "")) if target_server.get("failed") else "",
        target_states=dict((read.get("item"), migration_state(read))
                           for read in _dict(reads.get("target_states")).get("results", [])
                           if _dict(read).get("content")),
        pg_tenants=_existing_tenants(reads["source_pg_tenants"], "source_pg_tenants"),
        milvus_tenants=_existing_tenants(milvus, "source_milvus"),
        target_pg_rows=sum(_int(_dict(found).get("rows"))
                           for found in _dict(_dict(reads.get("target_pg_tenants")).get("tenants")).values()),
        milvus_collection=dict(exists=bool(_dict(milvus.get("collection")).get("exists")),
                               loaded=bool(_dict(milvus.get("collection")).get("loaded"))),
        milvus_source_version=re.sub(r"-.*$", "", re.sub(r"^v", "", to_text(milvus.get("server_version") or ""))),
        milvus_target_version=_decoded(reads.get("target_milvus_version")).strip(),
        milvus_target_state=to_text(target_unit.get("ActiveState") or "unknown"),
        write_freeze_switch=bool(_dict(_dict(reads.get("write_freeze_switch")).get("stat")).get("exists")),
        owner_seen=[_decoded(read).strip() for read in _dict(reads.get("milvus_owner")).get("results", [])],
        pg_free=_last_line_int(reads.get("target_pg_free")),
        unitless_api_hosts=[read.get("item") for read in _dict(reads.get("api_units")).get("results", [])
                            if not _dict(read.get("stat")).get("exists")],
        postgres_rehome=None,
        milvus_copy=None,
    )

    # Read only when re-homing; a skipped loop registers its items without a stat.
    paths = _dict(reads.get("rehome_paths")).get("results")
    if paths and "stat" in _dict(paths[0]):
        source_dir, target_parent = _dict(_dict(paths[0]).get("stat")), _dict(_dict(paths[-1]).get("stat"))
        check["postgres_rehome"] = dict(
            source_dir=to_text(_dict(paths[0]).get("item", "")),
            exists=bool(source_dir.get("exists")),
            isdir=bool(source_dir.get("isdir")),
            owner=source_dir.get("pw_name", ""),
            same_filesystem=source_dir.get("dev", -1) == target_parent.get("dev", -2),
            owner_seen=[_decoded(read).strip() for read in _dict(reads.get("pg_owner")).get("results", [])],
        )
    size = _dict(reads.get("source_milvus_size"))
    if "stdout" in size:
        check["milvus_copy"] = dict(source_bytes=_int((to_text(size["stdout"]).split() or ["0"])[0]),
                                    target_free=_last_line_int(reads.get("target_milvus_free")))
    return check


def _source_problems(check, rules):
    host, pg = rules["host"], _dict(check.get("source_pg"))
    problems = []
    if pg.get("in_recovery"):
        problems.append("%s (source): PostgreSQL is in recovery (pg_is_in_recovery() must be false: the source "
                        "must be a primary)." % host)
    if rules["postgres_method"] == "stream":
        if pg.get("wal_level") not in ("replica", "logical"):
            problems.append("%s (source): wal_level is %s (must be replica or logical to stream; "
                            "migrate_postgres_method=rehome needs no replication)." % (host, pg.get("wal_level")))
        if _int(pg.get("max_wal_senders")) <= 0:
            problems.append("%s (source): max_wal_senders is %s (must be > 0 to stream)."
                            % (host, pg.get("max_wal_senders")))
    collection = _dict(check.get("milvus_collection"))
    if not collection.get("exists"):
        problems.append("%s (source): Milvus collection %s does not exist (it must exist and be loaded)."
                        % (host, rules["collection"]))
    elif not collection.get("loaded"):
        problems.append("%s (source): Milvus collection %s is not loaded (it must be loaded)."
                        % (host, rules["collection"]))
    if not check.get("write_freeze_switch"):
        problems.append("%s (source): the write freeze switch %s is absent (re-run site.yml with the phase-1 "
                        "inventory to install it)." % (host, rules["write_freeze_file"]))
    return problems


def _tenant_problems(check, rules):
    postgres, milvus = set(check.get("pg_tenants") or []), set(check.get("milvus_tenants") or [])
    inventory = list(rules["tenants"] or [])
    if sorted(check.get("pg_tenants") or []) == sorted(check.get("milvus_tenants") or []) == sorted(inventory):
        return []
    twice = sorted(set(tenant for tenant in inventory if inventory.count(tenant) > 1))
    return ["%s: the tenant lists differ (rule: the source's PostgreSQL partitions, its Milvus partitions and "
            "ragops_tenants of this inventory must name the same bots). Only in PostgreSQL: %s; only in Milvus: "
            "%s; on the source but not in ragops_tenants: %s; in ragops_tenants but not on the source: %s%s."
            % (rules["host"], _listing(postgres - milvus), _listing(milvus - postgres),
               _listing((postgres | milvus) - set(inventory)), _listing(set(inventory) - postgres),
               ("; more than once in ragops_tenants: %s" % _listing(twice)) if twice else "")]


def _postgres_target_problems(check, rules):
    target, source, found = rules["postgres_target"], _dict(check.get("source_pg")), _dict(check.get("target_pg"))
    if check.get("target_pg_error"):
        return ["%s (PostgreSQL target): it does not answer (%s); converge it with site.yml first."
                % (target, check["target_pg_error"])]
    problems = []
    source_major, target_major = _int(source.get("version")) // 10000, _int(found.get("version")) // 10000
    if source_major != target_major:
        problems.append("%s (PostgreSQL target): major version %s against the source's %s (the target must run the "
                        "source's major version)." % (target, target_major, source_major))
    if found.get("data_directory") == source.get("data_directory"):
        problems.append("%s (PostgreSQL target): its data directory %s is the source's (it must have its own)."
                        % (target, found.get("data_directory")))
    rows = _int(check.get("target_pg_rows"))
    filled_from = _dict(_dict(check.get("target_states")).get(target)).get("source", "")
    if rows != 0 and filled_from != rules["host"]:
        problems.append("%s (PostgreSQL target): %s tenant rows already there (must be 0 unless an earlier attempt "
                        "from %s left them; its migration state names %s)."
                        % (target, rows, rules["host"], ("source " + filled_from) if filled_from else "no source"))
    if rules["postgres_method"] == "stream":
        needed = _int(source.get("bytes")) * float(rules["space_margin"])
        if _int(check.get("pg_free")) < needed:
            problems.append("%s (PostgreSQL target): %s bytes free for %s bytes of data times migrate_space_margin %s "
                            "(a streaming copy needs them)."
                            % (target, check.get("pg_free"), source.get("bytes"), rules["space_margin"]))
    return problems


def _owner_problems(seen, record, host, nodename, target):
    seen = list(seen or []) + ["", ""]
    problems = []
    if seen[0] != nodename:
        problems.append("%s names '%s' seen from %s (must be %s)." % (record, seen[0], host, nodename))
    if seen[1] != seen[0]:
        problems.append("%s names '%s' seen from %s and '%s' seen from %s (must be the same file)."
                        % (record, seen[0], host, seen[1], target))
    return problems


def _postgres_rehome_problems(check, rules):
    if rules["postgres_method"] != "rehome":
        return []
    target, rehome = rules["postgres_target"], _required(check, "postgres_rehome", "rehome_paths")
    directory = rehome["source_dir"]
    problems = []
    if not rehome.get("isdir"):
        problems.append("the source's PostgreSQL directory %s is %s seen from %s (must be a directory on the shared "
                        "storage)." % (directory, "not a directory" if rehome.get("exists") else "absent", target))
    elif rehome.get("owner") != "postgres":
        problems.append("%s is owned by %s seen from %s (must be its postgres user)."
                        % (directory, rehome.get("owner"), target))
    if not rehome.get("same_filesystem"):
        problems.append("%s is not on the filesystem of the target's %s (it must be: the move is one rename)."
                        % (directory, rules["target_postgres_data_dir"]))
    problems += _owner_problems(rehome.get("owner_seen"), owner_record(directory), rules["host"],
                                rules["nodename"], target)
    rows = _int(check.get("target_pg_rows"))
    if rows != 0:
        problems.append("the target's own cluster holds %s tenant rows (must be 0: it is set aside, then removed)."
                        % rows)
    if not problems:
        return []
    return ["%s (PostgreSQL target): re-homing needs the source's PostgreSQL directory on the shared storage; %s "
            "For storage that is not shared, set migrate_postgres_method=stream." % (target, " ".join(problems))]


def _milvus_target_problems(check, rules):
    target = rules["milvus_target"]
    found, source = to_text(check.get("milvus_target_version") or ""), to_text(check.get("milvus_source_version"))
    if found:
        try:
            if LooseVersion(found) >= LooseVersion(source):
                return []
        except TypeError as exc:
            raise AnsibleFilterError("migration_problems: cannot compare Milvus versions '%s' (target) and '%s' "
                                     "(source): %s" % (found, source, exc)) from exc
    return ["%s (Milvus target): installed version '%s' must be %s (the source's) or newer; converge it with "
            "site.yml first." % (target, found, source)]


def _milvus_rehome_problems(check, rules):
    if rules["milvus_method"] != "rehome":
        return []
    target = rules["milvus_target"]
    problems = _owner_problems(check.get("owner_seen"), rules["milvus_owner_record"], rules["host"],
                               rules["nodename"], target)
    if check.get("milvus_target_state") == "active":
        problems.append("Milvus on the target is active (must not run).")
    if not problems:
        return []
    return ["%s (Milvus target): re-homing needs the source's Milvus data on the shared storage at the same path "
            "(%s); %s For storage that is not shared, set migrate_milvus_method=copy."
            % (target, rules["milvus_data_dir"], " ".join(problems))]


def _milvus_copy_problems(check, rules):
    if rules["milvus_method"] != "copy":
        return []
    target, copy = rules["milvus_target"], _required(check, "milvus_copy", "source_milvus_size")
    problems = []
    if check.get("milvus_target_state") != "active":
        problems.append("%s (Milvus target): a copy needs Milvus running on the target (it is %s)."
                        % (target, check.get("milvus_target_state")))
    if copy["target_free"] < copy["source_bytes"] * float(rules["space_margin"]):
        problems.append("%s (Milvus target): a copy needs %s bytes times migrate_space_margin %s free (found %s)."
                        % (target, copy["source_bytes"], rules["space_margin"], copy["target_free"]))
    return problems


def _api_problems(check, rules):
    hosts = check.get("unitless_api_hosts") or []
    if not hosts:
        return []
    return ["API hosts without %s: %s; converge them with site.yml first." % (rules["api_unit_file"], _listing(hosts))]


_RULES = dict(source=_source_problems, tenants=_tenant_problems, postgres_target=_postgres_target_problems,
              postgres_rehome=_postgres_rehome_problems, milvus_target=_milvus_target_problems,
              milvus_rehome=_milvus_rehome_problems, milvus_copy=_milvus_copy_problems, api_hosts=_api_problems)


def migration_problems(check, rules):
    """Every rule of a move that the facts of migration_check break, per group: {group: [sentences]}."""
    if not isinstance(check, dict):
        raise AnsibleFilterError("migration_problems: expected the result of migration_check, got %s"
                                 % type(check).__name__)
    if not isinstance(rules, dict):
        raise AnsibleFilterError("migration_problems: expected a dict of settings, got %s" % type(rules).__name__)
    missing = [name for name in RULE_SETTINGS if name not in rules]
    if missing:
        raise AnsibleFilterError("migration_problems: settings missing: %s" % ", ".join(missing))
    if not isinstance(rules["tenants"], list) or not all(isinstance(t, string_types) for t in rules["tenants"]):
        raise AnsibleFilterError("migration_problems: tenants must be a list of tenant ids, got %r"
                                 % (rules["tenants"],))
    return dict((name, _RULES[name](check, rules)) for name in CHECKS)


class FilterModule(object):
    def filters(self):
        return {
            "migration_state": migration_state,
            "migration_check": migration_check,
            "migration_problems": migration_problems,
        }
