"""Marshmallow schemas of the API's request and response bodies.

The request schemas are strict: unknown fields are rejected at every depth and no
value is coerced, so ``"750"`` is not an integer and ``1`` is not a boolean.
"""

from __future__ import annotations

import datetime
import decimal
import re
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate

from featurestore.errors import flatten_messages
from featurestore.jsonio import NumberText, UnusableNumber
from featurestore.records import RecordKey, WriteMeta, WriteRequest

# Patterns go into the OpenAPI document as they are, so they use the syntax that
# Python and ECMAScript regular expressions share.
IDENTIFIER_PATTERN = r"^[a-z0-9_]{1,64}$"
FEATURE_NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,255}$"
# Text without control characters, with at least one character that is not a space.
# ECMAScript's \s also covers U+FEFF, so it is excluded by name to agree.
_TEXT_CHARACTER = r"[^\x00-\x1f\x7f-\x9f]"
_VISIBLE_CHARACTER = r"[^\s\ufeff\x00-\x1f\x7f-\x9f]"
TEXT_PATTERN = f"^{_TEXT_CHARACTER}*{_VISIBLE_CHARACTER}{_TEXT_CHARACTER}*$"
FEATURE_NAME = re.compile(FEATURE_NAME_PATTERN)
FEATURE_NAME_LIST_PATTERN = r"^[A-Za-z0-9_.-]{1,255}(,[A-Za-z0-9_.-]{1,255})*$"

IDENTIFIER_MESSAGE = "Use 1 to 64 characters among lowercase letters, digits and '_'."
TEXT_MESSAGE = (
    "Use text that is not blank and has no control characters such as newlines "
    "and tabs."
)
FEATURE_NAME_LIST_MESSAGE = (
    "Use feature names separated by commas, each of 1 to 255 characters among "
    "letters, digits, '_', '.' and '-'."
)
FEATURE_NAME_MESSAGE = (
    "Use 1 to 255 characters among ASCII letters, digits, '_', '.' and '-'."
)
# dynalite, the local DynamoDB, is written in JavaScript and silently drops a map
# key named __proto__, so the name is rejected rather than lost on write.
RESERVED_FEATURE_NAMES = frozenset({"__proto__"})

MAX_ENTITY_VALUE_BYTES = 1024
MAX_META_TEXT_CHARS = 256
MAX_TTL_SECONDS = 10 * 366 * 86_400
MAX_BATCH_ITEMS = 500
MAX_READ_KEYS = 100
MAX_SELECTED_FEATURES = 1000
MAX_FEATURE_LIST_CHARS = 2000

# DynamoDB numbers: at most 38 significant digits, and a magnitude between 1E-130 and
# 9.9999999999999999999999999999999999999E+125.
MAX_NUMBER_DIGITS = 38
MIN_NUMBER_EXPONENT = -130
MAX_NUMBER_EXPONENT = 125
NON_FINITE_MESSAGE = "Use a finite number: NaN and Infinity are not JSON numbers."
MAGNITUDE_MESSAGE = (
    "Use a magnitude between 1E-130 and 9.99E+125, the range of a DynamoDB number."
)


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class StrictInteger(fields.Integer):
    """An integer field that rejects booleans, fractions and numeric strings.

    A number with a zero fraction, like ``60.0``, is an integer as JSON Schema
    defines it, and so is accepted.
    """

    def _validated(self, value: Any) -> int:
        if isinstance(value, NumberText) and _is_small_integral(value):
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        return value


class FullMatch(validate.Regexp):
    """A Regexp validator that must match the whole value.

    marshmallow's Regexp uses ``re.match``, whose ``$`` also matches before a final
    newline; the pattern itself still documents the rule in the OpenAPI document.
    """

    def __call__(self, value: str) -> str:
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


def _is_small_integral(number: NumberText) -> bool:
    # Bounded first: to_integral_value of 1e999999 would build a huge integer.
    exponent = number.as_tuple().exponent
    return (
        isinstance(exponent, int)
        and exponent <= 20
        and (number == number.to_integral_value())
    )


class Identifier(fields.String):
    """A short identifier of lowercase letters, digits and ``_``."""

    def __init__(self, **kwargs: Any):
        super().__init__(
            validate=FullMatch(IDENTIFIER_PATTERN, error=IDENTIFIER_MESSAGE), **kwargs
        )


class EntityValue(fields.String):
    """Any non-blank UTF-8 text of at most 1 KiB without control characters."""

    def __init__(self, **kwargs: Any):
        # The OpenAPI document can state a length in characters only; the limit
        # DynamoDB's key imposes is in UTF-8 bytes, checked by _check_utf8_size.
        super().__init__(
            validate=[
                validate.Length(min=1, max=MAX_ENTITY_VALUE_BYTES),
                FullMatch(TEXT_PATTERN, error=TEXT_MESSAGE),
                _check_utf8_size,
            ],
            metadata={"description": "UTF-8 text of at most 1024 bytes"},
            **kwargs,
        )


def _check_utf8_size(value: str) -> None:
    if len(value.encode(errors="surrogatepass")) > MAX_ENTITY_VALUE_BYTES:
        raise ValidationError(
            f"Use at most {MAX_ENTITY_VALUE_BYTES} bytes of UTF-8 text."
        )


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
        return MAGNITUDE_MESSAGE
    if isinstance(number, decimal.Decimal) and abs(float(number)) == float("inf"):
        return "Use a number that fits a 64-bit float; this one overflows it."
    return None


