"""Request body parsing for the API's flask-smorest blueprints.

webargs would parse JSON with the standard library and turn ``0.35`` into a binary
float, so this parser decodes bodies with featurestore.jsonio instead, and answers
each kind of unusable body with its own clear error before the schema runs.
"""

from __future__ import annotations

from typing import Any

import flask
import flask_smorest
import marshmallow as ma
from webargs.flaskparser import FlaskParser

from featurestore import jsonio
from featurestore.errors import FeatureStoreError, InvalidRequest


class UnsupportedMediaType(FeatureStoreError):
    """Raised when a request body is not declared as JSON."""

    status = 415
    code = "unsupported_media_type"


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
        body = req.get_data(cache=True)
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
        return data


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
