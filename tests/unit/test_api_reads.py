"""Reads, batch writes and deletes on moto's DynamoDB with a recording publisher."""

from __future__ import annotations

import copy
import json
import time

import pytest

from featurestore import jsonio

URL = "/api/v1/items"


def _post(client, path, body):
    return client.post(path, data=json.dumps(body), content_type="application/json")


def _write(client, seed, entity_value="user-1", category="d0", **features):
    body = copy.deepcopy(seed)
    body["data"].update(entity_value=entity_value, category=category)
    if features:
        body["data"]["features"] = features
    response = _post(client, URL, body)
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()


def _key(entity_value="user-1", category="d0"):
    return {
        "entity_type": "bright_uid",
        "entity_value": entity_value,
        "category": category,
    }


@pytest.mark.parametrize(
    "entity_value",
    [
        "a/b",
        "a#b",
        "100%",
        "what?x=1&y",
        "with space",
        "Zoë-東京-🚀",
        "a+b",
        "..",
        "%2F",
    ],
)
def test_read_any_entity_value(client, seed_request, entity_value):
    written = _write(client, seed_request, entity_value=entity_value)

    response = client.get(URL, query_string=_key(entity_value))

    assert response.status_code == 200
    body = response.get_json()
    assert body["key"]["entity_value"] == entity_value
    assert body["event_id"] == written["event_id"]


def test_read_keeps_types_and_text(client, seed_body):
    client.post(URL, data=seed_body, content_type="application/json")
    key = _key("postman_testing", "d0_unauth_features")

    response = client.get(URL, query_string=key)

    features = jsonio.loads(response.data)["features"]
    assert jsonio.dumps(features) == jsonio.dumps(
        jsonio.loads(seed_body)["data"]["features"]
    )
    assert features["is_verified"] is True
    assert type(features["credit_score"]) is int


def test_read_selected_features(client, seed_request):
    _write(client, seed_request, a=1, b=2, c=3)

    response = client.get(URL, query_string={**_key(), "features": "a,c,zz"})

    assert response.get_json()["features"] == {"a": 1, "c": 3}


def test_read_missing_is_404(client):
    response = client.get(URL, query_string=_key("nobody"))

    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
    assert "nobody" in response.get_json()["error"]["message"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"entity_type": "bright_uid", "category": "d0"}, "entity_value"),
        ({**_key(), "entity_value": ""}, "entity_value"),
        ({**_key(), "entity_value": "a\nb"}, "entity_value"),
        ({**_key(), "category": "D0"}, "category"),
        ({**_key(), "colour": "red"}, "colour"),
        ({**_key(), "features": "a b"}, "features"),
        ({**_key(), "features": "a,,b"}, "features"),
    ],
)
def test_read_invalid_query_is_400(client, query, field):
    response = client.get(URL, query_string=query)

    assert response.status_code == 400
    assert field in response.get_json()["error"]["details"]


def test_read_expired_record_is_missing(client, seed_request, monkeypatch):
    seed_request["meta"]["ttl_seconds"] = 60
    _write(client, seed_request)
    later = time.time() + 120
    monkeypatch.setattr(time, "time", lambda: later)

    response = client.get(URL, query_string=_key())

    assert response.status_code == 404


def test_read_entity_lists_categories(client, seed_request):
    _write(client, seed_request, category="a", x=1)
    _write(client, seed_request, category="b", y=2)
    _write(client, seed_request, entity_value="other", category="c", z=3)

    response = client.get(
        "/api/v1/entities",
        query_string={"entity_type": "bright_uid", "entity_value": "user-1"},
    )

    assert response.status_code == 200
    records = response.get_json()["records"]
    assert [record["key"]["category"] for record in records] == ["a", "b"]
    assert records[1]["features"] == {"y": 2}


def test_read_entity_none_is_empty(client):
    response = client.get(
        "/api/v1/entities",
        query_string={"entity_type": "bright_uid", "entity_value": "nobody"},
    )

    assert response.status_code == 200
    assert response.get_json()["records"] == []


