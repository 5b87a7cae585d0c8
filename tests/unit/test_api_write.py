"""POST /api/v1/items on moto's DynamoDB with a recording publisher."""

from __future__ import annotations

import copy
import json

import pytest

from featurestore import jsonio
from featurestore.errors import KafkaUnavailable

URL = "/api/v1/items"


def _post(client, body, **kwargs):
    text = body if isinstance(body, str) else json.dumps(body)
    return client.post(URL, data=text, content_type="application/json", **kwargs)


def _stored_item(dynamodb, entity_id="bright_uid#postman_testing", category=None):
    response = dynamodb.get_item(
        TableName="features",
        Key={"pk": {"S": entity_id}, "sk": {"S": category or "d0_unauth_features"}},
        ConsistentRead=True,
    )
    return response.get("Item")


def test_write_seed_request_created(client, dynamodb, publisher, seed_body):
    response = _post(client, seed_body)

    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "created"
    assert body["version"] == 1
    assert body["key"] == {
        "entity_type": "bright_uid",
        "entity_value": "postman_testing",
        "category": "d0_unauth_features",
    }
    item = _stored_item(dynamodb)
    assert item["features"]["M"]["debt_to_income_ratio"] == {"N": "0.35"}
    assert item["features"]["M"]["is_verified"] == {"BOOL": True}
    assert item["features"]["M"]["credit_score"] == {"N": "750"}
    assert item["event_id"]["S"] == body["event_id"]


def test_write_publishes_envelope(client, publisher, seed_body):
    response = _post(client, seed_body, headers={"X-Request-ID": "req-1"})

    assert len(publisher.events) == 1
    key, envelope = publisher.events[0]
    assert key == "bright_uid#postman_testing"
    assert envelope["event_id"] == response.get_json()["event_id"]
    assert envelope["event_type"] == "features.written"
    assert envelope["meta"] == {
        "source": "prediction_service",
        "compute_id": "spark-job-2025-10-16-abc123",
        "request_id": "req-1",
    }
    assert jsonio.dumps(envelope["features"]) == jsonio.dumps(
        jsonio.loads(seed_body)["data"]["features"]
    )


def test_write_same_request_again_is_replay(client, publisher, seed_body):
    first = _post(client, seed_body).get_json()

    response = _post(client, seed_body)

    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "unchanged"
    assert body["event_id"] == first["event_id"]
    assert body["version"] == first["version"]
    assert [envelope["event_id"] for _, envelope in publisher.events] == [
        first["event_id"],
        first["event_id"],
    ]


def test_write_changed_features_updates(client, dynamodb, seed_request):
    first = _post(client, seed_request).get_json()
    seed_request["data"]["features"]["credit_score"] = 700

    response = _post(client, seed_request)

    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "updated"
    assert body["version"] == 2
    assert body["event_id"] != first["event_id"]
    assert _stored_item(dynamodb)["features"]["M"]["credit_score"] == {"N": "700"}


def test_write_replaces_whole_feature_map(client, dynamodb, seed_request):
    _post(client, seed_request)
    seed_request["data"]["features"] = {"only": 1}

    _post(client, seed_request)

    assert list(_stored_item(dynamodb)["features"]["M"]) == ["only"]


def test_write_older_event_time_is_stale(client, dynamodb, publisher, seed_request):
    seed_request["meta"]["event_time"] = "2025-10-16T12:00:00Z"
    _post(client, seed_request)
    older = copy.deepcopy(seed_request)
    older["meta"]["event_time"] = "2025-10-16T11:00:00Z"
    older["data"]["features"]["credit_score"] = 1

    response = _post(client, older)

    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "stale_write"
    assert error["stored_event_time"] == "2025-10-16T12:00:00.000000Z"
    assert _stored_item(dynamodb)["features"]["M"]["credit_score"] == {"N": "750"}
    assert len(publisher.events) == 1


def test_write_equal_event_time_later_wins(client, dynamodb, seed_request):
    seed_request["meta"]["event_time"] = "2025-10-16T12:00:00Z"
    _post(client, seed_request)
    seed_request["data"]["features"]["credit_score"] = 1

    response = _post(client, seed_request)

    assert response.status_code == 200
    assert response.get_json()["status"] == "updated"
    assert _stored_item(dynamodb)["features"]["M"]["credit_score"] == {"N": "1"}


def test_write_event_time_normalised_to_utc(client, seed_request):
    seed_request["meta"]["event_time"] = "2025-10-16T14:00:00.5+02:00"

    body = _post(client, seed_request).get_json()

    assert body["event_time"] == "2025-10-16T12:00:00.500000Z"


@pytest.mark.parametrize(
    "text",
    [
        "0.1",
        "1.1",
        "33.10318374633789",
        "0.30000000000000004",
        "1e-07",
        "-0.0",
        "-0",
        "50000.0",
    ],
)
def test_write_number_text_survives(client, dynamodb, publisher, seed_request, text):
    body = json.dumps(seed_request).replace("0.35", text)

    _post(client, body)

    item = _stored_item(dynamodb)
    from featurestore.values import features_from_item

    restored = features_from_item(item)["debt_to_income_ratio"]
    assert jsonio.dumps(restored) == text
    _, envelope = publisher.events[0]
    assert jsonio.dumps(envelope["features"]["debt_to_income_ratio"]) == text


