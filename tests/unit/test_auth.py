"""API keys: authentication, scopes, sources and the rule for running without keys."""

from __future__ import annotations

import json
import logging

import pytest

from featurestore import auth, cli, create_app
from featurestore.clients import ClientRegistry
from featurestore.config import ConfigError

URL = "/api/v1/items"
WRITER_KEY = "fs_writer-test-key"
READER_KEY = "fs_reader-test-key"
KEYS = [
    {
        "name": "writer",
        "sha256": auth.hash_key(WRITER_KEY),
        "scopes": ["write", "read"],
        "sources": ["spark_batch"],
        "entity_types": ["bright_uid"],
    },
    {
        "name": "reader",
        "sha256": auth.hash_key(READER_KEY),
        "scopes": ["read"],
        "categories": ["d0"],
    },
]


@pytest.fixture
def keyed_client(aws, publisher):
    """A test client of the app with two API keys configured."""
    app = create_app({"dynamodb_endpoint": None, "api_keys": json.dumps(KEYS)})
    app.extensions["featurestore.clients"] = ClientRegistry(
        app.config["SETTINGS"], publisher_factory=lambda _: publisher
    )
    with app.app_context():
        cli.create_table()
    return app.test_client()


def _body(source="spark_batch", entity_type="bright_uid", category="d0") -> str:
    return json.dumps(
        {
            "meta": {"source": source},
            "data": {
                "entity_type": entity_type,
                "entity_value": "u1",
                "category": category,
                "features": {"a": 1},
            },
        }
    )


def _post(client, key=None, **body):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.post(
        URL, data=_body(**body), content_type="application/json", headers=headers
    )


def test_missing_key_is_401(keyed_client, publisher):
    response = _post(keyed_client)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert publisher.events == []


@pytest.mark.parametrize(
    "header", ["Bearer fs_nope", "Basic d3JpdGVyOng=", "Bearer ", WRITER_KEY]
)
def test_unknown_or_malformed_key_is_401(keyed_client, header):
    response = keyed_client.post(
        URL,
        data=_body(),
        content_type="application/json",
        headers={"Authorization": header},
    )

    assert response.status_code == 401


def test_writer_key_writes_as_its_source(keyed_client, publisher):
    response = _post(keyed_client, WRITER_KEY)

    assert response.status_code == 201
    assert len(publisher.events) == 1


def test_write_as_other_source_is_403(keyed_client, publisher):
    response = _post(keyed_client, WRITER_KEY, source="prediction_service")

    assert response.status_code == 403
    error = response.get_json()["error"]
    assert error["code"] == "forbidden"
    assert "meta.source" in error["details"]
    assert publisher.events == []


def test_write_outside_entity_types_is_403(keyed_client):
    response = _post(keyed_client, WRITER_KEY, entity_type="other")

    assert response.status_code == 403
    assert "entity type 'other'" in response.get_json()["error"]["message"]


def test_reader_key_cannot_write(keyed_client):
    response = _post(keyed_client, READER_KEY)

    assert response.status_code == 403
    assert "no write scope" in response.get_json()["error"]["message"]


def test_reader_key_limited_to_categories(keyed_client):
    _post(keyed_client, WRITER_KEY, category="d0")
    _post(keyed_client, WRITER_KEY, category="d1")
    headers = {"Authorization": f"Bearer {READER_KEY}"}
    key = {"entity_type": "bright_uid", "entity_value": "u1"}

    allowed = keyed_client.get(
        URL, query_string={**key, "category": "d0"}, headers=headers
    )
    denied = keyed_client.get(
        URL, query_string={**key, "category": "d1"}, headers=headers
    )
    entity = keyed_client.get("/api/v1/entities", query_string=key, headers=headers)

    assert allowed.status_code == 200
    assert denied.status_code == 403
    assert [r["key"]["category"] for r in entity.get_json()["records"]] == ["d0"]


def test_batch_outside_scope_is_403(keyed_client, publisher):
    body = {
        "meta": {"source": "spark_batch"},
        "items": [
            {
                "entity_type": "bright_uid",
                "entity_value": "u",
                "category": "c",
                "features": {"a": 1},
            },
            {
                "entity_type": "other",
                "entity_value": "u",
                "category": "c",
                "features": {"a": 1},
            },
        ],
    }

    response = keyed_client.post(
        URL + "/batch",
        data=json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {WRITER_KEY}"},
    )

    assert response.status_code == 403
    assert publisher.events == []


@pytest.mark.parametrize("path", ["/health", "/openapi.json", "/metrics", "/docs"])
def test_probes_and_docs_stay_open(keyed_client, path):
    assert keyed_client.get(path).status_code == 200


def test_metrics_can_require_key(aws):
    app = create_app({"api_keys": json.dumps(KEYS), "metrics_require_key": True})
    client = app.test_client()

    assert client.get("/metrics").status_code == 401
    assert (
        client.get(
            "/metrics", headers={"Authorization": f"Bearer {READER_KEY}"}
        ).status_code
        == 200
    )


def test_no_keys_on_loopback_logs_auth_off(caplog):
    with caplog.at_level(logging.INFO, logger="featurestore.auth"):
        create_app({"bind": "127.0.0.1:8015"})

    assert "authentication is off" in caplog.text


def test_no_keys_on_public_address_refuses_to_start():
    with pytest.raises(ConfigError, match="FEATURESTORE_AUTH_DISABLED"):
        create_app({"bind": "0.0.0.0:8015"})


def test_auth_disabled_on_public_address_warns(caplog):
    with caplog.at_level(logging.WARNING, logger="featurestore.auth"):
        create_app({"bind": "0.0.0.0:8015", "auth_disabled": True})

    assert "authentication is disabled" in caplog.text


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ({"name": "x", "sha256": "ab", "scopes": ["read"]}, "sha256"),
        ({"name": "x", "sha256": "a" * 64, "scopes": ["admin"]}, "scopes"),
        ({"name": "x", "sha256": "a" * 64, "scopes": ["write"]}, "source"),
        ({"name": "x", "sha256": "a" * 64, "scopes": ["read"], "extra": 1}, "unknown"),
    ],
)
def test_invalid_key_entry_stops_start(entry, fragment):
    with pytest.raises(ConfigError, match=fragment):
        create_app({"api_keys": json.dumps([entry])})


def test_key_hashes_never_logged_or_shown(capsys):
    app = create_app({"api_keys": json.dumps(KEYS)})

    shown = json.dumps(app.config["SETTINGS"].masked())

    assert KEYS[0]["sha256"] not in shown
    assert WRITER_KEY not in capsys.readouterr().out


def test_log_line_cannot_be_forged(client):
    import io

    handler = next(
        h for h in logging.getLogger().handlers if getattr(h, "_featurestore", False)
    )
    stream = io.StringIO()
    original = handler.setStream(stream)
    try:
        client.get('/no/such\n{"level": "CRITICAL"}')
    finally:
        handler.setStream(original)

    lines = [line for line in stream.getvalue().splitlines() if "no/such" in line]
    assert len(lines) == 1
    assert json.loads(lines[0])["level"] == "INFO"