def test_batch_get_found_and_missing(client, seed_request):
    _write(client, seed_request, entity_value="u1", f=1)
    _write(client, seed_request, entity_value="u2", f=2)
    keys = [_key("u2"), _key("nobody"), _key("u1"), _key("u2")]

    response = _post(client, URL + "/batch-get", {"keys": keys, "features": ["f"]})

    assert response.status_code == 200
    body = response.get_json()
    assert [record["key"]["entity_value"] for record in body["records"]] == [
        "u2",
        "u1",
    ]
    assert body["missing"] == [_key("nobody")]


def test_batch_get_over_100_keys_is_400(client):
    keys = [_key(f"u{number}") for number in range(101)]

    response = _post(client, URL + "/batch-get", {"keys": keys})

    assert response.status_code == 400
    assert "keys" in response.get_json()["error"]["details"]


def _batch(meta, *items):
    return {"meta": meta, "items": list(items)}


def _item(entity_value, category="d0", **extra):
    features = extra.pop("features", {"score": 1})
    return {
        "entity_type": "bright_uid",
        "entity_value": entity_value,
        "category": category,
        "features": features,
        **extra,
    }


def test_batch_write_results_in_order(client, publisher, seed_request):
    _write(client, seed_request, entity_value="existing", score=1)
    meta = {"source": "spark", "event_time": "2030-01-01T00:00:00Z"}
    body = _batch(
        meta,
        _item("new"),
        _item("existing", features={"score": 2}),
        _item("bad", features={}),
        _item("old", event_time="2020-01-01T00:00:00Z"),
    )

    response = _post(client, URL + "/batch", body)

    assert response.status_code == 200
    results = response.get_json()["results"]
    assert [result["status"] for result in results] == [
        "created",
        "updated",
        "invalid",
        "created",
    ]
    assert [result["index"] for result in results] == [0, 1, 2, 3]
    assert results[2]["error"]["details"] == {
        "features": ["Must contain at least one feature."]
    }
    assert results[3]["event_time"] == "2020-01-01T00:00:00.000000Z"
    assert response.get_json()["counts"] == {"created": 2, "updated": 1, "invalid": 1}
    published = {envelope["event_id"] for _, envelope in publisher.events}
    assert results[0]["event_id"] in published
    assert results[1]["event_id"] in published


def test_batch_write_replay_unchanged(client, publisher):
    body = _batch({"source": "spark", "compute_id": "job-1"}, _item("u1"))
    first = _post(client, URL + "/batch", body).get_json()["results"][0]

    again = _post(client, URL + "/batch", body).get_json()["results"][0]

    assert again["status"] == "unchanged"
    assert again["event_id"] == first["event_id"]
    assert len(publisher.events) == 2


def test_batch_write_stale_item(client):
    late = _batch({"source": "s", "event_time": "2030-01-01T00:00:00Z"}, _item("u1"))
    _post(client, URL + "/batch", late)
    early = _batch(
        {"source": "s", "event_time": "2029-01-01T00:00:00Z"},
        _item("u1", features={"score": 5}),
    )

    result = _post(client, URL + "/batch", early).get_json()["results"][0]

    assert result["status"] == "stale"
    assert result["error"]["stored_event_time"] == "2030-01-01T00:00:00.000000Z"


def test_batch_write_same_key_newest_wins(client, dynamodb):
    body = _batch(
        {"source": "s"},
        _item("u1", features={"score": 1}, event_time="2030-01-01T00:00:02Z"),
        _item("u1", features={"score": 2}, event_time="2030-01-01T00:00:03Z"),
        _item("u1", features={"score": 3}, event_time="2030-01-01T00:00:01Z"),
        _item("u1", features={"score": 4}, event_time="2030-01-01T00:00:03Z"),
    )

    results = _post(client, URL + "/batch", body).get_json()["results"]

    assert [result["status"] for result in results] == [
        "stale",
        "stale",
        "stale",
        "created",
    ]
    assert results[0]["error"]["code"] == "superseded"
    assert "Item 3" in results[1]["error"]["message"]
    stored = client.get(URL, query_string=_key("u1")).get_json()
    assert stored["features"] == {"score": 4}


