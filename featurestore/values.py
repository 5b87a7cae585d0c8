"""Conversion between feature values and DynamoDB attribute values.

The service talks to DynamoDB with the low-level client, so this module builds the
``{"N": "0.35"}`` style attribute values itself. Numbers go to DynamoDB as the decimal
text the client sent and never pass through a binary float.

DynamoDB returns numbers in its own canonical form, so ``50000.0`` would read back as
the integer ``50000`` and ``1e-07`` as ``0.0000001``. A number whose text is not in
canonical form therefore also has its JSON text kept in the item's ``number_text`` map,
keyed by feature name, and reads prefer that text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from featurestore import jsonio
from featurestore.jsonio import NumberText

FeatureValue = None | bool | int | NumberText | str | list
AttributeValue = dict[str, Any]

# A fraction with no exponent and a last digit that is not 0: DynamoDB stores and
# returns such text unchanged, so it needs no copy in number_text.
_CANONICAL_FRACTION = re.compile(r"-?(?:0|[1-9][0-9]*)\.[0-9]*[1-9]")


def _number_is_canonical(number: int | NumberText) -> bool:
    if isinstance(number, NumberText):
        return bool(_CANONICAL_FRACTION.fullmatch(number.text))
    return True


def _needs_text_copy(value: FeatureValue) -> bool:
    if isinstance(value, list):
        return any(_needs_text_copy(element) for element in value)
    if isinstance(value, NumberText):
        return not _number_is_canonical(value)
    return False


def to_attribute(value: FeatureValue) -> AttributeValue:
    """Convert one validated feature value to a DynamoDB attribute value."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, NumberText):
        return {"N": value.text}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, list):
        return {"L": [to_attribute(element) for element in value]}
    raise TypeError(f"unsupported feature value type {type(value).__name__}")


def from_attribute(attribute: AttributeValue) -> FeatureValue:
    """Convert a DynamoDB attribute value read back to a feature value."""
    ((kind, payload),) = attribute.items()
    if kind == "NULL":
        return None
    if kind == "BOOL":
        return bool(payload)
    if kind == "N":
        if any(mark in payload for mark in ".eE"):
            return NumberText(payload)
        return int(payload)
    if kind == "S":
        return payload
    if kind == "L":
        return [from_attribute(element) for element in payload]
    raise ValueError(f"unexpected DynamoDB attribute type {kind!r}")


def features_to_attributes(
    features: Mapping[str, FeatureValue],
) -> tuple[AttributeValue, AttributeValue]:
    """Convert a feature map to the item's ``features`` and ``number_text`` maps."""
    feature_map = {name: to_attribute(value) for name, value in features.items()}
    number_text = {
        name: {"S": jsonio.dumps(value)}
        for name, value in features.items()
        if _needs_text_copy(value)
    }
    return {"M": feature_map}, {"M": number_text}


def features_from_item(item: Mapping[str, AttributeValue]) -> dict[str, FeatureValue]:
    """Read the feature map of a stored item, restoring each number's original text."""
    features = {
        name: from_attribute(attribute)
        for name, attribute in item["features"]["M"].items()
    }
    for name, text in item.get("number_text", {}).get("M", {}).items():
        if name in features:
            features[name] = jsonio.loads(text["S"])
    return features


def attribute_size(name: str, attribute: AttributeValue) -> int:
    """Estimate an attribute's share of DynamoDB's item size, erring on the high side.

    DynamoDB counts the UTF-8 bytes of names and strings, about one byte per two
    significant digits of a number plus one, one byte for a boolean or null, and three
    bytes plus one per element for a map or list.
    """
    return len(name.encode()) + _value_size(attribute)


def _value_size(attribute: AttributeValue) -> int:
    ((kind, payload),) = attribute.items()
    if kind == "S":
        return len(payload.encode())
    if kind == "N":
        digits = sum(character.isdigit() for character in payload)
        return (digits + 1) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + _value_size(element) for element in payload)
    if kind == "M":
        return 3 + sum(
            1 + attribute_size(key, element) for key, element in payload.items()
        )
    raise ValueError(f"unexpected DynamoDB attribute type {kind!r}")
