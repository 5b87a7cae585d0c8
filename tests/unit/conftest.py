"""Fixtures for the unit tests: the app on moto's in-process DynamoDB."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import Future
from typing import Any

import pytest
from moto import mock_aws

from featurestore import cli, create_app
from featurestore.clients import ClientRegistry
from featurestore.errors import KafkaUnavailable


class RecordingPublisher:
    """A publisher that keeps every event instead of sending it to Kafka."""

    def __init__(self, settings: Any = None):
        self.events: list[tuple[str, Mapping[str, Any]]] = []
        self.failure: Exception | None = None
        self.closed = False
        self._lock = threading.Lock()

    delivery_timeout = 1.0

    def send(self, key: str, envelope: Mapping[str, Any]) -> Future[None]:
        delivered: Future[None] = Future()
        if self.failure is not None:
            delivered.set_exception(self.failure)
            return delivered
        with self._lock:
            self.events.append((key, envelope))
        delivered.set_result(None)
        return delivered

    def wait(self, delivered: Future[None], *, deadline: float | None = None) -> None:
        delivered.result(timeout=0)

    def publish(self, key: str, envelope: Mapping[str, Any]) -> None:
        self.wait(self.send(key, envelope))

    def fail_with(self, error: Exception | None) -> None:
        self.failure = error

    def check_broker(self, timeout: float) -> None:
        if self.failure is not None:
            raise KafkaUnavailable("recording publisher is set to fail")

    def close(self, timeout: float) -> int:
        self.closed = True
        return 0


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run the test against moto's in-process AWS with dummy credentials."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("FEATURESTORE_DYNAMODB_ENDPOINT", raising=False)
    with mock_aws():
        yield


@pytest.fixture
def publisher() -> RecordingPublisher:
    """The recording publisher that the app under test sends its events to."""
    return RecordingPublisher()


@pytest.fixture
def app(aws: None, publisher: RecordingPublisher):
    """The app on moto's DynamoDB with its table created and a recording publisher."""
    app = create_app({"dynamodb_endpoint": None})
    settings = app.config["SETTINGS"]
    app.extensions["featurestore.clients"] = ClientRegistry(
        settings, publisher_factory=lambda _: publisher
    )
    with app.app_context():
        cli.create_table()
    yield app


@pytest.fixture
def client(app):
    """A test client of the app."""
    return app.test_client()


@pytest.fixture
def dynamodb(app):
    """The low-level DynamoDB client the app uses."""
    return app.extensions["featurestore.clients"].dynamodb()
