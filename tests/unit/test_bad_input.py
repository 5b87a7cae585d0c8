"""Every kind of bad input: a precise 4xx, nothing stored and nothing published.

Each case gives the request, the status, the error code, the field path expected in
``details`` (None for errors of the whole body) and a fragment of the message.
"""

from __future__ import annotations

import json

import pytest

URL = "/api/v1/items"
SEED = {
    "meta": {"source": "prediction_service", "compute_id": "job-1"},
    "data": {
        "entity_type": "bright_uid",
        "entity_value": "user-1",
        "category": "d0",
        "features": {"credit_score": 750, "ratio": 0.35},
    },
}


def _seed_with(path: str, value, *, delete: bool = False) -> str:
    body = json.loads(json.dumps(SEED))
    *parents, last = path.split(".")
    target = body
    for part in parents:
        target = target[part]
    if delete:
        del target[last]
    else:
        target[last] = value
    return json.dumps(body)


def _features(text: str) -> str:
    """The seed body with its feature map replaced by raw JSON text."""
    return json.dumps(SEED).replace('{"credit_score": 750, "ratio": 0.35}', text)


WRITE_CASES = [
    # Bodies
    (
        "truncated JSON",
        '{"meta": {"source": "x"',
        "application/json",
        400,
        "invalid_request",
        None,
        "not valid JSON",
    ),
    (
        "not UTF-8",
        b'{"meta": "\xff\xfe"}',
        "application/json",
        400,
        "invalid_request",
        None,
        "not UTF-8",
    ),
    ("empty body", "", "application/json", 400, "invalid_request", None, "empty"),
    ("blank body", "  \n ", "application/json", 400, "invalid_request", None, "empty"),
    (
        "null body",
        "null",
        "application/json",
        400,
        "invalid_request",
        None,
        "JSON null",
    ),
    (
        "array body",
        "[]",
        "application/json",
        400,
        "invalid_request",
        None,
        "JSON array",
    ),
    (
        "string body",
        '"x"',
        "application/json",
        400,
        "invalid_request",
        None,
        "JSON string",
    ),
    (
        "number body",
        "7",
        "application/json",
        400,
        "invalid_request",
        None,
        "JSON number",
    ),
    (
        "no content type",
        json.dumps(SEED),
        None,
        415,
        "unsupported_media_type",
        None,
        "Content-Type",
    ),
    (
        "form content type",
        json.dumps(SEED),
        "application/x-www-form-urlencoded",
        415,
        "unsupported_media_type",
        None,
        "Content-Type",
    ),
    (
        "text content type",
        json.dumps(SEED),
        "text/plain",
        415,
        "unsupported_media_type",
        None,
        "Content-Type",
    ),
    (
        "deep nesting",
        "[" * 50_000 + "]" * 50_000,
        "application/json",
        400,
        "invalid_request",
        None,
        "nested too deeply",
    ),
    # Fields
    (
        "misspelt features",
        json.dumps(SEED).replace('"features"', '"featurez"'),
        "application/json",
        400,
        "invalid_request",
        "data.featurez",
        "Unknown field",
    ),
    (
        "unknown top field",
        _seed_with("extra", 1),
        "application/json",
        400,
        "invalid_request",
        "extra",
        "Unknown field",
    ),
    (
        "unknown meta field",
        _seed_with("meta.sorce", "x"),
        "application/json",
        400,
        "invalid_request",
        "meta.sorce",
        "Unknown field",
    ),
    (
        "missing meta",
        _seed_with("meta", None, delete=True),
        "application/json",
        400,
        "invalid_request",
        "meta",
        "Missing data",
    ),
    (
        "missing source",
        _seed_with("meta.source", None, delete=True),
        "application/json",
        400,
        "invalid_request",
        "meta.source",
        "Missing data",
    ),
    (
        "missing category",
        _seed_with("data.category", None, delete=True),
        "application/json",
        400,
        "invalid_request",
        "data.category",
        "Missing data",
    ),
    (
        "source number",
        _seed_with("meta.source", 1),
        "application/json",
        400,
        "invalid_request",
        "meta.source",
        "Not a valid string",
    ),
    (
        "source null",
        _seed_with("meta.source", None),
        "application/json",
        400,
        "invalid_request",
        "meta.source",
        "may not be null",
    ),
    (
        "ttl boolean",
        _seed_with("meta.ttl_seconds", True),
        "application/json",
        400,
        "invalid_request",
        "meta.ttl_seconds",
        "Not a valid integer",
    ),
    (
        "ttl string",
        _seed_with("meta.ttl_seconds", "750"),
        "application/json",
        400,
        "invalid_request",
        "meta.ttl_seconds",
        "Not a valid integer",
    ),
    (
        "ttl fraction",
        _seed_with("meta.ttl_seconds", 1.5),
        "application/json",
        400,
        "invalid_request",
        "meta.ttl_seconds",
        "Not a valid integer",
    ),
    (
        "event time number",
        _seed_with("meta.event_time", 1700000000),
        "application/json",
        400,
        "invalid_request",
        "meta.event_time",
        "Not a valid RFC 3339 time",
    ),
    (
        "event time naive",
        _seed_with("meta.event_time", "2025-10-16T12:00:00"),
        "application/json",
        400,
        "invalid_request",
        "meta.event_time",
        "has no zone",
    ),
    (
        "data string",
        _seed_with("data", "x"),
        "application/json",
        400,
        "invalid_request",
        "data",
        "Invalid input type",
    ),
    (
        "features list",
        _seed_with("data.features", [1]),
        "application/json",
        400,
        "invalid_request",
        "data.features",
        "feature names",
    ),
    (
        "features empty",
        _seed_with("data.features", {}),
        "application/json",
        400,
        "invalid_request",
        "data.features",
        "at least one",
    ),
    # Keys
    (
        "empty entity value",
        _seed_with("data.entity_value", ""),
        "application/json",
        400,
        "invalid_request",
        "data.entity_value",
        "Length",
    ),
    (
        "blank entity value",
        _seed_with("data.entity_value", "   "),
        "application/json",
        400,
        "invalid_request",
        "data.entity_value",
        "not blank",
    ),
    (
        "newline in entity value",
        _seed_with("data.entity_value", "a\nb"),
        "application/json",
        400,
        "invalid_request",
        "data.entity_value",
        "control characters",
    ),
    (
        "NUL in entity value",
        _seed_with("data.entity_value", "a\u0000b"),
        "application/json",
        400,
        "invalid_request",
        "data.entity_value",
        "control characters",
    ),
    (
        "entity value 1025 bytes",
        _seed_with("data.entity_value", "x" * 1025),
        "application/json",
        400,
        "invalid_request",
        "data.entity_value",
        "Length",
    ),
    (
        "entity value 1026 UTF-8 bytes",
        _seed_with("data.entity_value", "é" * 513),
        "application/json",
        400,
        "invalid_request",
        "data.entity_value",
        "1024 bytes",
    ),
    (
        "upper-case entity type",
        _seed_with("data.entity_type", "Bright"),
        "application/json",
        400,
        "invalid_request",
        "data.entity_type",
        "lowercase",
    ),
    (
        "entity type 65 chars",
        _seed_with("data.entity_type", "a" * 65),
        "application/json",
        400,
        "invalid_request",
        "data.entity_type",
        "1 to 64",
    ),
    (
        "category trailing newline",
        _seed_with("data.category", "d0\n"),
        "application/json",
        400,
        "invalid_request",
        "data.category",
        "1 to 64",
    ),
    (
        "lone surrogate in entity value",
        json.dumps(SEED).replace("user-1", "user\\ud800"),
        "application/json",
        400,
        "invalid_request",
        "data.entity_value",
        "lone",
    ),
    (
        "lone surrogate in source",
        json.dumps(SEED).replace("prediction_service", "x\\udfff"),
        "application/json",
        400,
        "invalid_request",
        "meta.source",
        "lone",
    ),
    (
        "lone surrogate in feature name",
        _features('{"a\\udc00": 1}'),
        "application/json",
        400,
        "invalid_request",
        "data.features.a\\udc00",
        "lone",
    ),
    (
        "lone surrogate in list",
        _features('{"tags": ["ok", "\\ud800"]}'),
        "application/json",
        400,
        "invalid_request",
        "data.features.tags.1",
        "lone",
    ),
    # Feature names
    (
        "feature name space",
        _features('{"a b": 1}'),
        "application/json",
        400,
        "invalid_request",
        "data.features.a b",
        "Invalid feature name",
    ),
    (
        "feature name hash",
        _features('{"a#b": 1}'),
        "application/json",
        400,
        "invalid_request",
        "data.features.a#b",
        "Invalid feature name",
    ),
    (
        "feature name colon",
        _features('{"a:b": 1}'),
        "application/json",
        400,
        "invalid_request",
        "data.features.a:b",
        "Invalid feature name",
    ),
    (
        "feature name 256 chars",
        _features('{"' + "a" * 256 + '": 1}'),
        "application/json",
        400,
        "invalid_request",
        "data.features." + "a" * 256,
        "Invalid feature name",
    ),
    # Values and numbers
    (
        "nested object value",
        _features('{"f": {"a": 1}}'),
        "application/json",
        400,
        "invalid_request",
        "data.features.f",
        "objects are not feature values",
    ),
    (
        "nested list value",
        _features('{"f": [[1]]}'),
        "application/json",
        400,
        "invalid_request",
        "data.features.f",
        "flat list",
    ),
    (
        "boolean in list",
        _features('{"f": [true]}'),
        "application/json",
        400,
        "invalid_request",
        "data.features.f",
        "flat list",
    ),
    (
        "NaN token",
        _features('{"f": NaN}'),
        "application/json",
        400,
        "invalid_request",
        "data.features.f",
        "finite number",
    ),
    (
        "Infinity token",
        _features('{"f": Infinity}'),
        "application/json",
        400,
        "invalid_request",
        "data.features.f",
        "finite number",
    ),
    (
        "-Infinity in list",
        _features('{"f": [1, -Infinity]}'),
        "application/json",
        400,
        "invalid_request",
        "data.features.f",
        "finite number",
    ),
    (
        "double overflow",
        _features('{"f": 1e400}'),
        "application/json",
        400,
        "invalid_request",
        "data.features.f",
        "magnitude",
    ),
    (
        "39 digits",
        _features('{"f": 123456789012345678901234567890123456789}'),
        "application/json",
        400,
        "invalid_request",
        "data.features.f",
        "38 significant digits",
    ),
    (
        "39 digit fraction",
        _features('{"f": 1.00000000000000000000000000000000000001}'),
        "application/json",
        400,
        "invalid_request",
        "data.features.f",
        "38 significant digits",
    ),
    (
        "below 1e-130",
        _features('{"f": 1e-131}'),
        "application/json",
        400,
        "invalid_request",
        "data.features.f",
        "magnitude",
    ),
    (
        "above 9.99e125",
        _features('{"f": 1e126}'),
        "application/json",
        400,
        "invalid_request",
        "data.features.f",
        "magnitude",
    ),
    # Sizes
    (
        "record over 400 KB",
        _features(json.dumps({f"f{i}": "x" * 1000 for i in range(410)})),
        "application/json",
        413,
        "payload_too_large",
        None,
        "409600 byte item limit",
    ),
]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code", "path", "fragment"),
    [case[1:] for case in WRITE_CASES],
    ids=[case[0] for case in WRITE_CASES],
)
def test_bad_write_rejected(
    client, dynamodb, publisher, body, content_type, status, code, path, fragment
):
    response = client.post(URL, data=body, content_type=content_type)

    assert response.status_code == status
    error = response.get_json()["error"]
    assert error["code"] == code
    if path is None:
        assert fragment in error["message"]
    else:
        assert path in error["details"], error["details"]
        assert any(fragment in message for message in error["details"][path])
    assert dynamodb.scan(TableName="features")["Count"] == 0
    assert publisher.events == []


