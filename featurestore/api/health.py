"""Liveness and readiness probes."""

from __future__ import annotations

import time

import flask_smorest
from flask import current_app
from marshmallow import Schema, fields

blueprint = flask_smorest.Blueprint(
    "health", __name__, url_prefix="/health", description="Probes"
)


class LivenessSchema(Schema):
    status = fields.String(metadata={"description": "ok"})


class CheckSchema(Schema):
    status = fields.String(metadata={"description": "ok or failed"})
    latency_ms = fields.Float()
    error = fields.String(metadata={"description": "type of the error, when failed"})


class ReadinessSchema(Schema):
    status = fields.String(metadata={"description": "ok or unavailable"})
    checks = fields.Dict(keys=fields.String(), values=fields.Nested(CheckSchema))


# Each dependency check gives up after this many seconds.
CHECK_TIMEOUT_SECONDS = 1.0


@blueprint.route("", methods=["GET"])
@blueprint.response(200, LivenessSchema)
def live():
    """Report that the process serves requests; calls no dependency."""
    return {"status": "ok"}


@blueprint.route("/ready", methods=["GET"])
@blueprint.response(200, ReadinessSchema)
@blueprint.alt_response(503, schema=ReadinessSchema, description="Not ready.")
def ready():
    """Check that the table and a Kafka broker answer; 503 when either does not."""
    registry = current_app.extensions["featurestore.clients"]
    settings = current_app.config["SETTINGS"]
    checks = {
        "dynamodb": lambda: registry.dynamodb().describe_table(
            TableName=settings.dynamodb_table
        ),
        "kafka": lambda: registry.publisher().check_broker(CHECK_TIMEOUT_SECONDS),
    }
    results = {}
    for name, check in checks.items():
        started = time.perf_counter()
        try:
            check()
            status, error = "ok", None
        # Any failure, whatever its type, means the dependency is not ready.
        except Exception as exc:  # noqa: BLE001
            status, error = "failed", f"{type(exc).__name__}"
        results[name] = {
            "status": status,
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
        }
        if error:
            results[name]["error"] = error

    healthy = all(result["status"] == "ok" for result in results.values())
    body = {"status": "ok" if healthy else "unavailable", "checks": results}
    if healthy:
        return body, 200
    retry_after = str(settings.retry_after_seconds)
    return body, 503, {"Retry-After": retry_after}
