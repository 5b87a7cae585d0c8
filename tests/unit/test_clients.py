"""The client registry under threads and fork()."""

from __future__ import annotations

import os
import threading

import boto3
import pytest

from featurestore.clients import ClientRegistry
from featurestore.config import load_settings

# A registry call that takes longer than this has deadlocked.
HANG_SECONDS = 5.0


class CountingPublisherFactory:
    """Makes stand-in publishers and counts how many it made."""

    def __init__(self) -> None:
        self.made = 0
        self._lock = threading.Lock()

    def __call__(self, settings):
        with self._lock:
            self.made += 1
        return object.__new__(_ClosablePublisher)


class _ClosablePublisher:
    def close(self, timeout: float) -> int:
        return 0


@pytest.fixture
def settings(monkeypatch):
    """Settings for a registry that builds clients but never calls a server."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return load_settings({}, dynamodb_endpoint="http://127.0.0.1:9")


@pytest.fixture
def sessions(monkeypatch):
    """A list that records every boto3 session the registry creates."""
    made = []
    real_session = boto3.session.Session

    def recording_session(*args, **kwargs):
        session = real_session(*args, **kwargs)
        made.append(session)
        return session

    monkeypatch.setattr(boto3.session, "Session", recording_session)
    return made


def _call_in_daemon_thread(function) -> tuple[bool, object]:
    result = {}

    def run():
        result["value"] = function()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(HANG_SECONDS)
    return not thread.is_alive(), result.get("value")


@pytest.mark.parametrize(
    "calls",
    [
        ["dynamodb"],
        ["publisher"],
        ["warm"],
        ["dynamodb", "publisher", "dynamodb"],
        ["publisher", "dynamodb", "warm", "close", "dynamodb"],
    ],
)
def test_registry_accessors_do_not_hang(settings, calls):
    registry = ClientRegistry(settings, publisher_factory=CountingPublisherFactory())

    finished, _ = _call_in_daemon_thread(
        lambda: [getattr(registry, name)() for name in calls]
    )

    assert finished, f"registry calls {calls} did not return in {HANG_SECONDS} s"


def test_registry_builder_never_reenters_lock(settings):
    # The builders run with the lock held; if one called an accessor, a plain Lock
    # would deadlock here.
    factory_calls = []

    def factory(settings):
        factory_calls.append(threading.current_thread().name)
        return _ClosablePublisher()

    registry = ClientRegistry(settings, publisher_factory=factory)

    finished, _ = _call_in_daemon_thread(registry.warm)

    assert finished
    assert len(factory_calls) == 1


def test_registry_race_builds_once(settings, sessions):
    factory = CountingPublisherFactory()
    registry = ClientRegistry(settings, publisher_factory=factory)
    start = threading.Barrier(32)
    clients, publishers = [], []

    def use():
        start.wait()
        clients.append(registry.dynamodb())
        publishers.append(registry.publisher())

    threads = [threading.Thread(target=use, daemon=True) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(HANG_SECONDS)

    assert len(clients) == 32
    assert len({id(client) for client in clients}) == 1
    assert len({id(publisher) for publisher in publishers}) == 1
    assert len(sessions) == 1
    assert factory.made == 1


def _in_child(function) -> str:
    """Run ``function`` in a forked child and return what it wrote to a pipe."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            os.write(write_end, function().encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        output = pipe.read()
    os.waitpid(pid, 0)
    return output


def test_registry_forked_child_builds_own_clients(settings):
    factory = CountingPublisherFactory()
    registry = ClientRegistry(settings, publisher_factory=factory)
    parent_client = registry.dynamodb()
    parent_publisher = registry.publisher()

    def child() -> str:
        client = registry.dynamodb()
        publisher = registry.publisher()
        return f"{client is parent_client},{publisher is parent_publisher}"

    assert _in_child(child) == "False,False"
    assert registry.dynamodb() is parent_client


def test_registry_fork_with_lock_held_does_not_hang(settings):
    registry = ClientRegistry(settings, publisher_factory=CountingPublisherFactory())
    locked = threading.Event()
    release = threading.Event()

    def hold_lock():
        with registry._lock:
            locked.set()
            release.wait(HANG_SECONDS)

    holder = threading.Thread(target=hold_lock, daemon=True)
    holder.start()
    locked.wait(HANG_SECONDS)

    def child() -> str:
        finished, client = _call_in_daemon_thread(registry.dynamodb)
        return "built" if finished and client is not None else "hung"

    try:
        assert _in_child(child) == "built"
    finally:
        release.set()
        holder.join(HANG_SECONDS)


def test_registry_close_flushes_publisher(settings):
    closed = []

    class Publisher:
        def close(self, timeout: float) -> int:
            closed.append(timeout)
            return 3

    registry = ClientRegistry(settings, publisher_factory=lambda _: Publisher())
    registry.publisher()

    left = registry.close(timeout=2.5)

    assert left == 3
    assert closed == [2.5]
