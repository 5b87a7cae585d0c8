"""The operations of the API: each stores in DynamoDB, then publishes to Kafka.

Every change is applied by one conditional DynamoDB update and then published; a
caller gets a result only after Kafka acknowledged the event.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import time
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from flask import current_app

from featurestore import jsonio, metrics
from featurestore.clients import ClientRegistry
from featurestore.config import Settings
from featurestore.errors import FeatureStoreError, NotFound, StaleWrite
from featurestore.events import DELETED, Publisher, build_envelope, check_event_size
from featurestore.items import check_record_size
from featurestore.reads import RecordReader
from featurestore.records import (
    RecordKey,
    StoredRecord,
    WriteMeta,
    WriteOutcome,
    WriteRequest,
)
from featurestore.store import FeatureStore

logger = logging.getLogger(__name__)


def _registry() -> ClientRegistry:
    return current_app.extensions["featurestore.clients"]


def _settings() -> Settings:
    return current_app.config["SETTINGS"]


def retry_after_seconds() -> int:
    """Return the seconds a client should wait before retrying failed work."""
    return _settings().retry_after_seconds


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _store(settings: Settings, registry: ClientRegistry) -> FeatureStore:
    return FeatureStore(
        registry.dynamodb(),
        settings.dynamodb_table,
        tombstone_seconds=settings.tombstone_retention_seconds,
    )


def _reader() -> RecordReader:
    return RecordReader(_registry().dynamodb(), _settings().dynamodb_table)


def _apply_write(
    store: FeatureStore,
    publisher: Publisher,
    registry: ClientRegistry,
    request: WriteRequest,
    request_id: str | None,
    now: datetime.datetime,
) -> tuple[WriteOutcome, Future[None]]:
    """Store one write and queue its event; return the outcome and delivery future.

    The record's lock is held until the event is queued, so that this process
    publishes the events of one record in the order DynamoDB applied them.
    """
    with registry.key_lock(request.key.entity_id + "#" + request.key.category):
        outcome = store.write(request, request_id=request_id, now=now)
        record = outcome.record
        delivered = publisher.send(record.key.entity_id, build_envelope(record))
    return outcome, delivered


def write(request: WriteRequest, *, request_id: str | None) -> WriteOutcome:
    """Store one record and publish its event; return what the write did.

    A replay publishes the stored event again under its original event id, so that an
    event whose publication failed after the record was stored is sent on retry.
    Raises StaleWrite, PayloadTooLarge, DynamoDBUnavailable or KafkaUnavailable.
    """
    settings, registry = _settings(), _registry()
    check_event_size(jsonio.dumps(request.features), settings)

    publisher = registry.publisher()
    try:
        outcome, delivered = _apply_write(
            _store(settings, registry), publisher, registry, request, request_id, _now()
        )
    except StaleWrite:
        metrics.RECORDS.labels(request.key.category, "stale").inc()
        raise
    publisher.wait(delivered)
    metrics.RECORDS.labels(request.key.category, outcome.status).inc()
    return outcome


@dataclasses.dataclass
class BatchItemResult:
    """Result of one item of a batch write, in the item's position."""

    index: int
    status: str
    outcome: WriteOutcome | None = None
    error: dict[str, Any] | None = None

    def as_response(self) -> dict[str, Any]:
        body: dict[str, Any] = {"index": self.index, "status": self.status}
        if self.outcome is not None:
            body.update(self.outcome.as_response())
            body["status"] = self.status
        if self.error is not None:
            body["error"] = self.error
        return body


def _error_body(error: FeatureStoreError) -> dict[str, Any]:
    return {
        "code": error.code,
        "message": error.message,
        "details": error.details,
        **error.extra,
    }


def _item_status(error: FeatureStoreError) -> str:
    if error.status == 409:
        return "stale"
    if error.status < 500:
        return "invalid"
    return "failed"


def _batch_winners(
    requests: Sequence[tuple[int, WriteRequest]], now: datetime.datetime
) -> tuple[list[tuple[int, WriteRequest]], dict[int, int]]:
    """Pick one item per record key: the newest event time, then the last position.

    Returns the winners and, for each other item, the index of the item that
    superseded it.
    """
    by_key: dict[RecordKey, list[tuple[int, WriteRequest]]] = {}
    for index, request in requests:
        by_key.setdefault(request.key, []).append((index, request))
    winners, superseded = [], {}
    for items in by_key.values():
        winner = max(items, key=lambda item: (item[1].meta.event_time or now, item[0]))
        winners.append(winner)
        for index, _ in items:
            if index != winner[0]:
                superseded[index] = winner[0]
    return winners, superseded


