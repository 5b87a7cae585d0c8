"""The write path: store a record in DynamoDB, then publish its event to Kafka."""

from __future__ import annotations

import datetime
import logging

from flask import current_app

from featurestore import jsonio
from featurestore.clients import ClientRegistry
from featurestore.config import Settings
from featurestore.events import build_envelope, check_event_size
from featurestore.records import WriteOutcome, WriteRequest
from featurestore.store import FeatureStore

logger = logging.getLogger(__name__)


def _registry() -> ClientRegistry:
    return current_app.extensions["featurestore.clients"]


def _settings() -> Settings:
    return current_app.config["SETTINGS"]


def write(request: WriteRequest, *, request_id: str | None) -> WriteOutcome:
    """Store one record and publish its event; return what the write did.

    A replay publishes the stored event again under its original event id, so that an
    event whose publication failed after the record was stored is sent on retry.
    Raises StaleWrite, PayloadTooLarge, DynamoDBUnavailable or KafkaUnavailable.
    """
    settings = _settings()
    check_event_size(jsonio.dumps(request.features), settings)

    registry = _registry()
    store = FeatureStore(registry.dynamodb(), settings.dynamodb_table)
    now = datetime.datetime.now(datetime.UTC)
    outcome = store.write(request, request_id=request_id, now=now)

    record = outcome.record
    registry.publisher().publish(record.key.entity_id, build_envelope(record))
    return outcome
