# Copyright: ragops.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every part of ragops_tools shares: the format constants, the exit codes and the errors."""

from __future__ import annotations

FORMAT = 1
CLASSES = ("daily", "weekly", "monthly")
TIERS = ("postgres", "milvus")
ID_FORMAT = "%Y%m%dT%H%M%SZ"
MANIFEST = "manifest.json"
METRIC_PREFIX = "ragops_backup"
EXIT_REFUSED = 3
EXIT_MISMATCH = 4


class BackupError(Exception):
    """A failure with a message meant for the operator."""


class Refused(BackupError):
    """Restoring would overwrite live data and force was not given."""
