"""Prometheus metrics of the service, correct across gunicorn's worker processes.

prometheus-client's multiprocess mode keeps each worker's values in files under
``PROMETHEUS_MULTIPROC_DIR``, which gunicorn.conf.py sets before anything imports
prometheus_client. ``GET /metrics`` then sums the files of all workers. Without that
variable (tests, ``flask run``) the process's own registry is served.
"""

from __future__ import annotations

import os
import time
from typing import Any

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

# Request latencies of a service whose writes wait for DynamoDB and Kafka, in seconds.
_LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.0075,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

REQUESTS = Counter(
    "featurestore_http_requests_total",
    "HTTP requests answered, by route, method and status.",
    ["route", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "featurestore_http_request_duration_seconds",
    "Time to answer an HTTP request, by route and method.",
    ["route", "method"],
    buckets=_LATENCY_BUCKETS,
)
DYNAMODB_SECONDS = Histogram(
    "featurestore_dynamodb_call_duration_seconds",
    "Time of one DynamoDB API call including botocore's retries, by operation.",
    ["operation"],
    buckets=_LATENCY_BUCKETS,
)
DYNAMODB_ERRORS = Counter(
    "featurestore_dynamodb_errors_total",
    "DynamoDB API calls that failed, by operation and error code.",
    ["operation", "code"],
)
KAFKA_DELIVERY_SECONDS = Histogram(
    "featurestore_kafka_delivery_duration_seconds",
    "Time from producing an event to Kafka's delivery report.",
    buckets=_LATENCY_BUCKETS,
)
KAFKA_FAILURES = Counter(
    "featurestore_kafka_delivery_failures_total",
    "Events not acknowledged by Kafka, by reason.",
    ["reason"],
)
KAFKA_QUEUE = Gauge(
    "featurestore_kafka_queue_messages",
    "Messages waiting in the producers' queues, summed over workers.",
    multiprocess_mode="livesum",
)
RECORDS = Counter(
    "featurestore_records_total",
    "Record writes by category and outcome: created, updated, unchanged or stale.",
    ["category", "outcome"],
)

blueprint = Blueprint("metrics", __name__)


@blueprint.get("/metrics")
def serve_metrics() -> Response:
    """Serve every metric in Prometheus's text format."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


def _observe_request(response: Response) -> Response:
    # The route's pattern, not the path, so that labels stay few.
    route = request.url_rule.rule if request.url_rule else "unmatched"
    REQUESTS.labels(route, request.method, str(response.status_code)).inc()
    started = g.get("metrics_started")
    if started is not None:
        REQUEST_SECONDS.labels(route, request.method).observe(
            time.perf_counter() - started
        )
    return response


def init_app(app: Flask) -> None:
    """Count and time every request and serve ``GET /metrics``."""
    app.before_request(_start_timer)
    app.after_request(_observe_request)
    app.register_blueprint(blueprint)


def instrument_dynamodb(client: Any) -> None:
    """Time every call of a botocore DynamoDB client and count its errors.

    botocore passes the same ``context`` dict to the before-call and after-call
    events of one API call, which carries the start time between them.
    """

    def before_call(model: Any, context: dict, **kwargs: Any) -> None:
        context["featurestore_call"] = (model.name, time.perf_counter())

    # An earlier before-call handler can return a response without the others running
    # (botocore's Stubber does), so the after-call handlers may find no start time.
    def finish_call(context: dict, error_code: str | None) -> None:
        call = context.get("featurestore_call")
        if call is None:
            return
        operation, started = call
        DYNAMODB_SECONDS.labels(operation).observe(time.perf_counter() - started)
        if error_code:
            DYNAMODB_ERRORS.labels(operation, error_code).inc()

    def after_call(parsed: dict, context: dict, **kwargs: Any) -> None:
        finish_call(context, parsed.get("Error", {}).get("Code"))

    def after_call_error(exception: Exception, context: dict, **kwargs: Any) -> None:
        # Emitted when no response came at all: a timeout or a refused connection.
        finish_call(context, type(exception).__name__)

    events = client.meta.events
    events.register("before-call.dynamodb", before_call)
    events.register("after-call.dynamodb", after_call)
    events.register("after-call-error.dynamodb", after_call_error)
