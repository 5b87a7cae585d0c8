"""Fixtures shared by the unit tests and the tests against the local stack."""

from __future__ import annotations

import json
import pathlib

import pytest

DATA = pathlib.Path(__file__).parent / "data"


@pytest.fixture
def seed_request() -> dict:
    """The reference write request, as a client sends it."""
    return json.loads((DATA / "seed_request.json").read_text())


@pytest.fixture
def seed_body() -> str:
    """The reference write request's JSON text, byte for byte."""
    return (DATA / "seed_request.json").read_text()
