"""JSON decoding and encoding that keeps each number's decimal text.

A client that sends ``0.35`` or ``1e-07`` must read back, and see in the event, the
same text. Python's float would turn ``0.1 + 0.2`` style values into binary fractions,
so every JSON number with a fraction or exponent is decoded as a NumberText: a Decimal
that remembers the text it came from and prints it back unchanged.
"""

from __future__ import annotations

import decimal
from typing import Any

import simplejson
from flask.json.provider import JSONProvider


class NumberText(decimal.Decimal):
    """A JSON number with a fraction or exponent, kept as its exact decimal text."""

    __slots__ = ("text",)
    text: str

    def __new__(cls, text: str) -> NumberText:
        number = super().__new__(cls, text)
        number.text = text
        return number

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"NumberText({self.text!r})"

    def __reduce__(self) -> tuple[type, tuple[str]]:
        return (type(self), (self.text,))


class UnusableNumber:
    """A number token that no feature can hold: ``NaN``, ``Infinity``, ``-Infinity``,
    or a literal whose exponent is beyond what Python's decimal module represents.

    Decoding keeps such a token in place so that validation can reject it with the
    path of the field it was sent in. It is neither a number nor a string.
    """

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    @property
    def is_finite_literal(self) -> bool:
        """Tell a literal like 1e999999999999999999999 from NaN or Infinity."""
        return self.text not in ("NaN", "Infinity", "-Infinity")

    def __repr__(self) -> str:
        return f"UnusableNumber({self.text!r})"


# Longer integer literals cannot be valid features (38 digits at most), and Python
# refuses to convert ones over 4,300 digits, so they stay text for validation.
_MAX_INT_DIGITS = 64


def _parse_int(text: str) -> int | NumberText:
    # "-0" is an integer literal whose text an int cannot keep.
    if text == "-0" or len(text) > _MAX_INT_DIGITS:
        return NumberText(text)
    return int(text)


def _parse_float(text: str) -> NumberText | UnusableNumber:
    try:
        return NumberText(text)
    except decimal.InvalidOperation:
        return UnusableNumber(text)


class InvalidJSON(ValueError):
    """Raised when a request body is not valid JSON text."""


def loads(text: str | bytes) -> Any:
    """Decode JSON text, keeping numbers with a fraction or exponent as NumberText.

    ``NaN``, ``Infinity`` and numbers too large for Python's decimal module become
    UnusableNumber values for validation to reject by field. Bytes that are not
    UTF-8 are rejected, and nesting deeper than Python's recursion limit is rejected
    as invalid JSON rather than raising RecursionError.
    """
    try:
        return simplejson.loads(
            text,
            parse_float=_parse_float,
            parse_int=_parse_int,
            parse_constant=UnusableNumber,
            allow_nan=True,
        )
    except simplejson.JSONDecodeError as exc:
        raise InvalidJSON(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidJSON(f"the body is not UTF-8 text ({exc.reason})") from exc
    except RecursionError as exc:
        raise InvalidJSON("the JSON text is nested too deeply") from exc


def dumps(value: Any, *, sort_keys: bool = False) -> str:
    """Encode a value as compact JSON, writing each NumberText as its original text."""
    return simplejson.dumps(
        value,
        use_decimal=True,
        sort_keys=sort_keys,
        allow_nan=False,
        ensure_ascii=False,
        separators=(",", ":"),
    )


class FlaskJSONProvider(JSONProvider):
    """Flask JSON provider that keeps number text in requests and responses."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads(s)

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return dumps(obj)
