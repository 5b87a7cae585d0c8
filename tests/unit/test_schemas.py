"""Validation of write requests by WriteRequestSchema."""

from __future__ import annotations

import copy

import pytest
from marshmallow import ValidationError

from featurestore import jsonio
from featurestore.records import WriteRequest
from featurestore.schemas import WriteRequestSchema


def _load(body: dict):
    return WriteRequestSchema().load(jsonio.loads(jsonio.dumps(body)))


def _with(seed: dict, path: str, value) -> dict:
    body = copy.deepcopy(seed)
    *parents, last = path.split(".")
    target = body
    for part in parents:
        target = target[part]
    target[last] = value
    return body


def test_schema_loads_seed_request(seed_body):
    request = WriteRequestSchema().load(jsonio.loads(seed_body))

    assert isinstance(request, WriteRequest)
    assert request.key.entity_value == "postman_testing"
    assert request.meta.compute_id == "spark-job-2025-10-16-abc123"
    assert str(request.features["debt_to_income_ratio"]) == "0.35"
    assert request.features["is_verified"] is True


@pytest.mark.parametrize(
    ("path", "value", "error_path"),
    [
        ("data.entity_type", "Bright", ("data", "entity_type")),
        ("data.entity_type", "", ("data", "entity_type")),
        ("data.category", "d0 unauth", ("data", "category")),
        ("data.entity_value", "", ("data", "entity_value")),
        ("data.entity_value", "   ", ("data", "entity_value")),
        ("data.entity_value", "a\nb", ("data", "entity_value")),
        ("data.entity_value", "x" * 1025, ("data", "entity_value")),
        ("data.entity_value", "é" * 513, ("data", "entity_value")),
        ("data.entity_value", 42, ("data", "entity_value")),
        ("data.features", {}, ("data", "features")),
        ("data.features", [], ("data", "features")),
        ("data.featurez", {"a": 1}, ("data", "featurez")),
        ("meta.source", "", ("meta", "source")),
        ("meta.source", 7, ("meta", "source")),
        ("meta.unknown", "x", ("meta", "unknown")),
        ("meta.event_time", "2025-10-16T12:00:00", ("meta", "event_time")),
        ("meta.event_time", "yesterday", ("meta", "event_time")),
        ("meta.ttl_seconds", True, ("meta", "ttl_seconds")),
        ("meta.ttl_seconds", "60", ("meta", "ttl_seconds")),
        ("meta.ttl_seconds", 1.5, ("meta", "ttl_seconds")),
        ("meta.ttl_seconds", 0, ("meta", "ttl_seconds")),
    ],
)
def test_schema_rejects_invalid_field(seed_request, path, value, error_path):
    with pytest.raises(ValidationError) as caught:
        _load(_with(seed_request, path, value))

    messages = caught.value.messages
    assert error_path[1] in messages[error_path[0]]


@pytest.mark.parametrize(
    "value",
    [
        {"nested": 1},
        [1, [2]],
        [True, False],
        [None],
        jsonio.loads("1" + "0" * 37 + "1"),
        jsonio.loads("1." + "0" * 37 + "1"),
        jsonio.loads("1e-131"),
        jsonio.loads("1e126"),
        jsonio.loads("1e400"),
    ],
)
def test_schema_rejects_invalid_feature_value(seed_request, value):
    body = _with(seed_request, "data.features", {"bad": value})

    with pytest.raises(ValidationError) as caught:
        _load(body)

    assert "bad" in caught.value.messages["data"]["features"]


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        [],
        'quote " backslash \\ emoji 🚀 newline \n',
        jsonio.loads("-0.0"),
        jsonio.loads("9" * 38),
        jsonio.loads("1e-130"),
        jsonio.loads("9.9999999999999999999999999999999999999e125"),
        [jsonio.loads("0.1"), 2, "tag"],
    ],
)
def test_schema_accepts_valid_feature_value(seed_request, value):
    request = _load(_with(seed_request, "data.features", {"ok": value}))

    assert request.features["ok"] == value


@pytest.mark.parametrize("name", ["a.b", "a-b", "A_1", "status", "ttl"])
def test_schema_accepts_feature_name(seed_request, name):
    request = _load(_with(seed_request, "data.features", {name: 1}))

    assert list(request.features) == [name]


@pytest.mark.parametrize("name", ["", "a b", "a#b", "a:b", "x" * 256])
def test_schema_rejects_feature_name(seed_request, name):
    with pytest.raises(ValidationError) as caught:
        _load(_with(seed_request, "data.features", {name: 1}))

    assert name in caught.value.messages["data"]["features"]


def test_schema_reads_event_time_with_zone(seed_request):
    body = _with(seed_request, "meta.event_time", "2025-10-16T14:00:00+02:00")

    request = _load(body)

    assert request.meta.event_time.isoformat() == "2025-10-16T12:00:00+00:00"


def test_schema_ttl_with_zero_fraction_is_integer(seed_request):
    body = jsonio.dumps(seed_request).replace('"meta":{', '"meta":{"ttl_seconds":60.0,')

    request = WriteRequestSchema().load(jsonio.loads(body))

    assert request.meta.ttl_seconds == 60
    assert type(request.meta.ttl_seconds) is int
