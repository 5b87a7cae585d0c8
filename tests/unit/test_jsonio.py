"""JSON decoding and encoding with exact decimal text."""

from __future__ import annotations

import pytest

from featurestore import jsonio
from featurestore.jsonio import NumberText


@pytest.mark.parametrize(
    "text",
    ["0.1", "1.1", "33.10318374633789", "0.30000000000000004", "1e-07", "-0.0", "1E+2"],
)
def test_loads_keeps_number_text(text):
    value = jsonio.loads(text)

    assert isinstance(value, NumberText)
    assert jsonio.dumps(value) == text


def test_loads_integers_are_int():
    assert type(jsonio.loads("750")) is int


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity"])
def test_loads_marks_non_finite_tokens(text):
    value = jsonio.loads(text)

    assert isinstance(value, jsonio.UnusableNumber)
    assert value.text == text


def test_loads_keeps_negative_zero_integer():
    value = jsonio.loads("-0")

    assert jsonio.dumps(value) == "-0"


@pytest.mark.parametrize("text", ["nan", "inf", "{'a': 1}", "[1,]", "01"])
def test_loads_rejects_invalid_tokens(text):
    with pytest.raises(jsonio.InvalidJSON):
        jsonio.loads(text)


def test_loads_rejects_non_utf8_bytes():
    with pytest.raises(jsonio.InvalidJSON, match="UTF-8"):
        jsonio.loads(b'{"a": "\xff"}')


def test_loads_rejects_deep_nesting():
    with pytest.raises(jsonio.InvalidJSON, match="nested"):
        jsonio.loads("[" * 100_000 + "]" * 100_000)


def test_dumps_keeps_non_ascii_text():
    assert jsonio.dumps({"name": "Zoë 🚀"}) == '{"name":"Zoë 🚀"}'
