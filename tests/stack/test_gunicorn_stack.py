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
