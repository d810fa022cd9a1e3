"""One logging setup for every service: JSON lines (python-json-logger) or plain text, on stdout.

Everything logs through the standard library, uvicorn's and Faust's loggers included, so this
one root handler formats them all. A JSON line holds time (UTC, ISO 8601), level, logger,
message and service, plus exc_info for exceptions and any `extra` fields the caller passed.
"""
from __future__ import annotations

import logging
import sys

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from services.common.settings import LoggingSettings

TEXT_FORMAT = "%(asctime)s {service} %(levelname)s %(name)s %(message)s"
# uvicorn adds a coloured copy of some messages as an extra; the plain message is enough.
_SKIPPED = [*RESERVED_ATTRS, "color_message"]


def json_formatter(service: str) -> JsonFormatter:
    return JsonFormatter(
        "{levelname}{name}{message}",
        style="{",
        rename_fields={"levelname": "level", "name": "logger"},
        static_fields={"service": service},
        reserved_attrs=_SKIPPED,
        timestamp="time",
    )


def setup_logging(service: str, settings: LoggingSettings) -> None:
    """Replace the root logger's handlers with one stdout handler in settings.log_format."""
    handler = logging.StreamHandler(sys.stdout)
    if settings.log_format == "json":
        handler.setFormatter(json_formatter(service))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT.format(service=service)))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    logging.captureWarnings(True)  # Python warnings as log records too, not bare stderr lines
    # kafka-python (topic set-up) is chatty at INFO about every connection attempt.
    logging.getLogger("kafka").setLevel(logging.WARNING)
