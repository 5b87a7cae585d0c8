"""Records: write, batch write, read, batch read and delete under ``/api/v1/items``.

A record is addressed by query parameters rather than path segments, so that any
``entity_value``, with ``/``, ``#``, ``%``, ``?``, spaces or non-ASCII text, is
addressable by ordinary percent-encoding.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from flask import g

from featurestore import auth, service
from featurestore.api import error_responses
from featurestore.api.parsing import Blueprint
from featurestore.records import RecordKey, StoredRecord, WriteMeta, WriteRequest
from featurestore.schemas import (
    BatchReadRequestSchema,
    BatchReadResponseSchema,
    BatchWriteRequestSchema,
    BatchWriteResponseSchema,
    DeleteQuerySchema,
    DeleteResponseSchema,
    RecordQuerySchema,
    RecordSchema,
    WriteRequestSchema,
    WriteResponseSchema,
    load_batch_items,
)

blueprint = Blueprint(
    "items", __name__, url_prefix="/api/v1/items", description="Feature records"
)


def record_response(record: StoredRecord) -> dict[str, Any]:
    """Shape a stored record as the API returns it."""
    return {
        "key": record.key.as_dict(),
        "features": record.features,
        "event_time": record.event_time,
        "version": record.version,
        "event_id": record.event_id,
        "source": record.source,
        "compute_id": record.compute_id,
        "expires_at": record.expires_at_text,
    }


def _key(arguments: dict[str, Any]) -> RecordKey:
    return RecordKey(
        arguments["entity_type"], arguments["entity_value"], arguments["category"]
    )


@blueprint.route("", methods=["POST"])
@error_responses(blueprint, 400, 409, 413, 415, 503)
@blueprint.arguments(WriteRequestSchema(), location="json")
@blueprint.response(201, WriteResponseSchema, description="A new record was stored.")
@blueprint.alt_response(
    200, schema=WriteResponseSchema, description="The record was replaced or replayed."
)
def write_item(request: WriteRequest):
    """Store the latest features of one record and publish the change to Kafka.

    Responds only after DynamoDB stored the record and Kafka acknowledged its event.
    """
    g.source = request.meta.source
    auth.require("write", [request.key], source=request.meta.source)

    outcome = service.write(request, request_id=g.request_id)

    status = 201 if outcome.status == "created" else 200
    return outcome.as_response(), status


@blueprint.route("", methods=["GET"])
@error_responses(blueprint, 400, 404, 414, 503)
@blueprint.arguments(RecordQuerySchema(), location="query")
@blueprint.response(200, RecordSchema)
def read_item(arguments: dict[str, Any]):
    """Read one record, optionally only the named features."""
    auth.require("read", [_key(arguments)])

    record = service.get(_key(arguments), features=arguments.get("features"))

    return record_response(record)


@blueprint.route("", methods=["DELETE"])
@error_responses(blueprint, 400, 404, 409, 414, 503)
@blueprint.arguments(DeleteQuerySchema(), location="query")
@blueprint.response(200, DeleteResponseSchema)
def delete_item(arguments: dict[str, Any]):
    """Delete one record and publish a ``features.deleted`` event."""
    meta = WriteMeta(
        source=arguments["source"],
        compute_id=arguments.get("compute_id"),
        event_time=arguments.get("event_time"),
    )
    g.source = meta.source
    auth.require("write", [_key(arguments)], source=meta.source)

    record = service.delete(_key(arguments), meta, request_id=g.request_id)

    return {
        "status": "deleted",
        "key": record.key.as_dict(),
        "event_time": record.event_time,
        "version": record.version,
        "event_id": record.event_id,
    }


@blueprint.route("/batch", methods=["POST"])
@error_responses(blueprint, 400, 413, 415)
@blueprint.arguments(BatchWriteRequestSchema(), location="json")
@blueprint.response(200, BatchWriteResponseSchema)
def write_batch(body: dict[str, Any]):
    """Write up to 500 records with one meta; one result per item, in order.

    Retry only the items whose status is ``failed``: the others are either applied
    and acknowledged by Kafka, or need a change before they can be.
    """
    g.source = body["meta"]["source"]
    valid, invalid = load_batch_items(body["meta"], body["items"])
    auth.require(
        "write", [request.key for _, request in valid], source=body["meta"]["source"]
    )

    results = service.write_batch(valid, invalid, request_id=g.request_id)

    counts = Counter(result.status for result in results)
    headers = {}
    if counts["failed"]:
        headers["Retry-After"] = str(service.retry_after_seconds())
    return (
        {"results": [result.as_response() for result in results], "counts": counts},
        200,
        headers,
    )


@blueprint.route("/batch-get", methods=["POST"])
@error_responses(blueprint, 400, 415, 503)
@blueprint.arguments(BatchReadRequestSchema(), location="json")
@blueprint.response(200, BatchReadResponseSchema)
def read_batch(body: dict[str, Any]):
    """Read up to 100 records; the missing ones are listed under ``missing``."""
    keys = [_key(key) for key in body["keys"]]
    auth.require("read", keys)

    records, missing = service.many(keys, features=body.get("features"))

    return {
        "records": [record_response(record) for record in records],
        "missing": [key.as_dict() for key in missing],
    }
