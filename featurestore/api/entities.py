"""Entities: every category of one entity, ``GET /api/v1/entities``."""

from __future__ import annotations

from typing import Any

from featurestore import auth, service
from featurestore.api import error_responses
from featurestore.api.items import record_response
from featurestore.api.parsing import Blueprint
from featurestore.schemas import EntityQuerySchema, EntityResponseSchema

blueprint = Blueprint(
    "entities", __name__, url_prefix="/api/v1/entities", description="Entities"
)


@blueprint.route("", methods=["GET"])
@error_responses(blueprint, 400, 414, 503)
@blueprint.arguments(EntityQuerySchema(), location="query")
@blueprint.response(200, EntityResponseSchema)
def read_entity(arguments: dict[str, Any]):
    """Read the records of every category of an entity; none is an empty list.

    A key limited to some categories gets only those.
    """
    auth.require("read", entity_types=[arguments["entity_type"]])

    records = service.entity(
        arguments["entity_type"],
        arguments["entity_value"],
        features=arguments.get("features"),
    )

    categories = auth.allowed_categories()
    if categories is not None:
        records = [record for record in records if record.key.category in categories]
    return {
        "entity_type": arguments["entity_type"],
        "entity_value": arguments["entity_value"],
        "records": [record_response(record) for record in records],
    }
