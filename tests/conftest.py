"""Fixtures shared by the unit tests and the tests against the local stack."""

from __future__ import annotations

import json
import pathlib

import pytest
from hypothesis import settings

# Property tests run 50 examples by default and 1,000 under `make fuzz`.
settings.register_profile("default", max_examples=50)
settings.register_profile("fuzz", max_examples=1000)
settings.load_profile("default")

DATA = pathlib.Path(__file__).parent / "data"


@pytest.fixture
def seed_request() -> dict:
    """The reference write request, as a client sends it."""
    return json.loads((DATA / "seed_request.json").read_text())


@pytest.fixture
def seed_body() -> str:
    """The reference write request's JSON text, byte for byte."""
    return (DATA / "seed_request.json").read_text()
