"""Fixtures that start the real local stack (dynalite and Kafka) for these tests.

The stack runs in a temporary folder on its own ports, so the tests neither need nor
disturb a stack started by ``make run``. It is stopped when the session ends.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def post_json(url: str, body: bytes, timeout: float = 30) -> tuple[int, dict]:
    """POST a JSON body; return the status and decoded body, also for 4xx and 5xx."""
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


class Service:
    """A gunicorn server of the app on the local stack, in its own process group."""

    def __init__(self, stack: Stack, names: dict[str, str], log_path: pathlib.Path):
        self.stack = stack
        self.names = names
        self.log_path = log_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self, *arguments: str, **settings: str) -> Service:
        env = {
            **os.environ,
            "FEATURESTORE_DYNAMODB_ENDPOINT": self.stack.dynamodb_endpoint,
            "FEATURESTORE_KAFKA_BOOTSTRAP_SERVERS": self.stack.kafka_bootstrap,
            "FEATURESTORE_DYNAMODB_TABLE": self.names["dynamodb_table"],
            "FEATURESTORE_KAFKA_TOPIC": self.names["kafka_topic"],
            "FEATURESTORE_BIND": f"127.0.0.1:{self.port}",
            **{
                f"FEATURESTORE_{name.upper()}": value
                for name, value in settings.items()
            },
        }
        self.log = self.log_path.open("a")
        self.process = subprocess.Popen(
            [
                str(pathlib.Path(sys.executable).parent / "gunicorn"),
                "--config",
                "gunicorn.conf.py",
                *arguments,
                "wsgi:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_until_healthy(timeout=30)
        return self

    def wait_until_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"gunicorn exited: {self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"gunicorn did not answer within {timeout} s")

    def worker_pids(self) -> list[int]:
        output = subprocess.run(
            ["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True
        ).stdout
        return [int(pid) for pid in output.split()]

    def post(self, path: str, body: dict | str, timeout: float = 30):
        text = body if isinstance(body, str) else json.dumps(body)
        return post_json(self.url + path, text.encode(), timeout=timeout)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> float:
        """Signal the master and wait for it to exit; return the seconds it took."""
        started = time.monotonic()
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
                raise
        self.log.close()
        return time.monotonic() - started


@pytest.fixture
def service_factory(stack: Stack, names: dict[str, str], tmp_path: pathlib.Path):
    """Makes gunicorn servers on this test's table and topic; stops them at the end."""
    app = create_app(stack.settings(**names))
    with app.app_context():
        cli.create_table()
        cli.create_topic(partitions=3, replication_factor=1)
    app.extensions["featurestore.clients"].close(timeout=5)
    services: list[Service] = []

    def make() -> Service:
        service = Service(stack, names, tmp_path / f"gunicorn-{len(services)}.log")
        services.append(service)
        return service

    yield make
    for service in services:
        if service.process is not None and service.process.poll() is None:
            os.killpg(service.process.pid, signal.SIGKILL)
            service.process.wait()
