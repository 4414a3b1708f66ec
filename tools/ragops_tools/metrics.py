# Copyright: ragops.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup metrics: one node exporter textfile per tier, and sizes for people."""

from __future__ import annotations

import datetime as dt
import os
import socket
import tempfile
import time
from pathlib import Path

from ragops_tools.base import METRIC_PREFIX
from ragops_tools.manifest import last_success


def metrics_text(tier: str, host: str, last_success: float | None, last_run: float, status: int,
                 size: int, duration: float) -> str:
    """Node exporter textfile of one tier."""
    labels = '{tier="%s",backup_host="%s"}' % (tier, host)
    lines = [
        "# HELP %s_last_success_timestamp_seconds End time of the newest complete backup of the tier." % METRIC_PREFIX,
        "# TYPE %s_last_success_timestamp_seconds gauge" % METRIC_PREFIX,
        "%s_last_success_timestamp_seconds%s %.3f" % (METRIC_PREFIX, labels, last_success or 0),
        "# HELP %s_last_run_timestamp_seconds End time of the last backup attempt of the tier." % METRIC_PREFIX,
        "# TYPE %s_last_run_timestamp_seconds gauge" % METRIC_PREFIX,
        "%s_last_run_timestamp_seconds%s %.3f" % (METRIC_PREFIX, labels, last_run),
        "# HELP %s_last_run_success Whether the last backup attempt of the tier succeeded (1) or failed (0)."
        % METRIC_PREFIX,
        "# TYPE %s_last_run_success gauge" % METRIC_PREFIX,
        "%s_last_run_success%s %d" % (METRIC_PREFIX, labels, status),
        "# HELP %s_last_size_bytes Size of the newest complete backup of the tier." % METRIC_PREFIX,
        "# TYPE %s_last_size_bytes gauge" % METRIC_PREFIX,
        "%s_last_size_bytes%s %d" % (METRIC_PREFIX, labels, size),
        "# HELP %s_last_duration_seconds Duration of the last backup attempt of the tier." % METRIC_PREFIX,
        "# TYPE %s_last_duration_seconds gauge" % METRIC_PREFIX,
        "%s_last_duration_seconds%s %.3f" % (METRIC_PREFIX, labels, duration),
    ]
    return "\n".join(lines) + "\n"


def human_size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return ("%d %s" % (size, unit)) if unit == "B" else ("%.1f %s" % (size, unit))
        size /= 1024.0
    return str(size)


def write_metrics(config: dict, tier: str, status: int, duration: float) -> None:
    directory = config.get("textfile_dir")
    if not directory or not os.path.isdir(directory):
        return
    best = last_success(config["root"], tier)
    size = sum(f["bytes"] for f in best["files"].values()) if best else 0
    last = dt.datetime.fromisoformat(best["finished_at"]).timestamp() if best else None
    target = Path(directory) / ("ragops_backup_%s.prom" % tier)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".ragops_backup_")
    with os.fdopen(fd, "w") as handle:
        handle.write(metrics_text(tier, config.get("host", socket.gethostname()), last, time.time(), status,
                                  size, duration))
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)
