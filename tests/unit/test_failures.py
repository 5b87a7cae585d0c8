"""Dependency failures: throttling, timeouts and a full producer queue give 503."""

from __future__ import annotations

import json
import time

import pytest
from botocore.stub import Stubber

from featurestore.config import load_settings
from featurestore.errors import KafkaUnavailable
from featurestore.events import Publisher

URL = "/api/v1/items"


@pytest.mark.parametrize(
    "code",
    [
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
    ],
)
def test_dynamodb_throttling_is_503(client, dynamodb, publisher, seed_body, code):
    with Stubber(dynamodb) as stubber:
        stubber.add_client_error("update_item", service_error_code=code)

        response = client.post(URL, data=seed_body, content_type="application/json")

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.get_json()["error"]["code"] == "dynamodb_unavailable"
    assert code in response.get_json()["error"]["message"]
    assert publisher.events == []


def test_dynamodb_recovers_after_throttling(client, dynamodb, publisher, seed_body):
    with Stubber(dynamodb) as stubber:
        stubber.add_client_error(
            "update_item", service_error_code="ThrottlingException"
        )
        client.post(URL, data=seed_body, content_type="application/json")

    response = client.post(URL, data=seed_body, content_type="application/json")

    assert response.status_code == 201
    assert len(publisher.events) == 1


def test_dynamodb_unreachable_is_503(app, publisher, seed_body):
    from featurestore.clients import ClientRegistry

    settings = load_settings(
        {},
        dynamodb_endpoint="http://127.0.0.1:9",
        dynamodb_max_attempts=2,
    )
    app.extensions["featurestore.clients"] = ClientRegistry(
        settings, publisher_factory=lambda _: publisher
    )
    started = time.monotonic()

    response = app.test_client().post(
        URL, data=seed_body, content_type="application/json"
    )

    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "dynamodb_unavailable"
    assert time.monotonic() - started < 10
    assert publisher.events == []


def test_full_producer_queue_is_kafka_unavailable():
    # No broker listens on port 9, so queued messages stay queued.
    settings = load_settings(
        {},
        kafka_bootstrap_servers="127.0.0.1:9",
        kafka_delivery_timeout=2.0,
        librdkafka={"queue.buffering.max.messages": "1"},
    )
    publisher = Publisher(settings)
    envelope = {"event_id": "e", "event_type": "features.written"}
    try:
        publisher.send("k", envelope)

        with pytest.raises(KafkaUnavailable, match="queue is full"):
            publisher.send("k", envelope)
    finally:
        left = publisher.close(timeout=0.1)
    assert left >= 1


def test_undelivered_event_is_kafka_unavailable():
    settings = load_settings(
        {}, kafka_bootstrap_servers="127.0.0.1:9", kafka_delivery_timeout=1.0
    )
    publisher = Publisher(settings)
    try:
        with pytest.raises(KafkaUnavailable, match="did not acknowledge"):
            publisher.publish("k", {"event_id": "e", "event_type": "features.written"})
    finally:
        publisher.close(timeout=0.1)


def test_batch_dynamodb_throttling_marks_failed(client, dynamodb, publisher):
    body = {
        "meta": {"source": "s"},
        "items": [
            {
                "entity_type": "t",
                "entity_value": "v",
                "category": "c",
                "features": {"a": 1},
            }
        ],
    }
    with Stubber(dynamodb) as stubber:
        stubber.add_client_error(
            "update_item", service_error_code="ThrottlingException"
        )

        response = client.post(
            URL + "/batch", data=json.dumps(body), content_type="application/json"
        )

    result = response.get_json()["results"][0]
    assert result["status"] == "failed"
    assert result["error"]["code"] == "dynamodb_unavailable"
    assert response.headers["Retry-After"] == "1"
    assert publisher.events == []


@pytest.fixture
def silent_server():
    """A TCP server on loopback that accepts connections and never responds."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(1)
    for connection in accepted:
        connection.close()
    listener.close()


def test_dynamodb_not_answering_is_503(app, publisher, seed_body, silent_server):
    from featurestore.clients import ClientRegistry

    settings = load_settings(
        {},
        dynamodb_endpoint=silent_server,
        dynamodb_read_timeout=0.3,
        dynamodb_max_attempts=2,
    )
    app.extensions["featurestore.clients"] = ClientRegistry(
        settings, publisher_factory=lambda _: publisher
    )
    started = time.monotonic()

    response = app.test_client().post(
        URL, data=seed_body, content_type="application/json"
    )

    elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "dynamodb_unavailable"
    assert "ReadTimeoutError" in response.get_json()["error"]["message"]
    # Two attempts of 0.3 s each, plus backoff: far below gunicorn's 30 s.
    assert elapsed < 5
    assert publisher.events == []
