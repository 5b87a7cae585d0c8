"""Post the reference write to a running service and check each of its effects.

Prints one line per check and exits 1 when any fails. Settings come from the same
FEATURESTORE_* variables as the service; FEATURESTORE_URL names the service.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys
import urllib.error
import urllib.request

from featurestore import jsonio, values
from featurestore.clients import ClientRegistry
from featurestore.config import load_settings
from featurestore.probe import find_events, read_item
from featurestore.records import RecordKey

SEED = pathlib.Path(__file__).resolve().parent.parent / "tests/data/seed_request.json"


def post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def main() -> int:
    settings = load_settings()
    base_url = os.environ.get("FEATURESTORE_URL", "http://127.0.0.1:8015")
    body = SEED.read_bytes()
    seed = jsonio.loads(body)
    failures = 0

    def check(name: str, passed: bool, detail: str = "") -> None:
        nonlocal failures
        failures += not passed
        print(
            f"{'PASS' if passed else 'FAIL'}  {name}{': ' + detail if detail else ''}"
        )

    try:
        first_status, first = post(f"{base_url}/api/v1/items", body)
    except urllib.error.URLError as error:
        print(f"FAIL  POST {base_url}/api/v1/items: {error.reason}; is `make run` up?")
        return 1
    check(
        "first write answers 201 or 200",
        first_status in (200, 201),
        f"{first_status} {json.dumps(first)}",
    )
    second_status, second = post(f"{base_url}/api/v1/items", body)
    check(
        "same write again answers 200 with the same event id",
        second_status == 200 and second.get("event_id") == first.get("event_id"),
        f"{second_status} {json.dumps(second)}",
    )

    data = seed["data"]
    key = RecordKey(data["entity_type"], data["entity_value"], data["category"])
    client = ClientRegistry(settings).dynamodb()
    item = read_item(client, settings.dynamodb_table, key)
    check("item is in DynamoDB", item is not None, settings.dynamodb_table)
    if item is not None:
        stored = values.features_from_item(item)
        check(
            "stored features equal the request, with the same decimal text",
            jsonio.dumps(stored) == jsonio.dumps(data["features"]),
            jsonio.dumps(stored),
        )
        check(
            "stored event id is the one answered",
            item["event_id"]["S"] == first.get("event_id"),
        )

    event_id = first.get("event_id", "")
    events = find_events(
        settings.kafka_bootstrap_servers, settings.kafka_topic, {event_id}
    ).get(event_id, [])
    check(
        f"event is on Kafka topic {settings.kafka_topic!r}",
        bool(events),
        f"{len(events)} copies" if events else "not found",
    )
    if events:
        event = events[0]
        check(
            "event is keyed by the entity",
            event["key"] == key.entity_id,
            event["key"],
        )
        check(
            "event features have the request's decimal text",
            jsonio.dumps(event["value"]["features"]) == jsonio.dumps(data["features"]),
            event["raw"],
        )
    print(f"{'smoke passed' if not failures else f'{failures} checks failed'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