def test_batch_write_kafka_failure_marks_failed(client, publisher):
    from featurestore.errors import KafkaUnavailable

    publisher.fail_with(KafkaUnavailable("no ack"))
    body = _batch({"source": "s"}, _item("u1"), _item("u2", features={"a": {}}))

    response = _post(client, URL + "/batch", body)

    results = response.get_json()["results"]
    assert [result["status"] for result in results] == ["failed", "invalid"]
    assert results[0]["error"]["code"] == "kafka_unavailable"
    assert response.headers["Retry-After"] == "1"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"meta": {"source": "s"}, "items": []}, "items"),
        ({"meta": {"source": "s"}, "items": [_item("u")] * 501}, "items"),
        ({"meta": {}, "items": [_item("u")]}, "meta.source"),
        ({"meta": {"source": "s"}, "items": [1]}, "items.0"),
        ({"meta": {"source": "s"}, "items": [_item("u")], "extra": 1}, "extra"),
    ],
)
def test_batch_write_invalid_body_is_400(client, body, field):
    response = _post(client, URL + "/batch", body)

    assert response.status_code == 400
    assert field in response.get_json()["error"]["details"]


def _delete(client, entity_value="user-1", **extra):
    return client.delete(
        URL, query_string={**_key(entity_value), "source": "cleanup", **extra}
    )


def test_delete_existing_publishes_event(client, publisher, seed_request):
    written = _write(client, seed_request)

    response = _delete(client)

    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "deleted"
    assert body["version"] == written["version"] + 1
    _, envelope = publisher.events[-1]
    assert envelope["event_type"] == "features.deleted"
    assert envelope["event_id"] == body["event_id"]
    assert "features" not in envelope
    assert client.get(URL, query_string=_key()).status_code == 404


def test_delete_missing_is_404(client, publisher):
    response = _delete(client, "nobody")

    assert response.status_code == 404
    assert publisher.events == []


def test_delete_twice_republishes_delete_event(client, publisher, seed_request):
    _write(client, seed_request)
    first = _delete(client).get_json()

    response = _delete(client)

    assert response.status_code == 404
    assert publisher.events[-1][1]["event_id"] == first["event_id"]


def test_delete_older_than_record_is_409(client, seed_request):
    seed_request["meta"]["event_time"] = "2030-01-01T00:00:00Z"
    _write(client, seed_request)

    response = _delete(client, event_time="2029-01-01T00:00:00Z")

    assert response.status_code == 409
    assert client.get(URL, query_string=_key()).status_code == 200


def test_write_after_delete_is_created(client, seed_request):
    _write(client, seed_request)
    deleted = _delete(client).get_json()

    body = _write(client, seed_request)

    assert body["status"] == "created"
    assert body["version"] == deleted["version"] + 1


def test_write_older_than_delete_is_409(client, seed_request):
    _delete_time = "2030-01-01T00:00:00Z"
    _write(client, seed_request)
    _delete(client, event_time=_delete_time)
    seed_request["meta"]["event_time"] = "2029-01-01T00:00:00Z"
    seed_request["data"].update(entity_value="user-1", category="d0")

    response = _post(client, URL, seed_request)

    assert response.status_code == 409


def test_batch_items_share_receive_time(client):
    body = _batch({"source": "s"}, *[_item(f"u{number}") for number in range(20)])

    results = _post(client, URL + "/batch", body).get_json()["results"]

    assert len({result["event_time"] for result in results}) == 1


def test_batch_oversized_item_does_not_supersede(client):
    big = {f"f{number}": "x" * 1000 for number in range(410)}
    body = _batch(
        {"source": "s"},
        _item("u1", features={"ok": 1}, event_time="2030-01-01T00:00:01Z"),
        _item("u1", features=big, event_time="2030-01-01T00:00:02Z"),
    )

    results = _post(client, URL + "/batch", body).get_json()["results"]

    assert [result["status"] for result in results] == ["created", "invalid"]
    assert results[1]["error"]["code"] == "payload_too_large"
    stored = client.get(URL, query_string=_key("u1")).get_json()
    assert stored["features"] == {"ok": 1}


def test_delete_stale_names_event_time_parameter(client, seed_request):
    seed_request["meta"]["event_time"] = "2030-01-01T00:00:00Z"
    _write(client, seed_request)

    response = _delete(client, event_time="2029-01-01T00:00:00Z")

    assert "event_time" in response.get_json()["error"]["details"]
