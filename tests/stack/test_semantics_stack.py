"""Feature-store rules on the real local DynamoDB (dynalite) and Kafka broker."""

from __future__ import annotations

import csv
import datetime
import json
import pathlib
import random
import threading

import pytest

from featurestore import jsonio
from featurestore.probe import find_events

pytestmark = pytest.mark.stack

URL = "/api/v1/items"
SHARED_CREDIT = (
    pathlib.Path(__file__).resolve().parents[3] / "shared/data/german_credit.csv"
)
LOCAL_CREDIT = (
    pathlib.Path(__file__).resolve().parents[1] / "data/german_credit_head.csv"
)


def _post(client, path, body):
    return client.post(path, data=json.dumps(body), content_type="application/json")


def _key(entity_value, category="d0"):
    return {"entity_type": "user", "entity_value": entity_value, "category": category}


def _body(entity_value, features, event_time=None, compute_id=None):
    meta = {"source": "test"}
    if event_time:
        meta["event_time"] = event_time
    if compute_id:
        meta["compute_id"] = compute_id
    return {"meta": meta, "data": {**_key(entity_value), "features": features}}


def test_race_newest_event_time_wins(stack, stack_app):
    topic = stack_app.config["SETTINGS"].kafka_topic
    base = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
    times = [base + datetime.timedelta(seconds=second) for second in range(20)]
    random.Random(7).shuffle(times)
    start = threading.Barrier(len(times))
    answers = {}

    def write(moment):
        client = stack_app.test_client()
        body = _body("racer", {"t": moment.second}, moment.isoformat())
        start.wait()
        answers[moment] = _post(client, URL, body)

    threads = [threading.Thread(target=write, args=(moment,)) for moment in times]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    applied = {
        m: r.get_json() for m, r in answers.items() if r.status_code in (200, 201)
    }
    stale = [m for m, r in answers.items() if r.status_code == 409]
    assert len(applied) + len(stale) == 20
    stored = stack_app.test_client().get(URL, query_string=_key("racer")).get_json()
    assert stored["features"] == {"t": 19}
    assert stored["event_time"] == "2030-01-01T00:00:19.000000Z"
    events = find_events(
        stack.kafka_bootstrap, topic, {body["event_id"] for body in applied.values()}
    )
    assert set(events) == {body["event_id"] for body in applied.values()}
    ordered = sorted(
        (copies[0] for copies in events.values()), key=lambda event: event["offset"]
    )
    assert len({event["partition"] for event in ordered}) == 1
    event_times = [event["value"]["event_time"] for event in ordered]
    assert event_times == sorted(event_times)
    versions = [event["value"]["version"] for event in ordered]
    assert versions == list(range(1, len(versions) + 1))


def test_stale_write_publishes_nothing(stack, stack_app, stack_client):
    topic = stack_app.config["SETTINGS"].kafka_topic
    _post(stack_client, URL, _body("u1", {"a": 1}, "2030-01-01T00:00:10Z"))

    response = _post(stack_client, URL, _body("u1", {"a": 2}, "2030-01-01T00:00:05Z"))

    assert response.status_code == 409
    stored = stack_client.get(URL, query_string=_key("u1")).get_json()
    assert stored["features"] == {"a": 1}
    events = find_events(stack.kafka_bootstrap, topic, {stored["event_id"]})
    assert len(events[stored["event_id"]]) == 1


def test_failed_publish_repaired_by_retry(stack, stack_app, stack_client):
    topic = stack_app.config["SETTINGS"].kafka_topic
    body = _body("repair", {"score": 0.35}, compute_id="job-9")
    stack_app.extensions["featurestore.clients"].publisher()
    stack.run("stop-kafka")
    try:
        failed = _post(stack_client, URL, body)
    finally:
        stack.run("start-kafka")

    retried = _post(stack_client, URL, body)

    assert failed.status_code == 503
    assert failed.headers["Retry-After"] == "1"
    assert retried.status_code == 200
    assert retried.get_json()["status"] == "unchanged"
    event_id = retried.get_json()["event_id"]
    events = find_events(stack.kafka_bootstrap, topic, {event_id})
    assert len(events[event_id]) >= 1
    assert '"score":0.35' in events[event_id][0]["raw"]


@pytest.mark.parametrize(
    "entity_value", ["a/b", "a#b", "100%", "q?x=1&y=2", "with space", "Zoë 東京 🚀"]
)
def test_read_any_entity_value_stack(stack_client, entity_value):
    written = _post(stack_client, URL, _body(entity_value, {"x": 1.5}))

    response = stack_client.get(URL, query_string=_key(entity_value))

    assert written.status_code == 201
    assert response.status_code == 200
    assert response.get_json()["key"]["entity_value"] == entity_value
    assert jsonio.loads(response.data)["features"]["x"].text == "1.5"


