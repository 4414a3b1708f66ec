"""The tenant naming rule and batch validation (plugins/module_utils/tenant.py)."""

import pytest

from ansible_collections.ragops.stack.plugins.module_utils import tenant as rule

BOT = "550e8400-e29b-41d4-a716-446655440000"
HEX = "550e8400e29b41d4a716446655440000"


@pytest.mark.parametrize("spelling", [BOT, BOT.upper(), HEX, HEX.upper()])
def test_every_spelling_maps_to_the_same_names(spelling):
    assert rule.tenant_hex(spelling) == HEX
    assert rule.tenant_uuid(spelling) == BOT
    assert rule.milvus_partition_name(spelling) == "bot_" + HEX
    assert rule.postgres_partition_name(spelling) == "documents_" + HEX
    assert rule.postgres_partition_name(spelling, "chunks") == "chunks_" + HEX


@pytest.mark.parametrize(
    "bad",
    ["", "nope", BOT[:-1], BOT + "0", "{" + BOT + "}", "urn:uuid:" + BOT, BOT.replace("-", "_"),
     "g" * 32, None, 42, HEX[:8] + "-" + HEX[8:]],
)
def test_non_uuids_are_rejected_with_the_rule(bad):
    with pytest.raises(rule.TenantError, match="not a UUID"):
        rule.tenant_hex(bad)


def test_names_fit_both_servers():
    name = rule.milvus_partition_name(BOT)
    assert len(name) == 36 and "-" not in name
    assert len(rule.postgres_partition_name(BOT).encode()) == 42


def test_postgres_name_longer_than_63_bytes_is_refused():
    table = "t" * 30
    assert len(rule.postgres_partition_name(BOT, table)) == 63
    with pytest.raises(rule.TenantError, match=r"64 bytes long .*at most 63"):
        rule.postgres_partition_name(BOT, table + "x")


@pytest.mark.parametrize("table", ["Documents", "1docs", "docs-x", "docs x", "dóc"])
def test_postgres_table_must_be_a_plain_identifier(table):
    with pytest.raises(rule.TenantError, match="invalid"):
        rule.postgres_partition_name(BOT, table)


@pytest.mark.parametrize("name", ["bot-1", "1bot", "", "a b", "x" * 256, "é"])
def test_milvus_rejected_names(name):
    with pytest.raises(rule.TenantError):
        rule.check_milvus_name(name)


@pytest.mark.parametrize("name", ["_default", "bot_" + HEX, "A", "x" * 255])
def test_milvus_accepted_names(name):
    assert rule.check_milvus_name(name) == name


def test_batch_lists_every_problem_at_once():
    with pytest.raises(rule.TenantError) as caught:
        rule.validate_tenants([BOT, "nope", HEX.upper(), "7c9e6679-7425-40de-944b-e07fc1f90ae7", "bad2"])
    message = str(caught.value)
    assert "tenants[1]: tenant 'nope' is not a UUID" in message
    assert "tenants[2]" in message and "repeats tenants[0]" in message
    assert "tenants[4]: tenant 'bad2'" in message
    assert "tenants[3]" not in message


def test_batch_returns_canonical_ids_in_order():
    assert rule.validate_tenants([HEX.upper(), "7C9E6679-7425-40DE-944B-E07FC1F90AE7"]) == [
        BOT, "7c9e6679-7425-40de-944b-e07fc1f90ae7"]
    assert rule.validate_tenants([]) == []


def test_raw_names_batch():
    assert rule.validate_names(["a", "b_1"]) == ["a", "b_1"]
    with pytest.raises(rule.TenantError, match=r"names\[1\].*'-'.*names\[2\]: 'a' repeats names\[0\]"):
        rule.validate_names(["a", "b-1", "a"])


def test_partition_names_map_back_to_tenants():
    assert rule.tenant_from_partition("bot_" + HEX, "bot_") == BOT
    assert rule.tenant_from_partition("documents_" + HEX, "documents_") == BOT
    assert rule.tenant_from_partition("_default", "bot_") is None
    assert rule.tenant_from_partition("bot_" + HEX.upper(), "bot_") is None
