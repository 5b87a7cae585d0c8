"""The service under gunicorn with preload_app, two workers and threads."""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from featurestore import cli, create_app
from featurestore.probe import find_events

pytestmark = pytest.mark.stack

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read())


def _wait_for_health(url: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"gunicorn did not answer {url} within {timeout} s")


@pytest.fixture
def gunicorn_url(stack, names, tmp_path):
    """A gunicorn server with --preload -w 2 -k gthread on the local stack."""
    app = create_app(stack.settings(**names))
    with app.app_context():
        cli.create_table()
        cli.create_topic(partitions=3, replication_factor=1)
    app.extensions["featurestore.clients"].close(timeout=5)

    port = _free_port()
    env = {
        **os.environ,
        "FEATURESTORE_DYNAMODB_ENDPOINT": stack.dynamodb_endpoint,
        "FEATURESTORE_KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap,
        "FEATURESTORE_DYNAMODB_TABLE": names["dynamodb_table"],
        "FEATURESTORE_KAFKA_TOPIC": names["kafka_topic"],
        "FEATURESTORE_BIND": f"127.0.0.1:{port}",
    }
    log = open(tmp_path / "gunicorn.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        [
            str(pathlib.Path(sys.executable).parent / "gunicorn"),
            "--config",
            "gunicorn.conf.py",
            "--preload",
            "--workers",
            "2",
            "--worker-class",
            "gthread",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_health(f"{url}/health", process, timeout=30)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_gunicorn_preload_serves_seed_write(stack, names, gunicorn_url, seed_body):
    status, body = _post(f"{gunicorn_url}/api/v1/items", seed_body.encode())

    assert status == 201
    events = find_events(
        stack.kafka_bootstrap, names["kafka_topic"], {body["event_id"]}
    )
    assert len(events[body["event_id"]]) == 1


def test_gunicorn_serves_many_writes(stack, names, gunicorn_url, seed_request):
    event_ids = set()
    for number in range(20):
        seed_request["data"]["entity_value"] = f"user-{number}"
        status, body = _post(
            f"{gunicorn_url}/api/v1/items", json.dumps(seed_request).encode()
        )
        assert status == 201
        event_ids.add(body["event_id"])

    events = find_events(stack.kafka_bootstrap, names["kafka_topic"], event_ids)

    assert set(events) == event_ids
