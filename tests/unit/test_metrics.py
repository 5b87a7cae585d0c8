"""GET /metrics and what the service counts."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def _samples(client) -> dict:
    text = client.get("/metrics").data.decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_requests_by_route(client, seed_body):
    before = _samples(client)
    client.post("/api/v1/items", data=seed_body, content_type="application/json")

    after = _samples(client)

    labels = {"route": "/api/v1/items", "method": "POST", "status": "201"}
    name = "featurestore_http_requests_total"
    assert _value(after, name, **labels) == _value(before, name, **labels) + 1


def test_metrics_count_records_by_outcome(client, seed_body):
    before = _samples(client)
    client.post("/api/v1/items", data=seed_body, content_type="application/json")
    client.post("/api/v1/items", data=seed_body, content_type="application/json")

    after = _samples(client)

    name = "featurestore_records_total"
    for outcome in ("created", "unchanged"):
        labels = {"category": "d0_unauth_features", "outcome": outcome}
        assert _value(after, name, **labels) == _value(before, name, **labels) + 1


def test_metrics_time_dynamodb_calls(client, seed_body):
    before = _samples(client)
    client.post("/api/v1/items", data=seed_body, content_type="application/json")

    after = _samples(client)

    name = "featurestore_dynamodb_call_duration_seconds_count"
    labels = {"operation": "UpdateItem"}
    assert _value(after, name, **labels) == _value(before, name, **labels) + 1


def test_metrics_route_of_unknown_path_is_unmatched(client):
    client.get("/no/such/path/12345")

    samples = _samples(client)

    labels = {"route": "unmatched", "method": "GET", "status": "404"}
    assert _value(samples, "featurestore_http_requests_total", **labels) >= 1
    assert not any("12345" in str(key) for key in samples)


def test_metrics_count_dynamodb_error_codes(client, seed_body):
    # The second, identical write fails the update's condition and is a replay.
    client.post("/api/v1/items", data=seed_body, content_type="application/json")
    before = _samples(client)
    client.post("/api/v1/items", data=seed_body, content_type="application/json")

    after = _samples(client)

    name = "featurestore_dynamodb_errors_total"
    labels = {"operation": "UpdateItem", "code": "ConditionalCheckFailedException"}
    assert _value(after, name, **labels) == _value(before, name, **labels) + 1


def test_metrics_count_unreachable_dynamodb(app, publisher, seed_body):
    from featurestore.clients import ClientRegistry
    from featurestore.config import load_settings

    settings = load_settings(
        {}, dynamodb_endpoint="http://127.0.0.1:9", dynamodb_max_attempts=1
    )
    app.extensions["featurestore.clients"] = ClientRegistry(
        settings, publisher_factory=lambda _: publisher
    )
    client = app.test_client()
    before = _samples(client)

    response = client.post(
        "/api/v1/items", data=seed_body, content_type="application/json"
    )

    after = _samples(client)
    assert response.status_code == 503
    name = "featurestore_dynamodb_errors_total"
    labels = {"operation": "UpdateItem", "code": "EndpointConnectionError"}
    assert _value(after, name, **labels) == _value(before, name, **labels) + 1
