"""The benchmark's floor writes the item and the event the service writes.

scripts/bench.py compares the service with bare SDK calls; the comparison holds only
while both store the same attributes and publish the same event fields.
"""

from __future__ import annotations

import importlib.util
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
SEED = json.loads((ROOT / "tests" / "data" / "seed_request.json").read_text())


def _bench_module():
    spec = importlib.util.spec_from_file_location(
        "featurestore_bench", ROOT / "scripts" / "bench.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_floor_item_and_event_have_the_services_fields(client, dynamodb, publisher):
    bench = _bench_module()
    response = client.post("/api/v1/items", json=SEED)
    assert response.status_code == 201
    stored = dynamodb.get_item(
        TableName="features",
        Key={
            "pk": {"S": "bright_uid#postman_testing"},
            "sk": {"S": "d0_unauth_features"},
        },
    )["Item"]
    [(_, envelope)] = publisher.events

    key, item, event = bench._floor_item(0, SEED["data"]["features"])

    assert sorted(item) == sorted(stored)
    assert item["features"] == stored["features"]
    assert {name: type(value) for name, value in item.items()} == {
        name: type(value) for name, value in stored.items()
    }
    assert sorted(event) == sorted(envelope)
    assert sorted(event["meta"]) == sorted(envelope["meta"])
    assert key == item["pk"]["S"]
    assert event["features"] == SEED["data"]["features"]


def test_floor_condition_names_every_placeholder_it_uses():
    bench = _bench_module()
    for placeholder in ("#pk", "#expires", "#time", "#hash", ":now", ":time", ":hash"):
        assert placeholder in bench._CONDITION
