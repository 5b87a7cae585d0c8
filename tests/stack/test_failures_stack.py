"""Delivery guarantees when Kafka, DynamoDB or a gunicorn worker fails.

Every test checks the one promise of the API: a 2xx means the record is in DynamoDB
and its event is on Kafka, and anything else is safe to retry.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request

import pytest

from featurestore.clients import ClientRegistry
from featurestore.config import load_settings
from featurestore.probe import find_events, read_item
from featurestore.records import RecordKey

pytestmark = pytest.mark.stack

URL = "/api/v1/items"


def _body(entity_value: str, **features) -> dict:
    return {
        "meta": {"source": "failure-test", "compute_id": f"job-{entity_value}"},
        "data": {
            "entity_type": "user",
            "entity_value": entity_value,
            "category": "c",
            "features": features or {"score": 1},
        },
    }


def _ready(service) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"{service.url}/health/ready", timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _wait_ready(service, timeout: float = 15) -> int:
    """Poll readiness until it is 200 or the time is up; return the last status."""
    deadline = time.monotonic() + timeout
    status = _ready(service)[0]
    while status != 200 and time.monotonic() < deadline:
        time.sleep(0.5)
        status = _ready(service)[0]
    return status


def _assert_acknowledged_intact(stack, names, acknowledged: dict[str, dict]) -> None:
    """Check each acknowledged write's item in DynamoDB and its event on Kafka."""
    settings = load_settings(
        {},
        dynamodb_endpoint=stack.dynamodb_endpoint,
        **{"dynamodb_table": names["dynamodb_table"]},
    )
    client = ClientRegistry(settings).dynamodb()
    for entity_value, answer in acknowledged.items():
        item = read_item(
            client, names["dynamodb_table"], RecordKey("user", entity_value, "c")
        )
        assert item is not None, f"acknowledged {entity_value} is not in DynamoDB"
        assert item["event_id"]["S"] == answer["event_id"]
    event_ids = {answer["event_id"] for answer in acknowledged.values()}
    found = find_events(
        stack.kafka_bootstrap, names["kafka_topic"], event_ids, timeout=30
    )
    assert event_ids - set(found) == set(), "acknowledged events missing from Kafka"