READ_CASES = [
    (
        "repeated parameter",
        {"entity_type": "t", "entity_value": ["v", "w"], "category": "c"},
        "entity_value",
        "more than once",
    ),
    (
        "missing entity value",
        {"entity_type": "t", "category": "c"},
        "entity_value",
        "Missing data",
    ),
    (
        "empty entity value",
        {"entity_type": "t", "entity_value": "", "category": "c"},
        "entity_value",
        "Length",
    ),
    (
        "tab in entity value",
        {"entity_type": "t", "entity_value": "a\tb", "category": "c"},
        "entity_value",
        "control characters",
    ),
    (
        "entity value 1026 UTF-8 bytes",
        {"entity_type": "t", "entity_value": "é" * 513, "category": "c"},
        "entity_value",
        "1024 bytes",
    ),
    (
        "bad category",
        {"entity_type": "t", "entity_value": "v", "category": "C!"},
        "category",
        "1 to 64",
    ),
    (
        "unknown parameter",
        {"entity_type": "t", "entity_value": "v", "category": "c", "featurs": "a"},
        "featurs",
        "Unknown field",
    ),
    (
        "bad feature list",
        {"entity_type": "t", "entity_value": "v", "category": "c", "features": "a,,b"},
        "features",
        "separated by commas",
    ),
]


