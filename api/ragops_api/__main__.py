"""``python -m ragops_api`` (and the ``ragops-api`` command): serve the API with uvicorn."""

from __future__ import annotations

import sys

import uvicorn

from .app import create_app
from .config import ConfigError, Settings


def main() -> None:
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        sys.exit(f"ragops-api: {exc}")
    # log_config=None: the app logs everything, uvicorn included, as JSON; its own access log is
    # replaced by the app's. Behind Nginx set FORWARDED_ALLOW_IPS so that client addresses are real.
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