def _unusable_number_message(number: UnusableNumber) -> str:
    return MAGNITUDE_MESSAGE if number.is_finite_literal else NON_FINITE_MESSAGE


def _feature_value_problem(value: Any) -> str | None:
    if value is None or isinstance(value, (bool, str)):
        return None
    if isinstance(value, UnusableNumber):
        return _unusable_number_message(value)
    if isinstance(value, (int, NumberText)):
        return number_problem(value)
    if isinstance(value, list):
        for position, element in enumerate(value):
            if isinstance(element, UnusableNumber):
                return f"Element {position}: {_unusable_number_message(element)}"
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

# The numbers DynamoDB stores: zero, or a magnitude from 1E-130 to just under
# 1E+126. The upper bound is the largest double below 1E+126; the 38-digit
# precision limit cannot be written in JSON Schema.
NUMBER_JSON_SCHEMA = {
    "type": "number",
    "anyOf": [
        {"const": 0},
        {"minimum": 1e-130, "maximum": 9.99999999999999e125},
        {"minimum": -9.99999999999999e125, "maximum": -1e-130},
    ],
}

# The JSON Schema of a feature map, for the OpenAPI document.
FEATURE_MAP_JSON_SCHEMA = {
    "type": "object",
    "minProperties": 1,
    "propertyNames": {"pattern": FEATURE_NAME_PATTERN},
    "additionalProperties": {
        "anyOf": [
            {"type": "null"},
            {"type": "boolean"},
            NUMBER_JSON_SCHEMA,
            {"type": "string"},
            {
                "type": "array",
                "items": {"anyOf": [NUMBER_JSON_SCHEMA, {"type": "string"}]},
            },
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
            if name in RESERVED_FEATURE_NAMES:
                errors[name] = [
                    f"The feature name {name!r} is reserved; use another name."
                ]
                continue
            if not FEATURE_NAME.fullmatch(name):
                errors[name] = [f"Invalid feature name. {FEATURE_NAME_MESSAGE}"]
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


class EventTime(fields.AwareDateTime):
    """An RFC 3339 time with a zone, between years 0001 and 9999 once in UTC."""

    default_error_messages = {
        "invalid": (
            "Not a valid RFC 3339 time: use a date and time with Z or an offset, "
            "like 2025-10-16T12:00:00Z; in a query string, encode '+' as %2B."
        ),
        "invalid_awareness": (
            "The time has no zone: add Z or an offset, like 2025-10-16T12:00:00Z."
        ),
        "range": "The time is out of range once converted to UTC; use years 1 to 9999.",
    }

    def __init__(self, **kwargs: Any):
        super().__init__(format="iso", **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any):
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            return moment.astimezone(datetime.UTC)
        except OverflowError as exc:
            raise self.make_error("range") from exc


class MetaText(fields.String):
    """A short non-blank text without control characters, like ``meta.source``."""

    def __init__(self, **kwargs: Any):
        super().__init__(
            validate=[
                validate.Length(min=1, max=MAX_META_TEXT_CHARS),
                FullMatch(TEXT_PATTERN, error=TEXT_MESSAGE),
            ],
            **kwargs,
        )


class MetaSchema(StrictSchema):
    source = MetaText(required=True)
    compute_id = MetaText()
    event_time = EventTime()
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

    event_time = EventTime()


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
            fields.String(
                validate=FullMatch(FEATURE_NAME_PATTERN, error=FEATURE_NAME_MESSAGE)
            ),
            validate=validate.Length(min=1, max=MAX_SELECTED_FEATURES),
            **kwargs,
        )


class RecordKeySchema(StrictSchema):
    """Key of one record."""

    entity_type = Identifier(required=True)
    entity_value = EntityValue(required=True)
    category = Identifier(required=True)


class FeatureNameList(fields.String):
    """Comma-separated feature names in a query string, loaded as a list.

    The text is limited to 2,000 characters so that a URL with the longest
    entity_value still fits gunicorn's request-line limit. Longer lists go in the
    body of a batch read.
    """

    def __init__(self, **kwargs: Any):
        super().__init__(
            validate=[
                validate.Length(min=1, max=MAX_FEATURE_LIST_CHARS),
                FullMatch(FEATURE_NAME_LIST_PATTERN, error=FEATURE_NAME_LIST_MESSAGE),
            ],
            metadata={"description": "comma-separated names of the features to return"},
            **kwargs,
        )


class RecordQuerySchema(RecordKeySchema):
    """Query string of a one-record read."""

    features = FeatureNameList()

    @post_load
    def _split_features(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return _split_feature_names(data)


class EntityQuerySchema(StrictSchema):
    """Query string of a read of every category of an entity."""

    entity_type = Identifier(required=True)
    entity_value = EntityValue(required=True)
    features = FeatureNameList()

    @post_load
    def _split_features(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return _split_feature_names(data)


def _split_feature_names(data: dict[str, Any]) -> dict[str, Any]:
    if "features" in data:
        data["features"] = data["features"].split(",")
    return data


class DeleteQuerySchema(RecordKeySchema):
    """Query string of a delete."""

    source = MetaText(required=True)
    compute_id = MetaText()
    event_time = EventTime(
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