def test_write_ttl_sets_expiry(client, dynamodb, seed_request):
    seed_request["meta"]["ttl_seconds"] = 3600

    _post(client, seed_request)

    item = _stored_item(dynamodb)
    written_at = item["written_at"]["S"]
    assert int(item["expires_at"]["N"]) > 0
    assert written_at.endswith("Z")


def test_write_kafka_failure_is_503(client, dynamodb, publisher, seed_body):
    publisher.fail_with(KafkaUnavailable("Kafka did not acknowledge the event"))

    response = _post(client, seed_body)

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.get_json()["error"]["code"] == "kafka_unavailable"


def test_write_retry_after_kafka_failure_republishes(client, publisher, seed_body):
    publisher.fail_with(KafkaUnavailable("Kafka did not acknowledge the event"))
    _post(client, seed_body)
    publisher.fail_with(None)

    response = _post(client, seed_body)

    assert response.status_code == 200
    assert response.get_json()["status"] == "unchanged"
    assert publisher.events[0][1]["event_id"] == response.get_json()["event_id"]


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_write_non_finite_token_names_field(
    client, dynamodb, publisher, seed_body, token
):
    body = seed_body.replace("0.35", token)

    response = client.post(URL, data=body, content_type="application/json")

    assert response.status_code == 400
    details = response.get_json()["error"]["details"]
    assert details["data.features.debt_to_income_ratio"] == [
        "Use a finite number: NaN and Infinity are not JSON numbers."
    ]
    assert _stored_item(dynamodb) is None
    assert publisher.events == []


def test_write_unknown_field_path_in_details(client, dynamodb, seed_request):
    seed_request["data"]["featurez"] = seed_request["data"].pop("features")

    response = _post(client, seed_request)

    assert response.status_code == 400
    details = response.get_json()["error"]["details"]
    assert details["data.featurez"] == ["Unknown field."]
    assert details["data.features"] == ["Missing data for required field."]
    assert _stored_item(dynamodb) is None


@pytest.mark.parametrize(
    ("body", "content_type", "status", "fragment"),
    [
        ("{", "application/json", 400, "not valid JSON"),
        ("", "application/json", 400, "empty"),
        ("null", "application/json", 400, "JSON null"),
        ("[1]", "application/json", 400, "JSON array"),
        ('"x"', "application/json", 400, "JSON string"),
        ("{}", "text/plain", 415, "Content-Type"),
        ("{}", None, 415, "Content-Type"),
    ],
)
def test_write_unusable_body_rejected(client, body, content_type, status, fragment):
    response = client.post(URL, data=body, content_type=content_type)

    assert response.status_code == status
    assert fragment in response.get_json()["error"]["message"]


def test_write_body_over_limit_is_413(app, client, seed_request):
    app.config["MAX_CONTENT_LENGTH"] = 100

    response = _post(client, seed_request)

    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"


def test_write_record_over_item_limit_is_413(client, dynamodb, seed_request):
    seed_request["data"]["features"] = {f"f{i}": "x" * 1000 for i in range(410)}

    response = _post(client, seed_request)

    assert response.status_code == 413
    assert "409600" in response.get_json()["error"]["message"]
    assert _stored_item(dynamodb) is None


def test_request_id_echoed(client):
    response = client.get("/health", headers={"X-Request-ID": "abc-123"})

    assert response.headers["X-Request-ID"] == "abc-123"


def test_request_id_with_newline_replaced(client):
    response = client.get("/health", headers={"X-Request-ID": "abc\tforged"})

    assert response.headers["X-Request-ID"] != "abc\tforged"
    assert len(response.headers["X-Request-ID"]) == 32


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/nope", 404, "not_found"),
        ("PUT", URL, 405, "method_not_allowed"),
        ("GET", URL + "/batch", 405, "method_not_allowed"),
    ],
)
def test_routing_errors_are_json(client, method, path, status, code):
    response = client.open(path, method=method)

    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code


def test_openapi_documents_write(client):
    document = client.get("/openapi.json").get_json()

    responses = document["paths"][URL]["post"]["responses"]
    assert {"200", "201", "400", "409", "413", "415", "503"} <= set(responses)


def test_write_event_over_kafka_limit_is_413(app, client, dynamodb, seed_request):
    app.config["SETTINGS"] = app.config["SETTINGS"].__class__(
        kafka_max_message_bytes=5000
    )
    seed_request["data"]["features"] = {"text": "x" * 2000}

    response = _post(client, seed_request)

    assert response.status_code == 413
    assert "5000" in response.get_json()["error"]["message"]
    assert _stored_item(dynamodb) is None


@pytest.mark.parametrize("path", ["/health", "/nope", "/openapi.json"])
def test_security_headers_on_json(client, path):
    response = client.get(path)

    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


def test_error_has_no_stack_trace(app, client, monkeypatch):
    from featurestore import service

    def broken(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(service, "write", broken)
    response = client.post(
        URL, data=json.dumps(_seed()), content_type="application/json"
    )

    assert response.status_code == 500
    assert b"secret internal detail" not in response.data
    assert b"Traceback" not in response.data
    assert response.get_json()["error"]["code"] == "internal_error"


def _seed():
    return {
        "meta": {"source": "s"},
        "data": {
            "entity_type": "t",
            "entity_value": "v",
            "category": "c",
            "features": {"a": 1},
        },
    }
