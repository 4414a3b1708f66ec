# -*- coding: utf-8 -*-
# Copyright: ragops.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection options and helpers shared by the ragops.stack Milvus modules."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib
import importlib.machinery
import json
import re
import sys
import traceback
import types

from ansible.module_utils.basic import env_fallback, missing_required_lib
from ansible.module_utils.common.text.converters import to_native
from ansible.module_utils.six.moves.urllib.parse import quote, urlsplit
from ansible.module_utils.urls import open_url

# ``import pymilvus`` imports pandas (0.3-0.4 s of CPU in every module run)
# only for its ORM layer: DataFrame input and type hints, and a few
# pandas.api.types checks used when inserting rows or inferring a field's type
# from data. It imports requests (with urllib3 and charset_normalizer, about
# 0.1 s more) only to ask a global cluster endpoint for its topology. No call
# these modules make (collections, indexes, partitions, load state, query,
# search, stats) goes there. So, while pymilvus is being imported, stand-ins
# answer for these libraries:
# - requests: a module that imports the real requests the first time one of its
#   attributes is read;
# - pandas: a DataFrame class that matches real DataFrames whenever pandas is
#   loaded (nothing can be a DataFrame before), and pandas.api.types functions
#   that import the real pandas the first time one of them is called.
# The stand-ins leave sys.modules as soon as pymilvus is imported, so a later
# ``import pandas`` or ``import requests`` gets the real library. If pymilvus
# asks a stand-in for anything else while it is imported (another pymilvus
# release), everything pymilvus imported is forgotten and it is imported again
# as published: slower, never wrong.
PANDAS_STANDIN_NAMES = ("pandas", "pandas.api", "pandas.api.types")
PANDAS_API_TYPES_USED = ("infer_dtype", "is_array_like", "is_float", "is_list_like", "is_scalar")
DEFERRED_MODULES = ("requests",)


def _is_standin(module):
    return getattr(module, "__ragops_standin__", False)


def _real_module(name):
    """Import the real module ``name``, stand-ins for it and its parents out of the way."""
    parts = name.split(".")
    for parent in (".".join(parts[:end]) for end in range(1, len(parts) + 1)):
        if _is_standin(sys.modules.get(parent)):
            del sys.modules[parent]
    return importlib.import_module(name)


class _DeferredModule(types.ModuleType):
    """A module whose real import waits until one of its attributes is read."""

    __ragops_standin__ = True

    def __getattr__(self, attribute):
        return getattr(_real_module(self.__name__), attribute)


def _deferred_api_function(name):
    def function(*args, **kwargs):
        return getattr(_real_module("pandas.api.types"), name)(*args, **kwargs)

    function.__name__ = function.__qualname__ = name
    return function


class _DataFrameType(type):
    """``isinstance(x, DataFrame)``: true only for real DataFrames, and only pandas makes those."""

    def __instancecheck__(cls, instance):
        pandas = sys.modules.get("pandas")
        return pandas is not None and not _is_standin(pandas) and isinstance(instance, pandas.DataFrame)

    def __subclasscheck__(cls, subclass):
        pandas = sys.modules.get("pandas")
        return pandas is not None and not _is_standin(pandas) and issubclass(subclass, pandas.DataFrame)


def _standin(name, module_type=types.ModuleType):
    module = module_type(name)
    module.__ragops_standin__ = True
    module.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
    return module


def _standins():
    """{name: stand-in} for the libraries pymilvus imports and these modules never use."""
    standins = dict((name, _standin(name, _DeferredModule)) for name in DEFERRED_MODULES)
    pandas, api, api_types = (_standin(name) for name in PANDAS_STANDIN_NAMES)
    for module in (pandas, api, api_types):
        module.__path__ = []
    pandas.DataFrame = _DataFrameType("DataFrame", (object,), {"__module__": "pandas"})
    pandas.api, api.types = api, api_types
    for name in PANDAS_API_TYPES_USED:
        setattr(api_types, name, _deferred_api_function(name))
    standins.update(zip(PANDAS_STANDIN_NAMES, (pandas, api, api_types)))
    return standins


def _withdraw(standins):
    """Take the stand-ins out of sys.modules (those a real import has not replaced already)."""
    for name, standin in standins.items():
        if sys.modules.get(name) is standin:
            del sys.modules[name]


def _forget_pymilvus():
    for name in [name for name in sys.modules if name == "pymilvus" or name.startswith("pymilvus.")]:
        del sys.modules[name]


def import_milvus_client():
    """``pymilvus.MilvusClient``, imported without pandas and requests when that is safe (see above)."""
    if "pymilvus" in sys.modules:
        from pymilvus import MilvusClient as client_class

        return client_class
    standins = dict((name, module) for name, module in _standins().items()
                    if name.split(".")[0] not in sys.modules)
    sys.modules.update(standins)
    try:
        from pymilvus import MilvusClient as client_class
    except (ImportError, AttributeError) as exc:
        if getattr(exc, "name", None) == "pymilvus":
            raise  # not installed: the modules say so (ensure_pymilvus)
        # pymilvus needs more of a library than its stand-in offers: import it as published.
        _forget_pymilvus()
        _withdraw(standins)
        from pymilvus import MilvusClient as client_class
    finally:
        _withdraw(standins)
    return client_class


