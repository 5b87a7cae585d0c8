"""Errors of the service and the handlers that turn every error into one JSON shape.

Every error response has the body ``{"error": {"code", "message", "details"}}``, where
``details`` maps each invalid field's dotted path to its messages.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, current_app, jsonify
from werkzeug.exceptions import HTTPException

logger = logging.getLogger(__name__)


class FeatureStoreError(Exception):
    """Base of the errors that map to an HTTP status and an error code."""

    status = 500
    code = "internal_error"
    # HTTP headers of the error response, such as WWW-Authenticate on a 401.
    headers: Mapping[str, str] = {}

    def __init__(
        self,
        message: str,
        *,
        details: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.details = dict(details or {})
        # Machine-readable fields added to the error object beside code and message.
        self.extra = dict(extra or {})


class InvalidRequest(FeatureStoreError):
    """Raised when a request body or parameter breaks the API's rules."""

    status = 400
    code = "invalid_request"


class NotFound(FeatureStoreError):
    """Raised when a requested record does not exist, was deleted or has expired."""

    status = 404
    code = "not_found"


class PayloadTooLarge(FeatureStoreError):
    """Raised when a record or event would exceed a size limit."""

    status = 413
    code = "payload_too_large"


class StaleWrite(FeatureStoreError):
    """Raised when a write's event time is older than the stored record's."""

    status = 409
    code = "stale_write"


class DependencyUnavailable(FeatureStoreError):
    """Raised when DynamoDB or Kafka fails or does not respond in time."""

    status = 503
    code = "dependency_unavailable"


class DynamoDBUnavailable(DependencyUnavailable):
    """Raised when a DynamoDB call fails, is throttled or times out."""

    code = "dynamodb_unavailable"


class KafkaUnavailable(DependencyUnavailable):
    """Raised when Kafka does not acknowledge an event in time."""

    code = "kafka_unavailable"


# Error codes of the werkzeug HTTP errors that clients cause, by status.
_HTTP_CODES = {
    400: "invalid_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def flatten_messages(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """Flatten marshmallow's nested error messages to ``{"a.b.c": [messages]}``."""
    if isinstance(messages, Mapping):
        flat: dict[str, list[str]] = {}
        for key, value in messages.items():
            # marshmallow files errors of a whole nested object under "_schema".
            if key == "_schema" and prefix:
                path = prefix
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            flat.update(flatten_messages(value, path))
        return flat
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return {prefix or "_schema": list(messages)}
    return {prefix or "_schema": [str(messages)]}


# An error response echoes field paths from the request. These limits bound its
# size, because a body of thousands of long unknown names would come back whole.
MAX_DETAIL_FIELDS = 100
MAX_DETAIL_PATH_CHARS = 300


def _bounded(details: Mapping[str, Any]) -> dict[str, Any]:
    bounded = {}
    for path, messages in list(details.items())[:MAX_DETAIL_FIELDS]:
        if len(path) > MAX_DETAIL_PATH_CHARS:
            path = path[:MAX_DETAIL_PATH_CHARS] + "..."
        bounded[path] = messages
    if len(details) > MAX_DETAIL_FIELDS:
        bounded["_more"] = [
            f"{len(details) - MAX_DETAIL_FIELDS} more fields have errors; fix the "
            "ones above and send the request again."
        ]
    return bounded


def error_response(
    status: int,
    code: str,
    message: str,
    details: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Response:
    """Build the JSON error response, with a Retry-After header on a 503."""
    body = {"code": code, "message": message, "details": _bounded(details or {})}
    body.update(extra or {})
    response = jsonify({"error": body})
    response.status_code = status
    if status == 503:
        response.headers["Retry-After"] = str(
            current_app.config["SETTINGS"].retry_after_seconds
        )
    return response


def _handle_service_error(error: FeatureStoreError) -> Response:
    if error.status >= 500:
        logger.warning("%s: %s", error.code, error.message)
    else:
        logger.debug("rejected request: %s: %s", error.code, error.message)
    response = error_response(
        error.status, error.code, error.message, error.details, error.extra
    )
    response.headers.update(error.headers)
    return response


def _handle_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    messages = data.get("messages")
    if messages is not None:
        # webargs puts the location ("json", "query") at the top of its messages.
        details: dict[str, list[str]] = {}
        for location_messages in messages.values():
            details.update(flatten_messages(location_messages))
        return error_response(
            400,
            "invalid_request",
            "The request is invalid: see details for each field and how to fix it.",
            details,
        )
    code = _HTTP_CODES.get(status, "http_error")
    message = error.description or error.name
    if status == 413:
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        message = (
            f"The request body is larger than the limit of {limit} bytes; "
            "send less data per request."
        )
    response = error_response(status, code, message)
    # Keep werkzeug's headers, such as Allow on a 405.
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _handle_unexpected(error: Exception) -> Response:
    logger.exception("unhandled error while serving the request")
    return error_response(
        500,
        "internal_error",
        "The service failed to handle the request; it was logged.",
    )


def init_app(app: Flask) -> None:
    """Register the handlers that give every error the same JSON shape."""
    app.register_error_handler(FeatureStoreError, _handle_service_error)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(Exception, _handle_unexpected)
