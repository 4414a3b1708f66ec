"""Pure helpers of plugins/module_utils/milvus.py."""

import pytest

from ansible_collections.ragops.stack.plugins.module_utils import milvus


@pytest.mark.parametrize(("version", "parsed"), [("v2.3.5-lite", (2, 3, 5)), ("2.4", (2, 4, 0)), ("", (0, 0, 0))])
def test_parse_version(version, parsed):
    assert milvus.parse_version(version) == parsed


@pytest.mark.parametrize(("version", "limit"), [("v2.3.5", 4096), ("v2.2.16", 4096), ("v2.4.0", 1024),
                                                ("v2.6.1", 1024), ("v3.0.0", 1024)])
def test_default_partition_limit_by_version(version, limit):
    assert milvus.default_partition_limit(version) == limit


class FakeModule:
    """Only carries params: management_url() reads nothing else."""

    def __init__(self, **params):
        self.params = {"management_url": None, **params}


@pytest.mark.parametrize(("uri", "url"), [
    ("http://localhost:19530", "http://localhost:9091"),
    ("https://milvus.internal:443", "https://milvus.internal:9091"),
    ("10.0.0.5:19530", "http://10.0.0.5:9091"),
    ("http://[::1]:19530", "http://[::1]:9091"),
])
def test_management_url_follows_the_grpc_host(uri, url):
    assert milvus.management_url(FakeModule(uri=uri)) == url


def test_management_url_option_wins():
    assert milvus.management_url(FakeModule(uri="http://a:19530", management_url="http://b:9999/")) == "http://b:9999"
