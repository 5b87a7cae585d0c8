"""The API's blueprints and what they share."""

from __future__ import annotations

from collections.abc import Callable

import flask_smorest

from featurestore.schemas import ErrorSchema

ERROR_DESCRIPTIONS = {
    400: "Invalid body or field; details name each field and the fix.",
    404: "No such record.",
    409: "The stored record has a newer event time; nothing was written.",
    413: "The body or the record is larger than its limit.",
    414: "The URL is longer than gunicorn's 8190-byte request line; gunicorn "
    "answers with an HTML page before the service sees the request.",
    415: "The body is not declared as JSON.",
    503: "DynamoDB or Kafka is unavailable; retry after Retry-After seconds.",
}


class Api(flask_smorest.Api):
    """flask-smorest's Api with the service's error schema and error handlers."""

    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self) -> None:
        # featurestore.errors.init_app registers the handlers for every error.
        pass


def error_responses(blueprint: flask_smorest.Blueprint, *statuses: int) -> Callable:
    """Document the error responses of a view, all with the shared error schema."""

    def decorate(view: Callable) -> Callable:
        for status in statuses:
            if status == 414:
                view = blueprint.alt_response(
                    status,
                    description=ERROR_DESCRIPTIONS[status],
                    content_type="text/html",
                )(view)
                continue
            view = blueprint.alt_response(
                status, schema=ErrorSchema, description=ERROR_DESCRIPTIONS[status]
            )(view)
        return view

    return decorate
