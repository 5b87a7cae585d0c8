"""Request body parsing for the API's flask-smorest blueprints.

webargs would parse JSON with the standard library and turn ``0.35`` into a binary
float, so this parser decodes bodies with featurestore.jsonio instead. It rejects
each kind of unusable body with its own clear error before the schema runs.
"""

from __future__ import annotations

import re
from typing import Any

import flask
import flask_smorest
import marshmallow as ma
from gunicorn.http.errors import ParseException
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import ClientDisconnected

from featurestore import jsonio
from featurestore.errors import FeatureStoreError, InvalidRequest, PayloadTooLarge

# A JSON escape of a UTF-16 surrogate. Only bodies that contain one are searched for
# a lone surrogate, because that is not Unicode text and cannot be stored or encoded.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class UnsupportedMediaType(FeatureStoreError):
    """Raised when a request body is not declared as JSON."""

    status = 415
    code = "unsupported_media_type"


class RequestTimeout(FeatureStoreError):
    """Raised when a client does not send the announced body in time."""

    status = 408
    code = "request_timeout"


TIMEOUT_MESSAGE = (
    "The request body did not arrive in time; send the whole body at once."
)


def read_body(request: flask.Request) -> bytes:
    """Read the whole request body, at most the configured maximum.

    A body with Content-Length over the maximum is rejected by werkzeug before it
    is read. A chunked body has no length, so one byte past the maximum is read to
    tell a body that fits from one that does not.
    """
    limit = request.max_content_length
    try:
        if request.content_length is not None or limit is None:
            return request.get_data(cache=True)
        body = request.environ["wsgi.input"].read(limit + 1)
    except TimeoutError as exc:
        raise RequestTimeout(TIMEOUT_MESSAGE) from exc
    except ClientDisconnected as exc:
        # werkzeug turns a failed read of a body with Content-Length into this.
        if isinstance(exc.__context__, TimeoutError):
            raise RequestTimeout(TIMEOUT_MESSAGE) from exc
        raise InvalidRequest(
            "The request body is shorter than its Content-Length; send the whole body."
        ) from exc
    except (OSError, ValueError, ParseException) as exc:
        raise InvalidRequest(
            f"The request body could not be read ({type(exc).__name__}); check its "
            "Content-Length or chunked encoding."
        ) from exc
    if len(body) > limit:
        raise PayloadTooLarge(
            f"The request body is larger than the limit of {limit} bytes; send less "
            "data per request."
        )
    return body


def _lone_surrogate_path(value: Any, path: str) -> str | None:
    """Return the path of the first string or name with a lone surrogate, or None."""
    if isinstance(value, str):
        return path if _SURROGATE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else key
            if _SURROGATE.search(key):
                return child
            found = _lone_surrogate_path(item, child)
            if found is not None:
                return found
    if isinstance(value, list):
        for position, item in enumerate(value):
            found = _lone_surrogate_path(item, f"{path}.{position}")
            if found is not None:
                return found
    return None


class ExactJSONParser(FlaskParser):
    """A webargs parser that keeps each number's decimal text and requires JSON."""

    DEFAULT_VALIDATION_STATUS = 400
    # A misspelt parameter must fail loudly rather than be ignored.
    DEFAULT_UNKNOWN_BY_LOCATION = {
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
        "json": ma.RAISE,
        "query": ma.RAISE,
    }

    def load_json(self, req: flask.Request, schema: ma.Schema) -> Any:
        if req.mimetype != "application/json":
            raise UnsupportedMediaType(
                f"Content-Type {req.content_type or '(none)'!r} is not supported: "
                "send the body as JSON with 'Content-Type: application/json'."
            )
        body = read_body(req)
        if not body.strip():
            raise InvalidRequest("The request body is empty: send a JSON object.")
        try:
            data = jsonio.loads(body)
        except jsonio.InvalidJSON as exc:
            raise InvalidRequest(f"The request body is not valid JSON: {exc}.") from exc
        if not isinstance(data, dict):
            raise InvalidRequest(
                f"The request body is a JSON {_json_type(data)}: send a JSON object."
            )
        if _SURROGATE_ESCAPE.search(body):
            path = _lone_surrogate_path(data, "")
            if path is not None:
                # The path may contain the surrogate, so the response escapes it.
                escaped_path = path.encode("utf-8", "backslashreplace").decode()
                raise InvalidRequest(
                    "The request body contains a lone UTF-16 surrogate escape, "
                    "which is not Unicode text.",
                    details={
                        escaped_path: [
                            "Send valid Unicode text without lone \\uD800 "
                            "to \\uDFFF escapes."
                        ]
                    },
                )
        return data

    def load_querystring(self, req: flask.Request, schema: ma.Schema) -> Any:
        repeated = sorted(name for name, values in req.args.lists() if len(values) > 1)
        if repeated:
            raise InvalidRequest(
                "A query parameter was given more than once.",
                details={
                    name: ["Given more than once; send it once."] for name in repeated
                },
            )
        return super().load_querystring(req, schema)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    return "number"


class Blueprint(flask_smorest.Blueprint):
    """A flask-smorest blueprint whose bodies are parsed by ExactJSONParser."""

    ARGUMENTS_PARSER = ExactJSONParser()


def _limit_body_read_time() -> None:
    # gunicorn's gthread worker reads the body from a blocking socket with no
    # timeout, so a client that announces more than it sends would hold a thread
    # for ever. gthread makes the socket blocking again for the next request.
    sock = flask.request.environ.get("gunicorn.socket")
    if sock is not None:
        sock.settimeout(flask.current_app.config["SETTINGS"].body_read_timeout)


def init_app(app: flask.Flask) -> None:
    """Bound the time a request's body may take to arrive."""
    app.before_request(_limit_body_read_time)
