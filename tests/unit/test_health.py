"""Liveness and readiness probes on moto's DynamoDB and a recording publisher."""

from __future__ import annotations

import time

from featurestore.errors import KafkaUnavailable


def test_health_calls_no_dependency(app, client, monkeypatch):
    registry = app.extensions["featurestore.clients"]
    monkeypatch.setattr(registry, "dynamodb", lambda: 1 / 0)
    monkeypatch.setattr(registry, "publisher", lambda: 1 / 0)

    response = client.get("/health")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_ready_reports_each_check(client):
    response = client.get("/health/ready")

    body = response.get_json()
    assert response.status_code == 200
    assert body["checks"]["dynamodb"]["status"] == "ok"
    assert body["checks"]["kafka"]["status"] == "ok"
    assert body["checks"]["dynamodb"]["latency_ms"] >= 0


def test_ready_kafka_failure_is_503(client, publisher):
    publisher.fail_with(KafkaUnavailable("down"))

    response = client.get("/health/ready")

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.get_json()["checks"]["kafka"] == {
        "status": "failed",
        "error": "KafkaUnavailable",
        "latency_ms": response.get_json()["checks"]["kafka"]["latency_ms"],
    }


def test_ready_missing_table_is_503(app, client, dynamodb):
    dynamodb.delete_table(TableName="features")

    response = client.get("/health/ready")

    assert response.status_code == 503
    assert response.get_json()["checks"]["dynamodb"]["status"] == "failed"


def test_ready_result_is_cached(app, client, publisher, monkeypatch):
    first = client.get("/health/ready").get_json()
    publisher.fail_with(KafkaUnavailable("down"))

    second = client.get("/health/ready")
    later = time.monotonic() + 2
    monkeypatch.setattr(time, "monotonic", lambda: later)
    third = client.get("/health/ready")

    assert first["cached"] is False
    assert second.status_code == 200
    assert second.get_json()["cached"] is True
    assert third.status_code == 503
