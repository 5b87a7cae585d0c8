"""Record writes: ``POST /api/v1/items``."""

from __future__ import annotations

from flask import g

from featurestore import service
from featurestore.api import error_responses
from featurestore.api.parsing import Blueprint
from featurestore.records import WriteRequest
from featurestore.schemas import WriteRequestSchema, WriteResponseSchema

blueprint = Blueprint(
    "items", __name__, url_prefix="/api/v1/items", description="Feature records"
)


@blueprint.route("", methods=["POST"])
@error_responses(blueprint, 400, 409, 413, 415, 503)
@blueprint.arguments(WriteRequestSchema, location="json")
@blueprint.response(201, WriteResponseSchema, description="A new record was stored.")
@blueprint.alt_response(
    200, schema=WriteResponseSchema, description="The record was replaced or replayed."
)
def write_item(request: WriteRequest):
    """Store the latest features of one record and publish the change to Kafka.

    Answers only after DynamoDB stored the record and Kafka acknowledged its event.
    """
    outcome = service.write(request, request_id=g.request_id)

    status = 201 if outcome.status == "created" else 200
    return outcome.as_response(), status
