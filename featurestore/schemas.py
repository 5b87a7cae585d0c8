"""Marshmallow schemas of the API's request and response bodies.

The request schemas are strict: unknown fields are rejected at every depth and no
value is coerced, so ``"750"`` is not an integer and ``1`` is not a boolean.
"""

from __future__ import annotations

import decimal
import re
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate
from webargs.fields import DelimitedList

from featurestore.errors import flatten_messages
from featurestore.jsonio import NonFiniteToken, NumberText
from featurestore.records import RecordKey, WriteMeta, WriteRequest

IDENTIFIER = re.compile(r"[a-z0-9_]{1,64}")
FEATURE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,255}")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")

MAX_ENTITY_VALUE_BYTES = 1024
MAX_META_TEXT_CHARS = 256
MAX_TTL_SECONDS = 10 * 366 * 86_400
MAX_BATCH_ITEMS = 500
MAX_READ_KEYS = 100
MAX_SELECTED_FEATURES = 1000

# DynamoDB numbers: at most 38 significant digits, and a magnitude between 1E-130 and
# 9.9999999999999999999999999999999999999E+125.
MAX_NUMBER_DIGITS = 38
MIN_NUMBER_EXPONENT = -130
MAX_NUMBER_EXPONENT = 125
NON_FINITE_MESSAGE = "Use a finite number: NaN and Infinity are not JSON numbers."


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class StrictInteger(fields.Integer):
    """An integer field that rejects booleans, floats and numeric strings."""

    def _validated(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        return value


class Identifier(fields.String):
    """A short identifier of lowercase letters, digits and ``_``."""

    def __init__(self, **kwargs: Any):
        # Regexp documents the rule in the OpenAPI document; _check_identifier
        # also rejects a trailing newline, which Regexp's "$" lets through.
        super().__init__(
            validate=[
                validate.Regexp(r"^[a-z0-9_]{1,64}$", error=IDENTIFIER_MESSAGE),
                _check_identifier,
            ],
            **kwargs,
        )


IDENTIFIER_MESSAGE = "Use 1 to 64 characters among lowercase letters, digits and '_'."


def _check_identifier(text: str) -> None:
    if IDENTIFIER.match(text) and not IDENTIFIER.fullmatch(text):
        raise ValidationError(IDENTIFIER_MESSAGE)


class EntityValue(fields.String):
    """Any non-blank UTF-8 text of at most 1 KiB without control characters."""

    def __init__(self, **kwargs: Any):
        # Length documents the limit in the OpenAPI document; the byte count is
        # checked by _check_entity_value.
        super().__init__(
            validate=[
                validate.Length(min=1, max=MAX_ENTITY_VALUE_BYTES),
                _check_entity_value,
            ],
            metadata={"description": "UTF-8 text of at most 1024 bytes"},
            **kwargs,
        )


def _check_entity_value(value: str) -> None:
    if not value:
        return
    if not value.strip():
        raise ValidationError("Must not be empty or blank.")
    if len(value.encode()) > MAX_ENTITY_VALUE_BYTES:
        raise ValidationError(
            f"Use at most {MAX_ENTITY_VALUE_BYTES} bytes of UTF-8 text."
        )
    _reject_control_characters(value)


def _reject_control_characters(text: str) -> None:
    if CONTROL_CHARACTERS.search(text):
        raise ValidationError("Remove control characters such as newlines and tabs.")


def _check_meta_text(text: str) -> None:
    if text and not text.strip():
        raise ValidationError("Must not be blank.")
    _reject_control_characters(text)


def number_problem(number: int | decimal.Decimal) -> str | None:
    """Return why DynamoDB or a JSON client could not keep a number exact, or None."""
    sign, digits, exponent = decimal.Decimal(number).as_tuple()
    if not isinstance(exponent, int):
        return NON_FINITE_MESSAGE
    significant = "".join(map(str, digits)).strip("0")
    if not significant:
        return None
    trailing_zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    if len(significant) > MAX_NUMBER_DIGITS:
        return (
            f"Use at most {MAX_NUMBER_DIGITS} significant digits, the precision of a "
            "DynamoDB number."
        )
    magnitude = exponent + trailing_zeros + len(significant) - 1
    if not MIN_NUMBER_EXPONENT <= magnitude <= MAX_NUMBER_EXPONENT:
        return (
            "Use a magnitude between 1E-130 and 9.99E+125, the range of a DynamoDB "
            "number."
        )
    if isinstance(number, decimal.Decimal) and abs(float(number)) == float("inf"):
        return "Use a number that fits a 64-bit float; this one overflows it."
    return None


def _feature_value_problem(value: Any) -> str | None:
    if value is None or isinstance(value, (bool, str)):
        return None
    if isinstance(value, NonFiniteToken):
        return NON_FINITE_MESSAGE
    if isinstance(value, (int, NumberText)):
        return number_problem(value)
    if isinstance(value, list):
        for position, element in enumerate(value):
            if isinstance(element, NonFiniteToken):
                return f"Element {position}: {NON_FINITE_MESSAGE}"
            if isinstance(element, bool) or not isinstance(
                element, (int, NumberText, str)
            ):
                return (
                    f"Element {position} is not a number or a string: a list feature "
                    "is a flat list of numbers or strings."
                )
            problem = _feature_value_problem(element)
            if problem:
                return f"Element {position}: {problem}"
        return None
    return (
        "Use null, a boolean, a number, a string, or a flat list of numbers or "
        "strings; objects are not feature values."
    )


FEATURES_DOC = (
    "Feature name (1 to 255 of letters, digits, '_', '.', '-') to value: null, "
    "boolean, number, string, or a flat list of numbers and strings."
)

# The JSON Schema of a feature map, for the OpenAPI document.
FEATURE_MAP_JSON_SCHEMA = {
    "type": "object",
    "minProperties": 1,
    "additionalProperties": {
        "anyOf": [
            {"type": "null"},
            {"type": "boolean"},
            {"type": "number"},
            {"type": "string"},
            {"type": "array", "items": {"type": ["number", "string"]}},
        ]
    },
}


class FeatureMap(fields.Field):
    """A non-empty map of feature names to feature values."""

    default_error_messages = {
        "invalid": "Must be an object that maps feature names to values.",
        "empty": "Must contain at least one feature.",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any):
        if not isinstance(value, dict):
            raise self.make_error("invalid")
        if not value:
            raise self.make_error("empty")
        errors: dict[str, list[str]] = {}
        for name, feature in value.items():
            if not FEATURE_NAME.fullmatch(name):
                errors[name] = [
                    "Invalid feature name: use 1 to 255 characters among letters, "
                    "digits, '_', '.' and '-'."
                ]
                continue
            problem = _feature_value_problem(feature)
            if problem:
                errors[name] = [problem]
        if errors:
            raise ValidationError(errors)
        return value


def feature_map_properties(converter: Any, field: fields.Field, **kwargs: Any) -> dict:
    """Describe a FeatureMap field in the OpenAPI document (an apispec hook)."""
    return dict(FEATURE_MAP_JSON_SCHEMA) if isinstance(field, FeatureMap) else {}


class MetaText(fields.String):
    """A short non-blank text without control characters, like ``meta.source``."""

    def __init__(self, **kwargs: Any):
        super().__init__(
            validate=[
                validate.Length(min=1, max=MAX_META_TEXT_CHARS),
                _check_meta_text,
            ],
            **kwargs,
        )


class MetaSchema(StrictSchema):
    source = MetaText(required=True)
    compute_id = MetaText()
    event_time = fields.AwareDateTime(format="iso")
    ttl_seconds = StrictInteger(validate=validate.Range(min=1, max=MAX_TTL_SECONDS))


class RecordDataSchema(StrictSchema):
    entity_type = Identifier(required=True)
    entity_value = EntityValue(required=True)
    category = Identifier(required=True)
    features = FeatureMap(required=True, metadata={"description": FEATURES_DOC})


class WriteRequestSchema(StrictSchema):
    """Body of ``POST /api/v1/items``."""

    meta = fields.Nested(MetaSchema, required=True)
    data = fields.Nested(RecordDataSchema, required=True)

    @post_load
    def _make_request(self, loaded: dict[str, Any], **kwargs: Any) -> WriteRequest:
        data = loaded["data"]
        return WriteRequest(
            meta=WriteMeta(**loaded["meta"]),
            key=RecordKey(data["entity_type"], data["entity_value"], data["category"]),
            features=data["features"],
        )


class BatchItemSchema(RecordDataSchema):
    """One item of a batch write; ``event_time`` overrides the batch's own."""

    event_time = fields.AwareDateTime(format="iso")


class BatchWriteRequestSchema(StrictSchema):
    """Body of ``POST /api/v1/items/batch``."""

    meta = fields.Nested(MetaSchema, required=True)
    items = fields.List(
        fields.Dict(),
        required=True,
        validate=validate.Length(min=1, max=MAX_BATCH_ITEMS),
        metadata={"description": f"1 to {MAX_BATCH_ITEMS} BatchItem objects"},
    )


def load_batch_items(
    meta: dict[str, Any], items: list[dict[str, Any]]
) -> tuple[list[tuple[int, WriteRequest]], dict[int, dict[str, list[str]]]]:
    """Validate each batch item alone; return valid items and each invalid one's errors.

    Error paths are relative to the item, like ``features.credit_score``.
    """
    schema = BatchItemSchema()
    valid: list[tuple[int, WriteRequest]] = []
    invalid: dict[int, dict[str, list[str]]] = {}
    for index, item in enumerate(items):
        try:
            data = schema.load(item)
        except ValidationError as error:
            invalid[index] = flatten_messages(error.messages)
            continue
        event_time = data.get("event_time") or meta.get("event_time")
        valid.append(
            (
                index,
                WriteRequest(
                    meta=WriteMeta(**{**meta, "event_time": event_time}),
                    key=RecordKey(
                        data["entity_type"], data["entity_value"], data["category"]
                    ),
                    features=data["features"],
                ),
            )
        )
    return valid, invalid


class FeatureNames(fields.List):
    """A list of feature names; the query string gives it comma-separated."""

    def __init__(self, **kwargs: Any):
        super().__init__(
            fields.String(validate=validate.Regexp(FEATURE_NAME.pattern + r"\Z")),
            validate=validate.Length(min=1, max=MAX_SELECTED_FEATURES),
            **kwargs,
        )


class RecordKeySchema(StrictSchema):
    """Key of one record."""

    entity_type = Identifier(required=True)
    entity_value = EntityValue(required=True)
    category = Identifier(required=True)


class RecordQuerySchema(RecordKeySchema):
    """Query string of a one-record read."""

    features = DelimitedList(
        fields.String(validate=validate.Regexp(FEATURE_NAME.pattern + r"\Z")),
        validate=validate.Length(min=1, max=MAX_SELECTED_FEATURES),
        metadata={"description": "comma-separated names of the features to return"},
    )


class EntityQuerySchema(StrictSchema):
    """Query string of a read of every category of an entity."""

    entity_type = Identifier(required=True)
    entity_value = EntityValue(required=True)
    features = DelimitedList(
        fields.String(validate=validate.Regexp(FEATURE_NAME.pattern + r"\Z")),
        validate=validate.Length(min=1, max=MAX_SELECTED_FEATURES),
        metadata={"description": "comma-separated names of the features to return"},
    )


class DeleteQuerySchema(RecordKeySchema):
    """Query string of a delete."""

    source = MetaText(required=True)
    compute_id = MetaText()
    event_time = fields.AwareDateTime(
        format="iso",
        metadata={"description": "when the record stopped being true; default: now"},
    )


class BatchReadRequestSchema(StrictSchema):
    """Body of ``POST /api/v1/items/batch-get``."""

    keys = fields.List(
        fields.Nested(RecordKeySchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_READ_KEYS),
    )
    features = FeatureNames()


class RecordSchema(Schema):
    """One stored record."""

    key = fields.Nested(RecordKeySchema)
    features = fields.Dict(metadata={"description": "feature name to value"})
    event_time = fields.String(metadata={"description": "RFC 3339, UTC"})
    version = fields.Integer()
    event_id = fields.String()
    source = fields.String()
    compute_id = fields.String(allow_none=True)
    expires_at = fields.String(
        allow_none=True, metadata={"description": "RFC 3339, UTC; null: no TTL"}
    )


class EntityResponseSchema(Schema):
    """Records of every category of an entity."""

    entity_type = fields.String()
    entity_value = fields.String()
    records = fields.List(fields.Nested(RecordSchema))


class BatchReadResponseSchema(Schema):
    """Records found, in request order, and the keys of those missing."""

    records = fields.List(fields.Nested(RecordSchema))
    missing = fields.List(fields.Nested(RecordKeySchema))


class DeleteResponseSchema(Schema):
    """Result of a delete."""

    status = fields.String(metadata={"description": "deleted"})
    key = fields.Nested(RecordKeySchema)
    event_time = fields.String()
    version = fields.Integer()
    event_id = fields.String()


class BatchItemResultSchema(Schema):
    """Result of one item of a batch write."""

    index = fields.Integer()
    status = fields.String(
        metadata={
            "description": "created, updated, unchanged, stale, invalid or failed"
        }
    )
    key = fields.Nested(RecordKeySchema)
    event_time = fields.String()
    version = fields.Integer()
    event_id = fields.String()
    error = fields.Dict()


class BatchWriteResponseSchema(Schema):
    """One result per item, in request order, and the count of each status."""

    results = fields.List(fields.Nested(BatchItemResultSchema))
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())


class WriteResponseSchema(Schema):
    """Body of a successful write."""

    status = fields.String(
        metadata={"description": "created, updated, or unchanged for a replay"}
    )
    key = fields.Nested(RecordKeySchema)
    event_time = fields.String(metadata={"description": "RFC 3339, UTC"})
    version = fields.Integer()
    event_id = fields.String()


class ErrorBodySchema(Schema):
    code = fields.String()
    message = fields.String()
    details = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))
    stored_event_time = fields.String(
        metadata={"description": "with stale_write: the stored record's event time"}
    )


class ErrorSchema(Schema):
    """Body of every error response."""

    error = fields.Nested(ErrorBodySchema)