PYMILVUS_IMPORT_ERROR = None
try:
    MilvusClient = import_milvus_client()
except ImportError:
    MilvusClient = None
    PYMILVUS_IMPORT_ERROR = traceback.format_exc()

# rootCoord.maxPartitionNum when the server cannot tell: 4096 up to 2.3, 1024 from 2.4.
DEFAULT_PARTITION_LIMITS = ((2, 4), 1024), ((0, 0), 4096)
MAX_PARTITION_EXPR = "param.RootCoordCfg.MaxPartitionNum.GetValue()"


def milvus_argument_spec():
    """Connection options of every Milvus module (doc fragment ragops.stack.milvus)."""
    return dict(
        uri=dict(type="str", default="http://localhost:19530", fallback=(env_fallback, ["MILVUS_URI"])),
        token=dict(type="str", no_log=True, fallback=(env_fallback, ["MILVUS_TOKEN"])),
        db_name=dict(type="str", default="default"),
        timeout=dict(type="float", default=10.0),
    )


def partition_limit_argument_spec():
    """Options used to read rootCoord.maxPartitionNum (doc fragment ragops.stack.milvus.partition_limit)."""
    return dict(
        max_partitions=dict(type="int"),
        management_url=dict(type="str"),
        etcd_root_path=dict(type="str", default="by-dev"),
    )


def ensure_pymilvus(module):
    if MilvusClient is None:
        module.fail_json(msg=missing_required_lib("pymilvus"), exception=PYMILVUS_IMPORT_ERROR)


def connect(module):
    """Return a MilvusClient, or fail naming the URI (never the token)."""
    ensure_pymilvus(module)
    params = module.params
    kwargs = dict(uri=params["uri"], db_name=params["db_name"], timeout=params["timeout"])
    if params.get("token"):
        kwargs["token"] = params["token"]
    try:
        client = MilvusClient(**kwargs)
        version = client.get_server_version()
    except Exception as exc:  # pymilvus raises several unrelated types here
        module.fail_json(
            msg="cannot reach Milvus at %s (database %s): %s"
            % (params["uri"], params["db_name"], _redact(to_native(exc), params.get("token")))
        )
    return client, version


def call(module, what, func, *args, **kwargs):
    """Run one client call; on error fail saying what was being done.

    ``_result`` (keyword) is returned with the failure, so that a batch that
    stops half-way reports what it had already done.
    """
    partial = kwargs.pop("_result", None) or {}
    try:
        return func(*args, **kwargs)
    except Exception as exc:
        module.fail_json(
            msg="Milvus at %s: %s failed: %s"
            % (module.params["uri"], what, _redact(to_native(exc), module.params.get("token"))),
            **partial
        )


def partition_key_field(description):
    """The field a describe_collection() result uses as partition key, or None."""
    return next((f for f in description.get("fields", []) if f.get("is_partition_key")), None)


def _redact(text, secret):
    if secret:
        text = text.replace(secret, "********")
    return text


def parse_version(version):
    """'v2.3.5-lite' -> (2, 3, 5); unknown parts become 0."""
    numbers = [int(part) for part in re.findall(r"\d+", version or "")[:3]]
    return tuple(numbers + [0] * (3 - len(numbers)))


def default_partition_limit(version):
    parsed = parse_version(version)[:2]
    for since, limit in DEFAULT_PARTITION_LIMITS:
        if parsed >= since:
            return limit
    return DEFAULT_PARTITION_LIMITS[-1][1]


def management_url(module):
    """The Milvus HTTP management address: the option, else the gRPC host on port 9091."""
    if module.params.get("management_url"):
        return module.params["management_url"].rstrip("/")
    parts = urlsplit(module.params["uri"] if "://" in module.params["uri"] else "http://" + module.params["uri"])
    host = parts.hostname or "localhost"
    if ":" in host:
        host = "[%s]" % host
    return "%s://%s:9091" % ("https" if parts.scheme == "https" else "http", host)


def partition_limit(module, version):
    """Return (limit, source): rootCoord.maxPartitionNum as the server applies it.

    Order: the max_partitions option; the value the running server reports
    through its management endpoint; the documented default of its version.
    """
    if module.params.get("max_partitions"):
        return module.params["max_partitions"], "option"
    url = "%s/expr?code=%s&auth=%s" % (
        management_url(module),
        quote(MAX_PARTITION_EXPR, safe=""),
        quote(module.params["etcd_root_path"], safe=""),
    )
    try:
        response = open_url(url, timeout=module.params["timeout"], validate_certs=False)
        value = int(json.loads(response.read())["output"])
        if value > 0:
            return value, "server"
    except Exception as exc:
        module.warn(
            "could not read rootCoord.maxPartitionNum from %s (%s); assuming %d, the default of Milvus %s."
            " Set max_partitions to the configured value to silence this."
            % (management_url(module), to_native(exc), default_partition_limit(version), version)
        )
    return default_partition_limit(version), "version default"
