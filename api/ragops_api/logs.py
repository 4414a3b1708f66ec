"""JSON logs: one object per line on stdout, with every known secret redacted."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import datetime, timezone

REDACTED = "[REDACTED]"
# Attributes every LogRecord has; anything else was passed with ``extra=`` and is logged as a field.
# (uvicorn adds color_message, the same message with terminal colours.)
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName", "color_message"}


class JsonFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        # A secret is also looked for in its JSON-escaped spelling, the form it has in the line.
        self.secrets = sorted({s for secret in secrets if secret for s in (secret, json.dumps(secret)[1:-1])},
                              key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update((k, v) for k, v in vars(record).items() if k not in _STANDARD)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        line = json.dumps(entry, default=str, ensure_ascii=False)
        for secret in self.secrets:
            line = line.replace(secret, REDACTED)
        return line


def configure_logging(level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    """Send every log record (ours, uvicorn's, pymilvus') through one JSON handler on the root logger."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "ragops_json", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(secrets))
    handler.ragops_json = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    # These libraries install their own plain-text handlers; route them to ours instead.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "pymilvus"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("pymilvus").setLevel(logging.WARNING)
    # pymilvus logs every failed RPC with a traceback; the store logs each failure once, briefly.
    logging.getLogger("pymilvus.decorators").setLevel(logging.CRITICAL)
