"""Reads of records: one key, all categories of an entity, or many keys at once.

Every read is strongly consistent, so a client reads its own acknowledged writes.
Deleted and expired records read as missing, also before DynamoDB's TTL removes them.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable
from typing import Any

from featurestore.errors import DynamoDBUnavailable
from featurestore.items import (
    CLIENT_ERRORS,
    is_live,
    key_attributes,
    record_from_item,
    translate_error,
)
from featurestore.records import RecordKey, StoredRecord

logger = logging.getLogger(__name__)

# DynamoDB's limit of keys in one BatchGetItem.
MAX_BATCH_KEYS = 100
# Retries of the keys DynamoDB left unprocessed, with jittered exponential backoff.
UNPROCESSED_RETRIES = 5
UNPROCESSED_BACKOFF_SECONDS = 0.025


class RecordReader:
    """Reads records from one DynamoDB table through a low-level client."""

    def __init__(self, client: Any, table: str):
        self._client = client
        self._table = table

    def get(self, key: RecordKey, *, now_seconds: int) -> StoredRecord | None:
        """Return the live record of ``key``, or None."""
        try:
            response = self._client.get_item(
                TableName=self._table, Key=key_attributes(key), ConsistentRead=True
            )
        except CLIENT_ERRORS as exc:
            raise translate_error(exc, "GetItem") from exc
        item = response.get("Item")
        return record_from_item(item) if is_live(item, now_seconds) else None

    def entity(
        self, entity_type: str, entity_value: str, *, now_seconds: int
    ) -> list[StoredRecord]:
        """Return the live records of every category of an entity, by category."""
        entity_id = RecordKey(entity_type, entity_value, "").entity_id
        records: list[StoredRecord] = []
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": "pk"},
            "ExpressionAttributeValues": {":pk": {"S": entity_id}},
            "ConsistentRead": True,
        }
        while True:
            try:
                response = self._client.query(**arguments)
            except CLIENT_ERRORS as exc:
                raise translate_error(exc, "Query") from exc
            records.extend(
                record_from_item(item)
                for item in response.get("Items", [])
                if is_live(item, now_seconds)
            )
            if "LastEvaluatedKey" not in response:
                return records
            arguments["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def many(
        self, keys: Iterable[RecordKey], *, now_seconds: int
    ) -> dict[RecordKey, StoredRecord]:
        """Return the live records among ``keys`` (at most 100), by key.

        Keys that DynamoDB leaves unprocessed are asked for again with backoff;
        DynamoDBUnavailable is raised when some remain after the last retry.
        """
        unique = list(dict.fromkeys(keys))
        if len(unique) > MAX_BATCH_KEYS:
            raise ValueError(f"at most {MAX_BATCH_KEYS} keys per BatchGetItem")
        pending: dict[str, Any] = {
            self._table: {
                "Keys": [key_attributes(key) for key in unique],
                "ConsistentRead": True,
            }
        }
        found: dict[RecordKey, StoredRecord] = {}
        for attempt in range(UNPROCESSED_RETRIES + 1):
            if attempt:
                delay = UNPROCESSED_BACKOFF_SECONDS * 2 ** (attempt - 1)
                time.sleep(delay * random.uniform(0.5, 1.5))
            try:
                response = self._client.batch_get_item(RequestItems=pending)
            except CLIENT_ERRORS as exc:
                raise translate_error(exc, "BatchGetItem") from exc
            for item in response.get("Responses", {}).get(self._table, []):
                if is_live(item, now_seconds):
                    record = record_from_item(item)
                    found[record.key] = record
            pending = response.get("UnprocessedKeys") or {}
            if not pending:
                return found
            logger.info(
                "BatchGetItem left %d keys unprocessed; retrying",
                len(pending[self._table]["Keys"]),
            )
        raise DynamoDBUnavailable(
            "DynamoDB left keys unprocessed after "
            f"{UNPROCESSED_RETRIES} retries; retry the request."
        )
