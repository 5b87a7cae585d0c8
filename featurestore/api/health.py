"""Liveness and readiness probes."""

from __future__ import annotations

import logging
import time
from typing import Any

import flask_smorest
from flask import current_app
from marshmallow import Schema, fields

logger = logging.getLogger(__name__)

blueprint = flask_smorest.Blueprint(
    "health", __name__, url_prefix="/health", description="Probes"
)

# Each dependency check gives up after this many seconds.
CHECK_TIMEOUT_SECONDS = 1.0
# A readiness result is reused for this long, so that frequent probes from several
# orchestrators cannot load DynamoDB and Kafka.
CACHE_SECONDS = 1.5


class LivenessSchema(Schema):
    status = fields.String(metadata={"description": "ok"})


class CheckSchema(Schema):
    status = fields.String(metadata={"description": "ok or failed"})
    latency_ms = fields.Float()
    error = fields.String(metadata={"description": "type of the error, when failed"})


class ReadinessSchema(Schema):
    status = fields.String(metadata={"description": "ok or unavailable"})
    checks = fields.Dict(keys=fields.String(), values=fields.Nested(CheckSchema))
    cached = fields.Boolean(
        metadata={"description": "true when the result comes from the last 1.5 s"}
    )


@blueprint.route("", methods=["GET"])
@blueprint.response(200, LivenessSchema)
def live():
    """Report that the process serves requests; calls no dependency."""
    return {"status": "ok"}


def _run_checks() -> dict[str, Any]:
    registry = current_app.extensions["featurestore.clients"]
    settings = current_app.config["SETTINGS"]
    checks = {
        "dynamodb": lambda: registry.dynamodb_probe().describe_table(
            TableName=settings.dynamodb_table
        ),
        "kafka": lambda: registry.publisher().check_broker(CHECK_TIMEOUT_SECONDS),
    }
    results = {}
    for name, check in checks.items():
        started = time.perf_counter()
        result: dict[str, Any] = {"status": "ok"}
        try:
            check()
        # Any failure, whatever its type, means the dependency is not ready.
        except Exception as exc:  # noqa: BLE001
            result = {"status": "failed", "error": type(exc).__name__}
            logger.warning("readiness check %s failed: %s", name, exc)
        result["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
        results[name] = result
    return results


@blueprint.route("/ready", methods=["GET"])
@blueprint.response(200, ReadinessSchema)
@blueprint.alt_response(503, schema=ReadinessSchema, description="Not ready.")
def ready():
    """Check that the table and a Kafka broker respond; 503 when either does not.

    The result is cached per worker for 1.5 s. Concurrent probes in a window may
    each run the checks once; no lock is taken, so a fork cannot leave one held.
    """
    cached = current_app.extensions.get("featurestore.readiness")
    now = time.monotonic()
    if cached is not None and now - cached[0] < CACHE_SECONDS:
        results, from_cache = cached[1], True
    else:
        results, from_cache = _run_checks(), False
        current_app.extensions["featurestore.readiness"] = (time.monotonic(), results)

    healthy = all(result["status"] == "ok" for result in results.values())
    body = {
        "status": "ok" if healthy else "unavailable",
        "checks": results,
        "cached": from_cache,
    }
    if healthy:
        return body, 200
    retry_after = str(current_app.config["SETTINGS"].retry_after_seconds)
    return body, 503, {"Retry-After": retry_after}
