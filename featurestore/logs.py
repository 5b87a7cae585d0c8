"""Logging: one JSON object per line, and one line per request with its request id."""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid

from flask import Flask, Response, g, request
from pythonjsonlogger.json import JsonFormatter

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"

# A client's request id is kept only when it is short and printable, so that it can
# neither forge a log line nor bloat one.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")


def json_formatter() -> JsonFormatter:
    """Return the formatter of every log line: one JSON object with time and pid.

    gunicorn.conf.py gives gunicorn's own loggers the same formatter.
    """
    return JsonFormatter(
        "{asctime}{levelname}{name}{message}{process}",
        style="{",
        rename_fields={
            "asctime": "time",
            "levelname": "level",
            "name": "logger",
            "process": "pid",
        },
    )


def configure_logging(level: str) -> None:
    """Send the root logger's records to stdout as JSON lines, once per process."""
    root = logging.getLogger()
    root.setLevel(level)
    if any(getattr(handler, "_featurestore", False) for handler in root.handlers):
        return
    handler = logging.StreamHandler(sys.stdout)
    handler._featurestore = True  # type: ignore[attr-defined]
    handler.setFormatter(json_formatter())
    root.addHandler(handler)
    # botocore logs every retry at DEBUG and some credential lookups at INFO.
    logging.getLogger("botocore").setLevel(max(root.level, logging.WARNING))


def _start_request() -> None:
    g.started = time.perf_counter()
    given = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def _finish_request(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = g.request_id
    duration_ms = (time.perf_counter() - g.started) * 1000
    logger.info(
        "%s %s %d",
        request.method,
        request.path,
        response.status_code,
        extra={
            "request_id": g.request_id,
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": round(duration_ms, 2),
            "source": g.get("source"),
        },
    )
    return response


def init_app(app: Flask) -> None:
    """Give every request an id, echo it in the response and log one line for it."""
    app.before_request(_start_request)
    app.after_request(_finish_request)
