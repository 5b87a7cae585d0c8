"""The service under gunicorn with preload_app, two workers and threads."""

from __future__ import annotations

import json

import pytest

from featurestore.probe import find_events

pytestmark = pytest.mark.stack


def test_gunicorn_preload_serves_seed_write(stack, names, service_factory, seed_body):
    service = service_factory().start("--preload", "--workers", "2", "-k", "gthread")

    status, body = service.post("/api/v1/items", seed_body)

    assert status == 201
    events = find_events(
        stack.kafka_bootstrap, names["kafka_topic"], {body["event_id"]}
    )
    assert len(events[body["event_id"]]) == 1


def test_gunicorn_serves_many_writes(stack, names, service_factory, seed_request):
    service = service_factory().start("--preload", "--workers", "2", "-k", "gthread")
    event_ids = set()
    for number in range(20):
        seed_request["data"]["entity_value"] = f"user-{number}"
        status, body = service.post("/api/v1/items", json.dumps(seed_request))
        assert status == 201
        event_ids.add(body["event_id"])

    events = find_events(stack.kafka_bootstrap, names["kafka_topic"], event_ids)

    assert set(events) == event_ids


def _serving_pids(service) -> set[str]:
    return {
        line.split('"pid": ')[1].split(",")[0]
        for line in service.log_path.read_text().splitlines()
        if '"POST /api/v1/items 201"' in line
    }


def test_metrics_sum_over_workers(service_factory, seed_request):
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    service = service_factory().start("--workers", "2")
    sent = 0
    # Send until both workers have served writes, so the sum spans two processes.
    while sent < 30 or (len(_serving_pids(service)) < 2 and sent < 300):
        seed_request["data"]["entity_value"] = f"metrics-{sent}"
        status, _ = service.post("/api/v1/items", json.dumps(seed_request))
        assert status == 201
        sent += 1

    counts = []
    for _ in range(4):
        with urllib.request.urlopen(f"{service.url}/metrics", timeout=10) as reply:
            text = reply.read().decode()
        counts.append(
            sum(
                sample.value
                for family in text_string_to_metric_families(text)
                for sample in family.samples
                if sample.name == "featurestore_http_requests_total"
                and sample.labels.get("route") == "/api/v1/items"
                and sample.labels.get("status") == "201"
            )
        )

    assert len(_serving_pids(service)) == 2
    assert counts == [sent] * 4
