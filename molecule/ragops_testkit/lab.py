"""The lab as a client sees it: its API key, one HTTP call, demo vectors and the tenant naming rule.

Standard library only: scripts/lab_demo.py, the molecule verifiers and the benchmarks import it on the machine,
tests/bench/bench_search.sh also on an API host, with the API's virtualenv.
"""

from __future__ import annotations

import http.client
import json
import random
import ssl
import urllib.error
import urllib.request

try:  # on the machine: the collection in-tree (collections/ on the path)
    from ansible_collections.ragops.stack.plugins.module_utils.tenant import (
        milvus_partition_name,
        postgres_partition_name,
    )
except ImportError:  # on an API host: the API's copy of the same file (api/ragops_api/naming.py links to it)
    from ragops_api.naming import milvus_partition_name, postgres_partition_name

__all__ = ["LAB_API_KEY", "Response", "call", "milvus_partition_name", "postgres_partition_name", "vector"]

# ragops_api_keys[0] of inventories/lab and of the split scenario (molecule/split/group_vars).
LAB_API_KEY = "lab-api-key-0001"


class Response:
    """Status, headers and body of one answer; ``json()`` parses the body."""

    def __init__(self, status_code: int, headers: http.client.HTTPMessage, text: str) -> None:
        self.status_code = status_code
        self.headers = headers
        self.text = text

    def json(self):
        return json.loads(self.text)


def _context(cafile: str | None) -> ssl.SSLContext:
    if cafile:
        return ssl.create_default_context(cafile=cafile)
    # The lab's certificate is self-signed and names the host, not the address a test reaches it on.
    return ssl._create_unverified_context()  # noqa: S323


def call(method: str, url: str, body: dict | None = None, *, key: str | None = LAB_API_KEY, timeout: float = 60,
         cafile: str | None = None, check: bool = False) -> Response:
    """One request with a JSON body (if any) and the API key (unless None). HTTPS without a certificate check
    unless ``cafile`` is given. Any HTTP status comes back as a Response; with ``check``, a status >= 400 raises
    RuntimeError instead. Connection errors raise (OSError)."""
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["X-API-Key"] = key
    request = urllib.request.Request(url, method=method, headers=headers,
                                     data=None if body is None else json.dumps(body).encode())
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=_context(cafile)) as answer:
            response = Response(answer.status, answer.headers, answer.read().decode())
    except urllib.error.HTTPError as error:
        response = Response(error.code, error.headers, error.read().decode())
    if check and response.status_code >= 400:
        raise RuntimeError(f"{method} {url}: HTTP {response.status_code}: {response.text[:1000]}")
    return response


def vector(rng: random.Random | int | str, dim: int) -> list[float]:
    """``dim`` floats in [-1, 1) from ``rng``, or from a fresh generator seeded with it (same seed, same vector)."""
    if not isinstance(rng, random.Random):
        rng = random.Random(rng)
    return [rng.uniform(-1, 1) for _dim in range(dim)]
