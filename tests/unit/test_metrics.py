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
