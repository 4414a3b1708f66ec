# Copyright: ragops.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Milvus around its own service stop and start (the unit's ExecStop and ExecStartPost).

``flush``: before a planned stop, seal what is still in growing segments, so the next start loads sealed,
indexed segments instead of replaying the message stream. ``wait_ready``: after a start, return only once
``/healthz`` answers and every collection that was loaded before the stop is loaded again, so whoever started
the unit (a handler, an upgrade, the boot ordering of the API units) sees a server that answers searches.
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request

from ragops_tools.milvus import load_state, open_client

try:
    from pymilvus import MilvusException
except ImportError:  # pragma: no cover
    MilvusException = Exception

__all__ = ["MilvusException", "flush", "wait_ready"]


def _client(uri: str, timeout: float):
    return open_client(uri, timeout, os.environ.get("MILVUS_TOKEN", ""))


def flush(uri: str, timeout: float) -> dict:
    """Flush every loaded collection of the default database; the names and the time it took."""
    started = time.monotonic()
    client = _client(uri, timeout)
    try:
        flushed = []
        for name in client.list_collections():
            if load_state(client, name) != "NotLoad":
                client.flush(name, timeout=timeout)
                flushed.append(name)
    finally:
        client.close()
    return dict(flushed=flushed, seconds=round(time.monotonic() - started, 2))


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 (a URL from the unit file)
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


def wait_ready(uri: str, health_url: str, timeout: float, poll: float = 0.5) -> dict:
    """Wait for /healthz, then for every collection Milvus is loading; raise TimeoutError past ``timeout``."""
    started = time.monotonic()
    deadline = started + timeout
    while not _healthy(health_url):
        if time.monotonic() > deadline:
            raise TimeoutError("Milvus did not answer %s within %d s" % (health_url, timeout))
        time.sleep(poll)
    healthy = time.monotonic() - started
    client = _client(uri, max(1.0, deadline - time.monotonic()))
    try:
        waiting = [name for name in client.list_collections() if load_state(client, name) != "NotLoad"]
        loaded = list(waiting)
        while waiting:
            waiting = [name for name in waiting if load_state(client, name) != "Loaded"]
            if waiting and time.monotonic() > deadline:
                raise TimeoutError("Milvus is still loading %s after %d s" % (", ".join(waiting), timeout))
            if waiting:
                time.sleep(poll)
    finally:
        client.close()
    return dict(healthy_after=round(healthy, 2), loaded=loaded, seconds=round(time.monotonic() - started, 2))
