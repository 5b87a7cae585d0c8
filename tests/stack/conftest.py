"""Fixtures that start the real local stack (dynalite and Kafka) for these tests.

The stack runs in a temporary folder on its own ports, so the tests neither need nor
disturb a stack started by ``make run``. It is stopped when the session ends.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from featurestore import cli, create_app
from featurestore.clients import ClientRegistry

ROOT = pathlib.Path(__file__).resolve().parents[2]
STACK = ROOT / "scripts" / "stack"

DYNAMODB_PORT = int(os.environ.get("FEATURESTORE_TEST_DYNAMODB_PORT", "18000"))
KAFKA_PORT = int(os.environ.get("FEATURESTORE_TEST_KAFKA_PORT", "19092"))
CONTROLLER_PORT = int(os.environ.get("FEATURESTORE_TEST_CONTROLLER_PORT", "19093"))


class Stack:
    """The running local servers and how to reach them."""

    def __init__(self, directory: pathlib.Path):
        self.directory = directory
        self.dynamodb_endpoint = f"http://127.0.0.1:{DYNAMODB_PORT}"
        self.kafka_bootstrap = f"127.0.0.1:{KAFKA_PORT}"
        self.env = {
            **os.environ,
            "FEATURESTORE_STACK_DIR": str(directory),
            "FEATURESTORE_DYNAMODB_PORT": str(DYNAMODB_PORT),
            "FEATURESTORE_KAFKA_PORT": str(KAFKA_PORT),
            "FEATURESTORE_KAFKA_CONTROLLER_PORT": str(CONTROLLER_PORT),
        }

    def run(self, command: str) -> None:
        subprocess.run([str(STACK), command], env=self.env, check=True, timeout=300)

    def settings(self, **overrides) -> dict:
        """Settings fields that point the app at this stack."""
        return {
            "dynamodb_endpoint": self.dynamodb_endpoint,
            "kafka_bootstrap_servers": self.kafka_bootstrap,
            **overrides,
        }


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The local stack, started once for the session and stopped at its end."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    running = Stack(tmp_path_factory.mktemp("stack"))
    running.run("up")
    try:
        yield running
    finally:
        running.run("down")


@pytest.fixture
def names() -> dict[str, str]:
    """Table and topic names of this test's own, so tests never share data."""
    suffix = uuid.uuid4().hex[:10]
    return {"dynamodb_table": f"features-{suffix}", "kafka_topic": f"events-{suffix}"}


@pytest.fixture
def stack_app(stack: Stack, names: dict[str, str]):
    """The app on the local stack, with its own table and topic created."""
    app = create_app(stack.settings(**names))
    with app.app_context():
        cli.create_table()
        cli.create_topic(partitions=3, replication_factor=1)
    yield app
    app.extensions["featurestore.clients"].close(timeout=5)


@pytest.fixture
def stack_client(stack_app):
    """A test client of the app on the local stack."""
    return stack_app.test_client()


@pytest.fixture
def stack_dynamodb(stack_app):
    """A low-level DynamoDB client of the local stack."""
    registry: ClientRegistry = stack_app.extensions["featurestore.clients"]
    return registry.dynamodb()
