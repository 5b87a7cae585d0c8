"""The benchmark's floor writes the item and the event the service writes.

scripts/bench.py compares the service with bare SDK calls; the comparison holds only
while both store the same attributes and publish the same event fields.
"""

from __future__ import annotations

import importlib.util
import json
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
SEED = json.loads((ROOT / "tests" / "data" / "seed_request.json").read_text())


def _bench_module():
    spec = importlib.util.spec_from_file_location(
        "featurestore_bench", ROOT / "scripts" / "bench.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_floor_matches_service_item_and_event(client, dynamodb, publisher):
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
    # The same DynamoDB type (S, N, M, BOOL) for every attribute.
    assert {name: sorted(value) for name, value in item.items()} == {
        name: sorted(value) for name, value in stored.items()
    }
    assert sorted(event) == sorted(envelope)
    assert sorted(event["meta"]) == sorted(envelope["meta"])
    assert key == item["pk"]["S"]
    assert event["features"] == SEED["data"]["features"]


def _resolved_condition(arguments: dict) -> str:
    """Return the condition with attribute names filled in and values as ':value'."""
    names = arguments["ExpressionAttributeNames"]
    values = arguments["ExpressionAttributeValues"]
    condition = re.sub(
        r"#\w+", lambda match: names[match.group()], arguments["ConditionExpression"]
    )

    def value(match: re.Match) -> str:
        assert match.group() in values
        return ":value"

    return re.sub(r":\w+", value, condition)


def test_floor_condition_matches_service(client, dynamodb, monkeypatch):
    bench = _bench_module()
    calls = []
    update_item = dynamodb.update_item

    def recording_update_item(**arguments):
        calls.append(arguments)
        return update_item(**arguments)

    monkeypatch.setattr(dynamodb, "update_item", recording_update_item)
    response = client.post("/api/v1/items", json=SEED)
    assert response.status_code == 201
    [service_call] = calls
    _, item, _ = bench._floor_item(0, SEED["data"]["features"])

    floor_condition = _resolved_condition(bench._condition_arguments(item))

    assert floor_condition == _resolved_condition(service_call)
