"""The event envelope and the producer settings."""

from __future__ import annotations

from featurestore import jsonio
from featurestore.config import load_settings
from featurestore.events import build_envelope, producer_config
from featurestore.records import RecordKey, StoredRecord


def _record() -> StoredRecord:
    return StoredRecord(
        key=RecordKey("bright_uid", "user/1#a", "d0"),
        features={"ratio": jsonio.loads("0.35"), "ok": True},
        event_time="2025-10-16T12:00:00.000000Z",
        version=3,
        event_id="e-1",
        source="spark",
        compute_id="job-1",
        request_id="req-1",
    )


def test_envelope_has_contract_fields():
    envelope = build_envelope(_record())

    assert envelope == {
        "event_id": "e-1",
        "event_type": "features.written",
        "schema_version": 1,
        "key": {
            "entity_type": "bright_uid",
            "entity_value": "user/1#a",
            "category": "d0",
        },
        "event_time": "2025-10-16T12:00:00.000000Z",
        "meta": {"source": "spark", "compute_id": "job-1", "request_id": "req-1"},
        "version": 3,
        "features": {"ratio": jsonio.loads("0.35"), "ok": True},
    }


def test_envelope_keeps_number_text():
    text = jsonio.dumps(build_envelope(_record()))

    assert '"ratio":0.35' in text


def test_deleted_envelope_has_no_features():
    envelope = build_envelope(_record(), "features.deleted")

    assert "features" not in envelope
    assert envelope["event_type"] == "features.deleted"


def test_producer_waits_for_all_replicas():
    config = producer_config(load_settings({}))

    assert config["acks"] == "all"
    assert config["enable.idempotence"] is True
    assert config["message.timeout.ms"] == 5000


def test_producer_passthrough_overrides_defaults():
    settings = load_settings({"FEATURESTORE_LIBRDKAFKA_LINGER_MS": "20"})

    assert producer_config(settings)["linger.ms"] == "20"