KEY_CASES = [
    pytest.param(method, query, path, fragment, id=f"{method}-{name}")
    for method in ("GET", "DELETE")
    for name, query, path, fragment in READ_CASES
    # A delete takes no feature list, so its "features" is an unknown field.
    if not (method == "DELETE" and "features" in query)
]


@pytest.mark.parametrize(("method", "query", "path", "fragment"), KEY_CASES)
def test_bad_key_rejected_before_dynamodb(
    client, publisher, monkeypatch, method, query, path, fragment
):
    if method == "DELETE":
        query = {**query, "source": "cleanup"}
    calls = []
    registry = client.application.extensions["featurestore.clients"]
    monkeypatch.setattr(registry, "dynamodb", lambda: calls.append("dynamodb"))

    response = client.open(URL, method=method, query_string=query)

    assert response.status_code == 400
    details = response.get_json()["error"]["details"]
    assert any(fragment in message for message in details[path])
    assert calls == []
    assert publisher.events == []


@pytest.mark.parametrize(
    "value_text",
    [
        '""',
        "[]",
        "null",
        '"quote \\" backslash \\\\ emoji \\ud83d\\ude80 newline \\n"',
        "-0.0",
        "-0",
        "99999999999999999999999999999999999999",
        "0.1",
        "1.1",
        "33.10318374633789",
        "0.30000000000000004",
        "1e-07",
        "1e-130",
        "9.9999999999999999999999999999999999999e125",
    ],
)
def test_valid_value_round_trip(client, publisher, value_text):
    from featurestore import jsonio

    body = _features('{"value": ' + value_text + "}")
    written = client.post(URL, data=body, content_type="application/json")

    read = client.get(
        URL,
        query_string={
            "entity_type": "bright_uid",
            "entity_value": "user-1",
            "category": "d0",
        },
    )

    assert written.status_code == 201
    expected = jsonio.dumps(jsonio.loads(value_text))
    assert jsonio.dumps(jsonio.loads(read.data)["features"]["value"]) == expected
    assert jsonio.dumps(publisher.events[0][1]["features"]["value"]) == expected


def test_error_details_are_bounded(client):
    features = {f"bad name {number} " + "x" * 500: 1 for number in range(300)}
    body = json.loads(json.dumps(SEED))
    body["data"]["features"] = features

    response = client.post(URL, data=json.dumps(body), content_type="application/json")

    details = response.get_json()["error"]["details"]
    assert response.status_code == 400
    assert len(details) == 101
    assert "200 more fields" in details["_more"][0]
    assert max(len(path) for path in details) <= 303
    assert len(response.data) < 50_000
