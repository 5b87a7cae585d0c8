"""Feature values to DynamoDB attribute values and back."""

from __future__ import annotations

import pytest

from featurestore import jsonio, values
from featurestore.jsonio import NumberText


def _decode(text: str):
    return jsonio.loads(text)


@pytest.mark.parametrize(
    ("json_text", "attribute"),
    [
        ("null", {"NULL": True}),
        ("true", {"BOOL": True}),
        ("false", {"BOOL": False}),
        ("750", {"N": "750"}),
        ("-3", {"N": "-3"}),
        ("0.35", {"N": "0.35"}),
        ("1e-07", {"N": "1e-07"}),
        ("33.10318374633789", {"N": "33.10318374633789"}),
        ('"low"', {"S": "low"}),
        ('""', {"S": ""}),
        ("[0.1, 2, -3.5]", {"L": [{"N": "0.1"}, {"N": "2"}, {"N": "-3.5"}]}),
        ('["a", "b"]', {"L": [{"S": "a"}, {"S": "b"}]}),
        ("[]", {"L": []}),
    ],
)
def test_to_attribute_keeps_type_and_text(json_text, attribute):
    assert values.to_attribute(_decode(json_text)) == attribute


def test_to_attribute_never_makes_a_float():
    number = _decode("0.30000000000000004")

    attribute = values.to_attribute(number)

    assert attribute == {"N": "0.30000000000000004"}
    assert isinstance(number, NumberText)


@pytest.mark.parametrize(
    ("attribute", "expected_json"),
    [
        ({"NULL": True}, "null"),
        ({"BOOL": True}, "true"),
        ({"N": "750"}, "750"),
        ({"N": "0.35"}, "0.35"),
        ({"S": "low"}, '"low"'),
        ({"L": [{"N": "1.5"}, {"S": "x"}]}, '[1.5,"x"]'),
    ],
)
def test_from_attribute_restores_json(attribute, expected_json):
    assert jsonio.dumps(values.from_attribute(attribute)) == expected_json


def test_from_attribute_integer_is_int():
    value = values.from_attribute({"N": "750"})

    assert value == 750
    assert type(value) is int


def test_from_attribute_boolean_is_bool():
    assert values.from_attribute({"BOOL": True}) is True


@pytest.mark.parametrize(
    ("json_text", "needs_copy"),
    [
        ("0.35", False),
        ("-12.5", False),
        ("750", False),
        ("50000.0", True),
        ("1e-07", True),
        ("-0.0", True),
        ("1.50", True),
        ("[0.5, 1.0]", True),
        ("[0.5, 1.25]", False),
    ],
)
def test_features_to_attributes_copies_noncanonical_text(json_text, needs_copy):
    features = {"f": _decode(json_text)}

    _, number_text = values.features_to_attributes(features)

    assert ("f" in number_text["M"]) is needs_copy


@pytest.mark.parametrize(
    ("json_text", "canonical_n"),
    [
        ("50000.0", "50000"),
        ("1e-07", "0.0000001"),
        ("-0.0", "0"),
        ("1.50", "1.5"),
        ("[0.5, 1.0]", None),
    ],
)
def test_features_from_item_prefers_number_text(json_text, canonical_n):
    features = {"f": _decode(json_text)}
    feature_map, number_text = values.features_to_attributes(features)
    if canonical_n is not None:
        # What DynamoDB returns for the number: its canonical form.
        feature_map["M"]["f"] = {"N": canonical_n}

    restored = values.features_from_item(
        {"features": feature_map, "number_text": number_text}
    )

    assert jsonio.dumps(restored) == '{"f":' + json_text.replace(" ", "") + "}"


def test_attribute_size_counts_utf8_bytes():
    assert values.attribute_size("name", {"S": "é"}) == len("name") + 2


def test_attribute_size_counts_nested_elements():
    size = values.attribute_size("f", {"L": [{"S": "ab"}, {"N": "12345"}]})

    # name 1 + list 3 + (1 + 2) + (1 + 4)
    assert size == 12
