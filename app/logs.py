"""Logging for the server and the command line: human-readable lines by default, or one JSON object
a line (`LOG_FORMAT=json`) for a log shipper, each carrying the id of the request it belongs to.

The request id lives in a context variable set by `app.api.middleware.RequestContextMiddleware`;
a filter copies it onto every record, so any logger, the libraries' included, reports it.
"""

from __future__ import annotations

import logging
import logging.config
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

from app.config import Settings

# As the X-Request-ID header carries it (bytes): decoded only when a line is logged.
request_id: ContextVar[bytes | None] = ContextVar("request_id", default=None)

HUMAN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged too
# (but uvicorn's terminal-coloured copy of its message).
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",
}


class RequestIdFilter(logging.Filter):
    """Stamps each record with the current request's id (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        rid = request_id.get()
        record.request_id = None if rid is None else rid.decode()
        return True


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is at the time of the write, not at configuration time."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, request_id, and the
    exception's traceback and any `extra=` fields when present."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None)
        if rid is not None:
            entry["request_id"] = rid
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        for key, value in vars(record).items():
            if key not in _STANDARD and key != "request_id" and key not in entry:
                entry[key] = value
        return orjson.dumps(entry, default=str).decode()


def logging_config(settings: Settings, *, quiet: bool = False) -> dict[str, Any]:
    """A `logging.config.dictConfig` dictionary, for the CLI and for uvicorn's `log_config` alike,
    so that the server's own lines and uvicorn's come out in one format.

    `quiet`: a command's output is what its user asked for, so at the default level (info) only
    warnings and errors are logged beside it, not the set-up narration (Alembic's, the rebuild's);
    LOG_LEVEL=debug still shows everything.
    """
    level = settings.log_level.upper()
    if quiet and level == "INFO":
        level = "WARNING"
    formatter: dict[str, Any] = (
        {"()": "app.logs.JsonFormatter"} if settings.log_format == "json" else {"format": HUMAN_FORMAT}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "app.logs.RequestIdFilter"}},
        "formatters": {"default": formatter},
        "handlers": {
            "default": {
                "class": "app.logs.StderrHandler",
                "formatter": "default",
                "filters": ["request_id"],
            }
        },
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            # uvicorn's loggers keep no handlers of their own: everything goes through the root's.
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": level, "propagate": True},
            # Alembic lists the plugins it loads on every migration: noise in any log.
            "alembic.runtime.plugins": {"level": "WARNING"},
        },
    }


def configure(settings: Settings, *, quiet: bool = False) -> None:
    logging.config.dictConfig(logging_config(settings, quiet=quiet))
