"""Writes against the real local DynamoDB (dynalite) and Kafka broker."""

from __future__ import annotations

import json

import pytest

from featurestore import jsonio, values
from featurestore.probe import find_events, read_item
from featurestore.records import RecordKey

pytestmark = pytest.mark.stack

URL = "/api/v1/items"
SEED_KEY = RecordKey("bright_uid", "postman_testing", "d0_unauth_features")


def _post(client, body: str):
    return client.post(URL, data=body, content_type="application/json")


def test_seed_request_stored_and_published(stack, stack_app, stack_client, seed_body):
    settings = stack_app.config["SETTINGS"]

    response = _post(stack_client, seed_body)

    assert response.status_code == 201
    event_id = response.get_json()["event_id"]
    dynamodb = stack_app.extensions["featurestore.clients"].dynamodb()
    item = read_item(dynamodb, settings.dynamodb_table, SEED_KEY)
    assert item is not None
    assert item["event_id"]["S"] == event_id
    assert item["features"]["M"]["debt_to_income_ratio"] == {"N": "0.35"}
    assert item["features"]["M"]["payment_history_score"] == {"N": "85.5"}
    assert item["features"]["M"]["is_verified"] == {"BOOL": True}
    sent_features = jsonio.dumps(jsonio.loads(seed_body)["data"]["features"])
    assert jsonio.dumps(values.features_from_item(item)) == sent_features

    events = find_events(stack.kafka_bootstrap, settings.kafka_topic, {event_id})
    assert len(events[event_id]) == 1
    event = events[event_id][0]
    assert event["key"] == "bright_uid#postman_testing"
    assert '"debt_to_income_ratio":0.35' in event["raw"]
    assert jsonio.dumps(event["value"]["features"]) == sent_features
    assert event["value"]["version"] == 1


def test_seed_request_replay_same_event_id(stack, stack_app, stack_client, seed_body):
    settings = stack_app.config["SETTINGS"]
    first = _post(stack_client, seed_body).get_json()

    response = _post(stack_client, seed_body)

    assert response.status_code == 200
    assert response.get_json()["event_id"] == first["event_id"]
    assert response.get_json()["version"] == 1
    events = find_events(
        stack.kafka_bootstrap, settings.kafka_topic, {first["event_id"]}
    )
    assert len(events[first["event_id"]]) == 2


@pytest.mark.parametrize(
    "text",
    [
        "0.1",
        "1.1",
        "33.10318374633789",
        "0.30000000000000004",
        "1e-07",
        "-0.0",
        "50000.0",
        "1.50",
        "12345678901234567890123456789012345678",
        "-99999999999999999999999999999999999999",
        "1e-130",
        "-1e-130",
        "9.9999999999999999999999999999999999999e125",
        "-0",
        "[0.5,1.0,2]",
    ],
)
def test_number_text_round_trip_dynalite(stack_app, stack_client, seed_request, text):
    seed_request["data"]["features"] = {"value": "PLACEHOLDER"}
    body = json.dumps(seed_request).replace('"PLACEHOLDER"', text)
    settings = stack_app.config["SETTINGS"]

    response = _post(stack_client, body)

    assert response.status_code == 201
    dynamodb = stack_app.extensions["featurestore.clients"].dynamodb()
    item = read_item(dynamodb, settings.dynamodb_table, SEED_KEY)
    assert jsonio.dumps(values.features_from_item(item)["value"]) == text