def _load(service, prefix: str, clients: int, per_client: int) -> tuple[dict, list]:
    """Send distinct writes from several threads; return 2xx responses and failures."""
    acknowledged: dict[str, dict] = {}
    failures: list[str] = []
    lock = threading.Lock()

    def run(client_number: int) -> None:
        for number in range(per_client):
            entity_value = f"{prefix}-{client_number}-{number}"
            try:
                status, body = service.post(URL, _body(entity_value), timeout=30)
            except (OSError, http.client.HTTPException) as error:
                with lock:
                    failures.append(f"{entity_value}: {type(error).__name__}")
                continue
            with lock:
                if status in (200, 201):
                    acknowledged[entity_value] = body
                else:
                    failures.append(f"{entity_value}: {status}")

    threads = [threading.Thread(target=run, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return acknowledged, failures


def test_kafka_down_is_503_then_recovers(stack, service_factory):
    service = service_factory().start(kafka_delivery_timeout="3")
    body = _body("kafka-down")
    stack.run("stop-kafka")
    try:
        started = time.monotonic()
        status, error = service.post(URL, body)
        elapsed = time.monotonic() - started
        ready_status, ready = _ready(service)
    finally:
        stack.run("start-kafka")

    assert status == 503
    assert error["error"]["code"] == "kafka_unavailable"
    assert elapsed < 3 + 5
    assert ready_status == 503
    assert ready["checks"]["kafka"]["status"] == "failed"
    retried_status, retried = service.post(URL, body)
    assert retried_status == 200
    assert retried["status"] == "unchanged"
    assert _wait_ready(service) == 200


def test_dynamodb_down_is_503_then_recovers(stack, names, service_factory):
    service = service_factory().start()
    body = _body("dynamodb-down")
    stack.run("stop-dynamodb")
    try:
        status, error = service.post(URL, body)
        ready_status, ready = _ready(service)
    finally:
        stack.run("start-dynamodb")

    assert status == 503
    assert error["error"]["code"] == "dynamodb_unavailable"
    assert ready_status == 503
    assert ready["checks"]["dynamodb"]["status"] == "failed"
    retried_status, retried = service.post(URL, body)
    assert retried_status == 201
    _assert_acknowledged_intact(stack, names, {"dynamodb-down": retried})


def test_sigterm_under_load_loses_nothing(stack, names, service_factory):
    service = service_factory().start("--workers", "2")
    results: dict = {}

    def load() -> None:
        results["acknowledged"], results["failures"] = _load(service, "term", 6, 40)

    loader = threading.Thread(target=load)
    loader.start()
    time.sleep(1.0)
    shutdown_seconds = service.stop(signal.SIGTERM)
    loader.join(120)

    acknowledged, failures = results["acknowledged"], results["failures"]
    assert acknowledged, "no write was acknowledged before the shutdown"
    # Writes after the shutdown began find no listener; none may get a 5xx.
    assert not [failure for failure in failures if failure.endswith((": 500", ": 502"))]
    assert shutdown_seconds < 20
    _assert_acknowledged_intact(stack, names, acknowledged)
    assert "Kafka producer" in service.log_path.read_text()


def test_max_requests_recycling_loses_nothing(stack, names, service_factory):
    service = service_factory().start(
        "--workers", "2", "--max-requests", "15", "--max-requests-jitter", "0"
    )

    acknowledged, failures = _load(service, "recycle", 4, 30)

    assert failures == []
    assert len(acknowledged) == 120
    _assert_acknowledged_intact(stack, names, acknowledged)
    assert service.log_path.read_text().count("Booting worker") > 2


def test_shutdown_with_broker_down_is_bounded(stack, service_factory):
    service = service_factory().start(
        "--workers",
        "1",
        kafka_delivery_timeout="2",
        shutdown_flush_timeout="2",
        graceful_timeout="8",
    )
    stack.run("stop-kafka")
    try:
        answers = []
        writer = threading.Thread(
            target=lambda: answers.append(service.post(URL, _body("shutdown")))
        )
        writer.start()
        time.sleep(0.5)
        shutdown_seconds = service.stop(signal.SIGTERM)
        writer.join(30)
    finally:
        stack.run("start-kafka")

    assert answers and answers[0][0] == 503
    assert shutdown_seconds < 8 + 2
    log = service.log_path.read_text()
    assert "Kafka producer" in log


def test_sigkill_of_worker_keeps_acknowledged(stack, names, service_factory):
    service = service_factory().start("--workers", "1")
    acknowledged, failures = _load(service, "before-kill", 2, 10)
    assert failures == []
    items = [
        {
            "entity_type": "user",
            "entity_value": f"batch-{n}",
            "category": "c",
            "features": {"n": n},
        }
        for n in range(500)
    ]
    outcome = {}

    def send_batch() -> None:
        try:
            outcome["answer"] = service.post(
                URL + "/batch", {"meta": {"source": "kill"}, "items": items}
            )
        except (OSError, http.client.HTTPException) as error:
            outcome["error"] = error

    sender = threading.Thread(target=send_batch)
    sender.start()
    time.sleep(0.15)
    for pid in service.worker_pids():
        os.kill(pid, signal.SIGKILL)
    sender.join(60)

    assert "error" in outcome, f"the batch finished before the kill: {outcome}"
    _assert_acknowledged_intact(stack, names, acknowledged)
    service.wait_until_healthy(timeout=30)
    status, body = service.post(
        URL + "/batch", {"meta": {"source": "kill"}, "items": items}
    )
    assert status == 200
    # Items stored before the kill are replays now; the rest are new.
    assert set(body["counts"]) <= {"created", "unchanged"}
    assert sum(body["counts"].values()) == 500
