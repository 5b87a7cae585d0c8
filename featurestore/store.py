"""Writes and deletes of records, each one conditional DynamoDB UpdateItem.

The condition enforces event-time ordering inside DynamoDB, so no other writer can
slip in between a check and a write. See featurestore.items for the item layout.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import uuid
from typing import Any

import botocore.exceptions

from featurestore import values
from featurestore.errors import DynamoDBUnavailable, StaleWrite
from featurestore.items import (
    CLIENT_ERRORS,
    UpdateBuilder,
    check_record_size,
    content_hash,
    error_code,
    is_live,
    key_attributes,
    record_from_item,
    translate_error,
)
from featurestore.records import (
    RecordKey,
    StoredRecord,
    WriteMeta,
    WriteOutcome,
    WriteRequest,
    epoch_micros,
    format_event_time,
)

logger = logging.getLogger(__name__)

# The content_hash of a tombstone, which no write's hash can equal.
DELETED_HASH = "deleted"


@dataclasses.dataclass(frozen=True)
class DeleteOutcome:
    """Result of one delete: ``deleted``, or ``missing`` with any tombstone found."""

    status: str
    record: StoredRecord | None


def _text(value: str | None) -> dict[str, str] | None:
    return None if value is None else {"S": value}


class FeatureStore:
    """Writes and deletes records in one DynamoDB table through a low-level client."""

    def __init__(self, client: Any, table: str, *, tombstone_seconds: int):
        self._client = client
        self._table = table
        self._tombstone_seconds = tombstone_seconds

    def write(
        self,
        request: WriteRequest,
        *,
        request_id: str | None,
        now: datetime.datetime,
    ) -> WriteOutcome:
        """Apply a write unless it is stale or a replay, in one conditional update.

        Raises StaleWrite when the stored record has a newer event time. A replay
        (same compute_id and features, and the same event time when one is given)
        changes nothing and returns the stored record with status ``unchanged``.
        """
        check_record_size(request)
        meta = request.meta
        event_time = meta.event_time or now
        event_time_us = epoch_micros(event_time)
        now_seconds = int(now.timestamp())
        digest = content_hash(meta.compute_id, request.features)
        features, number_text = values.features_to_attributes(request.features)
        expires_at = now_seconds + meta.ttl_seconds if meta.ttl_seconds else None

        update = UpdateBuilder()
        record = self._set_record_attributes(
            update,
            key=request.key,
            meta=meta,
            request_id=request_id,
            event_time=event_time,
            now=now,
            expires_at=expires_at,
            digest=digest,
        )
        record = dataclasses.replace(record, features=request.features)
        update.set("features", features)
        update.set("number_text", number_text)
        update.set("deleted", {"BOOL": False})

        pk, expires = update.name("pk"), update.name("expires_at")
        stored_time, stored_hash = (
            update.name("event_time_us"),
            update.name("content_hash"),
        )
        new_time = update.value({"N": str(event_time_us)})
        new_hash = update.value({"S": digest})
        now_value = update.value({"N": str(now_seconds)})
        absent = f"attribute_not_exists({pk}) OR {expires} <= {now_value}"
        if meta.event_time is not None:
            condition = (
                f"{absent} OR {stored_time} < {new_time} OR "
                f"({stored_time} = {new_time} AND {stored_hash} <> {new_hash})"
            )
        else:
            condition = (
                f"{absent} OR ({stored_time} <= {new_time} AND "
                f"{stored_hash} <> {new_hash})"
            )

        try:
            old = self._update(request.key, update, condition)
        except botocore.exceptions.ClientError as exc:
            item = self._item_of_failed_condition(request.key, exc)
            return self._rejected_write(
                meta, item, digest=digest, event_time_us=event_time_us
            )

        created = not is_live(old, now_seconds)
        old_version = int(old["version"]["N"]) if old else 0
        record = dataclasses.replace(record, version=old_version + 1)
        return WriteOutcome("created" if created else "updated", record)

    def delete(
        self,
        key: RecordKey,
        meta: WriteMeta,
        *,
        request_id: str | None,
        now: datetime.datetime,
    ) -> DeleteOutcome:
        """Replace a live record by a tombstone, unless it has a newer event time.

        Raises StaleWrite when the record's event time is newer than the delete's.
        Returns ``missing`` when there is no live record, with the tombstone of an
        earlier delete when there is one, so that its event can be sent again.
        """
        event_time = meta.event_time or now
        now_seconds = int(now.timestamp())
        update = UpdateBuilder()
        record = self._set_record_attributes(
            update,
            key=key,
            meta=meta,
            request_id=request_id,
            event_time=event_time,
            now=now,
            expires_at=now_seconds + self._tombstone_seconds,
            digest=DELETED_HASH,
        )
        update.set("features", None)
        update.set("number_text", None)
        update.set("deleted", {"BOOL": True})

        pk, deleted, expires = (
            update.name("pk"),
            update.name("deleted"),
            update.name("expires_at"),
        )
        stored_time = update.name("event_time_us")
        new_time = update.value({"N": str(epoch_micros(event_time))})
        condition = (
            f"attribute_exists({pk}) AND {deleted} = {update.value({'BOOL': False})}"
            f" AND (attribute_not_exists({expires}) OR "
            f"{expires} > {update.value({'N': str(now_seconds)})})"
            f" AND {stored_time} <= {new_time}"
        )
        try:
            old = self._update(key, update, condition)
        except botocore.exceptions.ClientError as exc:
            item = self._item_of_failed_condition(key, exc)
            if item is None or item.get("deleted", {}).get("BOOL"):
                tombstone = record_from_item(item) if item else None
                return DeleteOutcome("missing", tombstone)
            if not is_live(item, now_seconds):
                return DeleteOutcome("missing", None)
            raise self._stale(item, field="event_time") from exc

        record = dataclasses.replace(record, version=int(old["version"]["N"]) + 1)
        return DeleteOutcome("deleted", record)

    def _set_record_attributes(
        self,
        update: UpdateBuilder,
        *,
        key: RecordKey,
        meta: WriteMeta,
        request_id: str | None,
        event_time: datetime.datetime,
        now: datetime.datetime,
        expires_at: int | None,
        digest: str,
    ) -> StoredRecord:
        """Add the attributes that writes and deletes share; return the new record."""
        record = StoredRecord(
            key=key,
            features={},
            event_time=format_event_time(event_time),
            version=0,
            event_id=str(uuid.uuid4()),
            source=meta.source,
            compute_id=meta.compute_id,
            request_id=request_id,
            expires_at=expires_at,
        )
        for attribute, attribute_value in (
            ("entity_type", _text(key.entity_type)),
            ("entity_value", _text(key.entity_value)),
            ("category", _text(key.category)),
            ("event_time", _text(record.event_time)),
            ("event_time_us", {"N": str(epoch_micros(event_time))}),
            ("event_id", _text(record.event_id)),
            ("content_hash", _text(digest)),
            ("source", _text(meta.source)),
            ("compute_id", _text(meta.compute_id)),
            ("request_id", _text(request_id)),
            ("written_at", _text(format_event_time(now))),
            ("expires_at", None if expires_at is None else {"N": str(expires_at)}),
        ):
            update.set(attribute, attribute_value)
        update.increment("version")
        return record

    def _update(
        self, key: RecordKey, update: UpdateBuilder, condition: str
    ) -> dict[str, Any]:
        """Run one conditional UpdateItem; return the old item, empty when new.

        Raises ClientError only for a failed condition; other errors are translated.
        """
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=key_attributes(key),
                UpdateExpression=update.expression(),
                ConditionExpression=condition,
                ExpressionAttributeNames=update.names,
                ExpressionAttributeValues=update.values,
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise
            raise translate_error(exc, "UpdateItem") from exc
        except CLIENT_ERRORS as exc:
            raise translate_error(exc, "UpdateItem") from exc
        return response.get("Attributes", {})

    def _item_of_failed_condition(
        self, key: RecordKey, exc: botocore.exceptions.ClientError
    ) -> dict[str, Any] | None:
        # DynamoDB returns the item with the error; a server that ignores
        # ReturnValuesOnConditionCheckFailure needs a consistent read instead.
        item = exc.response.get("Item")
        if item is not None:
            return item
        try:
            response = self._client.get_item(
                TableName=self._table, Key=key_attributes(key), ConsistentRead=True
            )
        except CLIENT_ERRORS as read_exc:
            raise translate_error(read_exc, "GetItem") from read_exc
        return response.get("Item")

    def _rejected_write(
        self,
        meta: WriteMeta,
        item: dict[str, Any] | None,
        *,
        digest: str,
        event_time_us: int,
    ) -> WriteOutcome:
        if item is None:
            # Deleted by DynamoDB's TTL between the update and the read.
            raise DynamoDBUnavailable(
                "The record changed while it was written; retry the request."
            )
        same_content = item["content_hash"]["S"] == digest
        same_time = int(item["event_time_us"]["N"]) == event_time_us
        if same_content and (meta.event_time is None or same_time):
            return WriteOutcome("unchanged", record_from_item(item))
        raise self._stale(item)

    @staticmethod
    def _stale(item: dict[str, Any], field: str = "meta.event_time") -> StaleWrite:
        stored_time = item["event_time"]["S"]
        return StaleWrite(
            f"The stored record has a newer event time ({stored_time}); "
            "this request was not applied.",
            details={
                field: [f"Older than the stored record's event time {stored_time}."]
            },
            extra={"stored_event_time": stored_time},
        )