def write_batch(
    requests: Sequence[tuple[int, WriteRequest]],
    invalid: dict[int, dict[str, Any]],
    *,
    request_id: str | None,
) -> list[BatchItemResult]:
    """Apply many writes concurrently; return one result per item, in order.

    ``requests`` are the valid items with their positions, ``invalid`` maps the other
    positions to their validation errors. Items for the same record key are reduced
    to one: the newest event time wins, then the last position. The others are
    ``stale``. An item whose status is created, updated or unchanged is stored
    and its event acknowledged by Kafka.
    """
    settings, registry = _settings(), _registry()
    store, publisher = _store(settings, registry), registry.publisher()
    deadline = time.monotonic() + settings.batch_timeout
    results: dict[int, BatchItemResult] = {
        index: BatchItemResult(
            index,
            "invalid",
            error={
                "code": "invalid_request",
                "message": "The item is invalid: see details.",
                "details": details,
            },
        )
        for index, details in invalid.items()
    }

    # Items without an event time all get the time the batch was received.
    now = _now()
    sized = []
    for index, request in requests:
        try:
            check_event_size(jsonio.dumps(request.features), settings)
            check_record_size(request)
        except FeatureStoreError as error:
            # Rejected before the same-key reduction, so that an oversized item
            # never supersedes a valid older one.
            results[index] = BatchItemResult(index, "invalid", error=_error_body(error))
            continue
        sized.append((index, request))

    winners, superseded = _batch_winners(sized, now)
    for index, winner in superseded.items():
        results[index] = BatchItemResult(
            index,
            "stale",
            error={
                "code": "superseded",
                "message": f"Item {winner} of this batch writes the same record with "
                "a newer or equal event time; this item was not applied.",
                "details": {},
            },
        )

    def apply(item: tuple[int, WriteRequest]):
        index, request = item
        if time.monotonic() > deadline:
            raise _BatchTimeout(settings.batch_timeout)
        return _apply_write(store, publisher, registry, request, request_id, now)

    pending = [(item[0], registry.executor().submit(apply, item)) for item in winners]
    sent: list[tuple[int, WriteOutcome, Future[None]]] = []
    for index, future in pending:
        try:
            outcome, delivered = future.result()
        except FeatureStoreError as error:
            results[index] = BatchItemResult(
                index, _item_status(error), error=_error_body(error)
            )
            if error.status >= 500:
                logger.warning(
                    "batch item %d of request %s failed: %s", index, request_id, error
                )
            continue
        sent.append((index, outcome, delivered))

    delivery_deadline = time.monotonic() + publisher.delivery_timeout
    for index, outcome, delivered in sent:
        try:
            publisher.wait(delivered, deadline=delivery_deadline)
        except FeatureStoreError as error:
            results[index] = BatchItemResult(index, "failed", error=_error_body(error))
            logger.warning(
                "batch item %d of request %s was stored but its event failed: %s",
                index,
                request_id,
                error,
            )
            continue
        results[index] = BatchItemResult(index, outcome.status, outcome=outcome)
    for index, request in requests:
        status = results[index].status
        if status in ("created", "updated", "unchanged", "stale"):
            metrics.RECORDS.labels(request.key.category, status).inc()
    return [results[index] for index in sorted(results)]


class _BatchTimeout(FeatureStoreError):
    """Raised for batch items not started before the batch's time limit."""

    status = 503
    code = "batch_timeout"

    def __init__(self, seconds: float):
        super().__init__(
            f"The batch ran out of its {seconds:g} s before this item was started; "
            "retry the item."
        )


def delete(key: RecordKey, meta: WriteMeta, *, request_id: str | None) -> StoredRecord:
    """Delete one record and publish a ``features.deleted`` event.

    Raises NotFound when there is no live record. When the record was deleted
    before, its delete event is published again first, so a delete whose event was
    not acknowledged is repaired by a retry. Raises StaleWrite for a delete older
    than the record.
    """
    settings, registry = _settings(), _registry()
    store, publisher = _store(settings, registry), registry.publisher()
    with registry.key_lock(key.entity_id + "#" + key.category):
        outcome = store.delete(key, meta, request_id=request_id, now=_now())
        record = outcome.record
        delivered = (
            publisher.send(record.key.entity_id, build_envelope(record, DELETED))
            if record is not None
            else None
        )
    if delivered is not None:
        publisher.wait(delivered)
    if outcome.status == "missing":
        raise NotFound(f"No record for {_describe(key)}.")
    return record


def _describe(key: RecordKey) -> str:
    return (
        f"entity_type {key.entity_type!r}, entity_value {key.entity_value!r} "
        f"and category {key.category!r}"
    )


def _select(record: StoredRecord, features: Sequence[str] | None) -> StoredRecord:
    if features is None:
        return record
    chosen = {
        name: record.features[name] for name in features if name in record.features
    }
    return dataclasses.replace(record, features=chosen)


def get(key: RecordKey, *, features: Sequence[str] | None) -> StoredRecord:
    """Return one live record, with only the named features when ``features`` is set."""
    record = _reader().get(key, now_seconds=int(time.time()))
    if record is None:
        raise NotFound(f"No record for {_describe(key)}.")
    return _select(record, features)


def entity(
    entity_type: str, entity_value: str, *, features: Sequence[str] | None
) -> list[StoredRecord]:
    """Return the live records of every category of an entity."""
    records = _reader().entity(entity_type, entity_value, now_seconds=int(time.time()))
    return [_select(record, features) for record in records]


def many(
    keys: Sequence[RecordKey], *, features: Sequence[str] | None
) -> tuple[list[StoredRecord], list[RecordKey]]:
    """Return the live records among ``keys`` in request order, and the missing keys."""
    found = _reader().many(keys, now_seconds=int(time.time()))
    records = [
        _select(found[key], features) for key in dict.fromkeys(keys) if key in found
    ]
    missing = [key for key in dict.fromkeys(keys) if key not in found]
    return records, missing
