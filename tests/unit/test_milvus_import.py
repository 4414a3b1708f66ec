"""module_utils/milvus.py imports pymilvus without pandas and requests, and pymilvus still gets them when it needs them.

Each case runs in a fresh interpreter: what is imported is the point.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def fresh(code: str) -> dict:
    """Run ``code`` in a new interpreter (the collection importable); return the JSON it prints last."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "collections"))
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


IMPORT = """
import json, sys
from ansible_collections.ragops.stack.plugins.module_utils import milvus
"""


def test_the_client_comes_without_pandas_and_requests():
    seen = fresh(IMPORT + """
heavy = ("pandas", "requests", "urllib3", "charset_normalizer")
print(json.dumps(dict(client=milvus.MilvusClient.__name__, error=milvus.PYMILVUS_IMPORT_ERROR,
                      loaded=sorted(name for name in sys.modules if name.split(".")[0] in heavy))))
""")
    assert seen == {"client": "MilvusClient", "error": None, "loaded": []}


def test_requests_is_imported_at_its_first_use():
    seen = fresh(IMPORT + """
from pymilvus.client import global_topology
error = global_topology.requests.exceptions.RequestException
import requests
print(json.dumps(dict(same=error is requests.exceptions.RequestException,
                      get=global_topology.requests.get is requests.get,
                      real=not hasattr(requests, "__ragops_standin__"))))
""")
    assert seen == {"same": True, "get": True, "real": True}


def test_what_the_modules_build_offline_needs_no_pandas():
    """The schema and index parameters milvus_collection builds (the calls to the server: tests/integration)."""
    seen = fresh(IMPORT + """
from pymilvus import DataType
client = milvus.MilvusClient.__new__(milvus.MilvusClient)
schema = client.create_schema(auto_id=False, enable_dynamic_field=False, description="t")
schema.add_field("id", DataType.INT64, is_primary=True)
schema.add_field("bot_id", DataType.VARCHAR, max_length=36, is_partition_key=True)
schema.add_field("vector", DataType.FLOAT_VECTOR, dim=4)
index = client.prepare_index_params()
index.add_index(field_name="vector", index_type="HNSW", metric_type="COSINE", params={"M": 16})
print(json.dumps(dict(fields=[f.name for f in schema.fields],
                      pandas="pandas" in sys.modules and not getattr(sys.modules["pandas"], "__ragops_standin__", 0))))
""")
    assert seen == {"fields": ["id", "bot_id", "vector"], "pandas": False}


def test_pandas_functions_import_the_real_pandas_when_called():
    """A pymilvus path that does use pandas (type inference from data, DataFrame input) gets the real one."""
    seen = fresh(IMPORT + """
from pymilvus.orm import schema, types
before = "pandas" in sys.modules
inferred = types.infer_dtype_bydata([0.5, 1.5]).name
import pandas
frame = pandas.DataFrame({"a": [1]})
print(json.dumps(dict(before=before, inferred=inferred, real=not hasattr(pandas, "__ragops_standin__"),
                      frame=isinstance(frame, schema.pd.DataFrame), checked=schema.is_valid_insert_data(frame),
                      other=isinstance([], schema.pd.DataFrame))))
""")
    assert seen == {"before": False, "inferred": "FLOAT_VECTOR", "real": True, "frame": True, "checked": True,
                    "other": False}


def test_pandas_already_loaded_means_a_plain_import():
    seen = fresh("""
import json, sys
import pandas
from ansible_collections.ragops.stack.plugins.module_utils import milvus
from pymilvus.orm import schema
print(json.dumps(dict(same=schema.pd is pandas, client=milvus.MilvusClient.__name__)))
""")
    assert seen == {"same": True, "client": "MilvusClient"}


@pytest.mark.parametrize("missing", ["is_scalar", "DataFrame"])
def test_a_pymilvus_that_needs_more_of_pandas_is_imported_with_the_real_one(missing):
    """Another pymilvus release asking the stand-in for something it lacks: imported again, as published."""
    seen = fresh(f"""
import json, sys
from ansible.module_utils.basic import AnsibleModule  # noqa: F401 - loaded before the patch below
import importlib.util
spec = importlib.util.find_spec("ansible_collections.ragops.stack.plugins.module_utils.milvus")
source = spec.loader.get_source(spec.name)
if "{missing}" == "DataFrame":
    source = source.replace('pandas.DataFrame = _DataFrameType', 'pandas.NotDataFrame = _DataFrameType')
else:
    source = source.replace('"is_scalar")', ')')
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
exec(compile(source, spec.origin, "exec"), module.__dict__)
from pymilvus.orm import schema
import pandas
print(json.dumps(dict(client=module.MilvusClient.__name__, error=module.PYMILVUS_IMPORT_ERROR,
                      real=schema.pd is pandas and not hasattr(pandas, "__ragops_standin__"))))
""")
    assert seen == {"client": "MilvusClient", "error": None, "real": True}