def test_entity_and_batch_get_stack(stack_client):
    for category in ("b", "d0", "a"):
        body = _body("e1", {category: 1})
        body["data"]["category"] = category
        assert _post(stack_client, URL, body).status_code == 201

    entity = stack_client.get(
        "/api/v1/entities", query_string={"entity_type": "user", "entity_value": "e1"}
    ).get_json()
    many = _post(
        stack_client,
        URL + "/batch-get",
        {"keys": [_key("e1", "b"), _key("e1", "zz"), _key("e1", "a")]},
    ).get_json()

    assert [record["key"]["category"] for record in entity["records"]] == [
        "a",
        "b",
        "d0",
    ]
    assert [record["key"]["category"] for record in many["records"]] == ["b", "a"]
    assert many["missing"] == [_key("e1", "zz")]


def test_delete_publishes_and_hides(stack, stack_app, stack_client):
    topic = stack_app.config["SETTINGS"].kafka_topic
    _post(stack_client, URL, _body("gone", {"a": 1}))

    deleted = stack_client.delete(
        URL, query_string={**_key("gone"), "source": "cleanup"}
    )

    assert deleted.status_code == 200
    assert stack_client.get(URL, query_string=_key("gone")).status_code == 404
    event_id = deleted.get_json()["event_id"]
    event = find_events(stack.kafka_bootstrap, topic, {event_id})[event_id][0]
    assert event["value"]["event_type"] == "features.deleted"
    again = stack_client.delete(URL, query_string={**_key("gone"), "source": "x"})
    assert again.status_code == 404


def test_expired_record_reads_missing(stack_app, stack_client, monkeypatch):
    body = _body("short-lived", {"a": 1})
    body["meta"]["ttl_seconds"] = 1
    _post(stack_client, URL, body)
    now = datetime.datetime.now(datetime.UTC).timestamp()
    import time

    monkeypatch.setattr(time, "time", lambda: now + 5)

    single = stack_client.get(URL, query_string=_key("short-lived"))
    many = _post(stack_client, URL + "/batch-get", {"keys": [_key("short-lived")]})

    assert single.status_code == 404
    assert many.get_json()["missing"] == [_key("short-lived")]


def _credit_rows() -> list[dict[str, str]]:
    path = SHARED_CREDIT if SHARED_CREDIT.exists() else LOCAL_CREDIT
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _credit_item(row: dict[str, str]) -> dict:
    features = {}
    for column, cell in row.items():
        if column == "ID":
            continue
        name = column.lower().replace(" ", "_")
        if cell == "":
            features[name] = None
        elif cell.isdigit():
            features[name] = int(cell)
        else:
            features[name] = cell
    return {
        "entity_type": "german_credit_applicant",
        "entity_value": row["ID"],
        "category": "application",
        "features": features,
    }


def test_german_credit_through_batch(stack_client):
    rows = _credit_rows()
    items = [_credit_item(row) for row in rows]

    statuses = []
    for start in range(0, len(items), 500):
        body = {
            "meta": {"source": "german_credit"},
            "items": items[start : start + 500],
        }
        response = _post(stack_client, URL + "/batch", body)
        assert response.status_code == 200
        statuses += [result["status"] for result in response.get_json()["results"]]

    assert statuses == ["created"] * len(rows)
    sample = random.Random(3).sample(items, min(100, len(items)))
    keys = [
        {key: item[key] for key in ("entity_type", "entity_value", "category")}
        for item in sample
    ]
    read = _post(stack_client, URL + "/batch-get", {"keys": keys}).get_json()
    assert read["missing"] == []
    by_id = {record["key"]["entity_value"]: record for record in read["records"]}
    for item in sample:
        assert by_id[item["entity_value"]]["features"] == item["features"]


def test_batch_statuses_and_events_stack(stack, stack_app, stack_client):
    topic = stack_app.config["SETTINGS"].kafka_topic
    _post(stack_client, URL, _body("old", {"a": 1}, "2030-01-01T00:00:10Z"))
    items = [
        {**_key("b1"), "features": {"a": 1}},
        {**_key("old"), "features": {"a": 2}, "event_time": "2030-01-01T00:00:05Z"},
        {**_key("b2"), "features": {"a": {"nested": 1}}},
        {**_key("b3"), "features": {"a": 1}, "event_time": "2030-01-01T00:00:02Z"},
        {**_key("b3"), "features": {"a": 2}, "event_time": "2030-01-01T00:00:01Z"},
    ]

    response = _post(
        stack_client, URL + "/batch", {"meta": {"source": "t"}, "items": items}
    )

    results = response.get_json()["results"]
    assert [result["status"] for result in results] == [
        "created",
        "stale",
        "invalid",
        "created",
        "stale",
    ]
    applied = {results[0]["event_id"], results[3]["event_id"]}
    assert set(find_events(stack.kafka_bootstrap, topic, applied)) == applied
    b3 = stack_client.get(URL, query_string=_key("b3")).get_json()
    assert b3["features"] == {"a": 1}
    assert stack_client.get(URL, query_string=_key("b2")).status_code == 404


def test_delete_older_than_record_stack(stack_client):
    _post(stack_client, URL, _body("kept", {"a": 1}, "2030-01-01T00:00:10Z"))

    response = stack_client.delete(
        URL,
        query_string={
            **_key("kept"),
            "source": "cleanup",
            "event_time": "2030-01-01T00:00:09Z",
        },
    )

    assert response.status_code == 409
    assert stack_client.get(URL, query_string=_key("kept")).status_code == 200
