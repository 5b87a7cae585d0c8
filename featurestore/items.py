"""The DynamoDB item of a record: its key, its attributes and its translation.

Item layout (docs/data-model.md has the full table):

- ``pk`` (S): ``entity_type#entity_value``, ``sk`` (S): ``category``
- ``features`` (M) and ``number_text`` (M): see featurestore.values
- ``event_time`` (S, RFC 3339 UTC) and ``event_time_us`` (N, epoch microseconds)
- ``version`` (N), ``event_id`` (S), ``content_hash`` (S), ``deleted`` (BOOL),
  ``source``, ``compute_id``, ``request_id``, ``written_at`` (S), ``expires_at`` (N)

A deleted record stays as a tombstone (``deleted`` true, no features) until its
``expires_at``, so that event-time ordering and versions hold across a delete.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import botocore.exceptions

from featurestore import jsonio, values
from featurestore.errors import DynamoDBUnavailable, InvalidRequest, PayloadTooLarge
from featurestore.records import RecordKey, StoredRecord, WriteRequest

logger = logging.getLogger(__name__)

# DynamoDB's maximum item size, names and values included.
MAX_ITEM_BYTES = 400 * 1024

# DynamoDB error codes that mean "try again later", returned to clients as 503.
_RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
        "ResourceNotFoundException",
    }
)

# Every error a botocore call raises: ClientError and the BotoCoreError family, which
# covers connection failures and missing credentials.
CLIENT_ERRORS = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)


def translate_error(exc: Exception, operation: str) -> Exception:
    """Translate a botocore error into the service's error for the caller."""
    if isinstance(exc, botocore.exceptions.ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        message = exc.response.get("Error", {}).get("Message", "")
        if code in _RETRYABLE_CODES:
            return DynamoDBUnavailable(
                f"DynamoDB {operation} failed with {code}; retry the request."
            )
        if code == "ValidationException" and "size" in message.lower():
            return PayloadTooLarge(
                f"The record is larger than DynamoDB's {MAX_ITEM_BYTES} byte item "
                "limit; send fewer or smaller features."
            )
        if code == "ValidationException":
            # DynamoDB's text names internal placeholders, so it is logged, not sent.
            logger.warning("DynamoDB %s rejected a request: %s", operation, message)
            return InvalidRequest(
                "DynamoDB rejected the record as invalid; check its feature names "
                "and values against the API's rules."
            )
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return DynamoDBUnavailable(
            f"DynamoDB {operation} did not complete ({type(exc).__name__}); "
            "retry the request."
        )
    return exc


def error_code(exc: botocore.exceptions.ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def content_hash(compute_id: str | None, features: dict[str, Any]) -> str:
    """Hash what makes two writes the same computation: compute_id and features."""
    canonical = jsonio.dumps(
        {"compute_id": compute_id, "features": features}, sort_keys=True
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def key_attributes(key: RecordKey) -> dict[str, Any]:
    return {"pk": {"S": key.entity_id}, "sk": {"S": key.category}}


def is_live(item: dict[str, Any] | None, now_seconds: int) -> bool:
    """Tell whether an item is a record that reads return: not deleted, not expired."""
    if not item or item.get("deleted", {}).get("BOOL", False):
        return False
    expires = item.get("expires_at")
    return expires is None or int(expires["N"]) > now_seconds


def record_from_item(item: dict[str, Any]) -> StoredRecord:
    """Build a StoredRecord from a DynamoDB item as the low-level client returns it."""

    def text(name: str) -> str | None:
        attribute = item.get(name)
        return attribute["S"] if attribute else None

    expires = item.get("expires_at")
    features = values.features_from_item(item) if "features" in item else {}
    return StoredRecord(
        key=RecordKey(
            item["entity_type"]["S"], item["entity_value"]["S"], item["category"]["S"]
        ),
        features=features,
        event_time=item["event_time"]["S"],
        version=int(item["version"]["N"]),
        event_id=item["event_id"]["S"],
        source=item["source"]["S"],
        compute_id=text("compute_id"),
        request_id=text("request_id"),
        expires_at=int(expires["N"]) if expires else None,
    )


# Upper bound of everything in an item but its key, features and number_text:
# names and values of the event time, ids, hash, timestamps, version and flags,
# plus source and compute_id at their 256-character maximum in 4-byte characters.
_OTHER_ATTRIBUTES_BYTES = 512 + 2 * 256 * 4


def check_record_size(request: WriteRequest) -> None:
    """Raise PayloadTooLarge when the item of a write could exceed DynamoDB's limit."""
    features, number_text = values.features_to_attributes(request.features)
    size = sum(
        values.attribute_size(name, attribute)
        for name, attribute in key_attributes(request.key).items()
    )
    size += values.attribute_size("features", features)
    size += values.attribute_size("number_text", number_text)
    size += _OTHER_ATTRIBUTES_BYTES
    if size > MAX_ITEM_BYTES:
        raise PayloadTooLarge(
            f"The record is about {size} bytes, more than DynamoDB's "
            f"{MAX_ITEM_BYTES} byte item limit; send fewer or smaller features."
        )


class UpdateBuilder:
    """Collects SET and REMOVE clauses with placeholders generated by position."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}
        self.set_clauses: list[str] = []
        self.remove_clauses: list[str] = []

    def name(self, attribute: str) -> str:
        for placeholder, existing in self.names.items():
            if existing == attribute:
                return placeholder
        placeholder = f"#n{len(self.names)}"
        self.names[placeholder] = attribute
        return placeholder

    def value(self, attribute_value: Any) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = attribute_value
        return placeholder

    def set(self, attribute: str, attribute_value: Any) -> None:
        """SET the attribute, or REMOVE it when the value is None."""
        if attribute_value is None:
            self.remove_clauses.append(self.name(attribute))
        else:
            self.set_clauses.append(
                f"{self.name(attribute)} = {self.value(attribute_value)}"
            )

    def increment(self, attribute: str) -> None:
        """SET the attribute to one more than its value, or to 1 when it is absent."""
        name = self.name(attribute)
        zero, one = self.value({"N": "0"}), self.value({"N": "1"})
        self.set_clauses.append(f"{name} = if_not_exists({name}, {zero}) + {one}")

    def expression(self) -> str:
        expression = "SET " + ", ".join(self.set_clauses)
        if self.remove_clauses:
            expression += " REMOVE " + ", ".join(self.remove_clauses)
        return expression
