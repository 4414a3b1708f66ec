# -*- coding: utf-8 -*-
# Copyright: ragops.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tenant naming rule of ragops.stack.

A bot is identified by a UUID. The same UUID always maps to the same two
names: the Milvus partition ``bot_<32 hex>`` and the PostgreSQL partition
``<table>_<32 hex>``. This file is the only implementation of that rule; the
modules, the filter plugin, the roles (through the filter), the API and the
tests all call it. It is plain Python on purpose: no Ansible import, so that
the API service can load it as well.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

MILVUS_PARTITION_PREFIX = "bot_"
MILVUS_NAME_MAX = 255
POSTGRES_IDENTIFIER_MAX = 63  # NAMEDATALEN - 1, in bytes

_UUID_FORMS = re.compile(
    r"^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|[0-9a-fA-F]{32})$"
)
_MILVUS_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_POSTGRES_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


class TenantError(ValueError):
    """A tenant id or a name derived from it breaks a rule."""


def tenant_hex(bot_id):
    """Return the 32 lowercase hex digits of a bot UUID.

    Accepts the canonical 8-4-4-4-12 form or the 32 hex digits, in any case.
    """
    if not isinstance(bot_id, str) or not _UUID_FORMS.match(bot_id):
        raise TenantError(
            "tenant %r is not a UUID (rule: 8-4-4-4-12 or 32 hex digits)" % (bot_id,)
        )
    return bot_id.replace("-", "").lower()


def tenant_uuid(bot_id):
    """Return the canonical lowercase 8-4-4-4-12 form of a bot UUID."""
    h = tenant_hex(bot_id)
    return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


def check_milvus_name(name, what="partition"):
    """Raise TenantError unless Milvus accepts ``name`` for a collection or partition."""
    if not isinstance(name, str) or not name:
        raise TenantError("Milvus %s name %r is empty" % (what, name))
    if len(name) > MILVUS_NAME_MAX:
        raise TenantError(
            "Milvus %s name %r is %d characters long (rule: at most %d)"
            % (what, name, len(name), MILVUS_NAME_MAX)
        )
    if not _MILVUS_NAME.match(name):
        raise TenantError(
            "Milvus %s name %r is invalid (rule: a letter or _ first, then letters, digits"
            " and _ only; Milvus rejects '-')" % (what, name)
        )
    return name


def check_postgres_name(name, what="table"):
    """Raise TenantError unless ``name`` is a plain PostgreSQL identifier of at most 63 bytes."""
    if not isinstance(name, str) or not _POSTGRES_NAME.match(name):
        raise TenantError(
            "PostgreSQL %s name %r is invalid (rule: lowercase letters, digits and _,"
            " not starting with a digit)" % (what, name)
        )
    size = len(name.encode("utf-8"))
    if size > POSTGRES_IDENTIFIER_MAX:
        raise TenantError(
            "PostgreSQL %s name %r is %d bytes long (rule: at most %d bytes,"
            " longer names are silently truncated by the server)"
            % (what, name, size, POSTGRES_IDENTIFIER_MAX)
        )
    return name


def milvus_partition_name(bot_id):
    """The Milvus partition of a bot: ``bot_<32 hex>``."""
    return check_milvus_name(MILVUS_PARTITION_PREFIX + tenant_hex(bot_id))


def postgres_partition_name(bot_id, table="documents"):
    """The PostgreSQL partition of a bot: ``<table>_<32 hex>``."""
    check_postgres_name(table, "parent table")
    return check_postgres_name("%s_%s" % (table, tenant_hex(bot_id)), "partition")


def tenant_from_partition(name, prefix):
    """Return the canonical UUID encoded in a partition name, or None if it follows no rule."""
    if not isinstance(name, str) or not name.startswith(prefix):
        return None
    rest = name[len(prefix):]
    if len(rest) != 32 or not re.match(r"^[0-9a-f]{32}$", rest):
        return None
    return tenant_uuid(rest)


def validate_tenants(tenants):
    """Check a whole batch of bot ids at once.

    Returns the canonical UUIDs in input order. Raises TenantError listing
    every problem in the batch (not only the first): entries that are not
    UUIDs and entries that repeat another one, whatever their spelling.
    """
    problems = []
    canonical = []
    seen = {}
    for index, bot_id in enumerate(tenants or []):
        try:
            value = tenant_uuid(bot_id)
        except TenantError as exc:
            problems.append("tenants[%d]: %s" % (index, exc))
            continue
        if value in seen:
            problems.append(
                "tenants[%d]: %r repeats tenants[%d] (rule: each tenant once)"
                % (index, bot_id, seen[value])
            )
            continue
        seen[value] = index
        canonical.append(value)
    if problems:
        raise TenantError("; ".join(problems))
    return canonical


def validate_names(names, what="partition"):
    """Check a batch of raw Milvus names; raise TenantError listing every problem."""
    problems = []
    seen = {}
    for index, name in enumerate(names or []):
        try:
            check_milvus_name(name, what)
        except TenantError as exc:
            problems.append("names[%d]: %s" % (index, exc))
            continue
        if name in seen:
            problems.append("names[%d]: %r repeats names[%d] (rule: each name once)" % (index, name, seen[name]))
            continue
        seen[name] = index
    if problems:
        raise TenantError("; ".join(problems))
    return list(names or [])
