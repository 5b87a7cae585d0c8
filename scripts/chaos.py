"""Check that no acknowledged write is lost while Kafka, DynamoDB and workers fail.

The service promises that a 2xx response to ``POST /api/v1/items`` means the record
is stored in DynamoDB and its event is acknowledged by Kafka, and that sending the
same request again after any other response, or after no response, is safe.

This script starts its own dynalite, Kafka broker and gunicorn server on 127.0.0.1
in a temporary folder. It then sends writes from concurrent client threads: new
records, updates with and without ``meta.event_time``, replays of earlier request
bodies, and updates of a few records that every client writes. Each client retries
a 5xx response or a connection error with backoff, a bounded number of times, and
takes a 4xx as final. Meanwhile a chaos thread kills a gunicorn worker with SIGKILL,
stops the Kafka broker for a few seconds, restarts dynalite and kills a worker
again.

Afterwards, for every acknowledged write, it checks that DynamoDB contains the write's
features or a later write of the same record with a higher version, and that the
acknowledged event id is on the topic with the write's version and features. For
records that one client owns, it also checks each response against docs/api.md: a
replay of the stored body returns the stored version and event id.

Exit status 0 means every check passed. 1 means an acknowledged write is lost, a
write is still unacknowledged after its retries, or a response contradicts
docs/api.md. 2 means the check did not run to its end, because a server failed to
start or exited, a disruption failed, or the time limit was reached. The folder
with the servers' logs and every request and response (``writes.jsonl``) is kept
unless the check passed.

Run it with the virtualenv's interpreter, which has featurestore installed:

    .venv/bin/python scripts/chaos.py --writes 600 --clients 8
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import dataclasses
import datetime
import functools
import http.client
import json
import logging
import pathlib
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
from confluent_kafka import (
    KafkaException,
)
from localrun import (
    HOST,
    TABLE,
    TOPIC,
    CheckAborted,
    Deadline,
    LocalStack,
    ServerExited,
    Service,
)

from featurestore import jsonio, probe, values
from featurestore.probe import read_item
from featurestore.records import RecordKey

logger = logging.getLogger("chaos")

ENTITY_TYPE = "chaos_user"
SHARED_RECORDS = 4

# Seconds kept at the end of --max-seconds: for reading DynamoDB and Kafka after the
# load, and for stopping the servers after the check.
CHECK_SECONDS = 40
TEARDOWN_SECONDS = 30
HTTP_TIMEOUT_SECONDS = 30.0
BACKOFF_FIRST_SECONDS = 0.1
BACKOFF_MAX_SECONDS = 2.0

# Each step starts once this fraction of the writes is finished. The last writes
# wait until every step is done, so that every disruption meets requests in flight.
CHAOS_STEPS = (
    (0.10, "kill-worker"),
    (0.25, "kafka-outage"),
    (0.50, "dynamodb-restart"),
    (0.75, "kill-worker"),
)
HOLD_FRACTION = 0.90


# --- writes ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RecordState:
    """A record as its owning client last saw it in an acknowledged response."""

    compute_id: str
    event_id: str
    version: int
    event_time: str


@dataclasses.dataclass(frozen=True)
class Expectation:
    """The response docs/api.md promises for a write to a record one client owns.

    ``kind`` is ``created`` (version 1), ``applied`` (the next version, a new event
    id), ``replayed`` (200 ``unchanged`` with the stored version and event id) or
    ``stale`` (409).
    """

    kind: str
    stored: RecordState | None


@dataclasses.dataclass
class Attempt:
    """One HTTP request of a write and its response."""

    number: int
    sent_at: float  # seconds since the run started
    seconds: float
    status: int | None  # None when no response came
    error: str  # error.code of an error response, or the exception's name
    response: dict[str, Any] | None


@dataclasses.dataclass
class Write:
    """One write request, sent with the same body on every attempt."""

    index: int
    client: int
    kind: str
    key: RecordKey
    body: bytes
    compute_id: str
    event_time: str | None
    expectation: Expectation | None
    attempts: list[Attempt] = dataclasses.field(default_factory=list)
    # acknowledged, stale (409), rejected (other 4xx), unacknowledged, abandoned
    outcome: str = "pending"
    contradiction: str | None = None

    @property
    def response(self) -> dict[str, Any]:
        return (self.attempts[-1].response or {}) if self.attempts else {}

    @functools.cached_property
    def features_text(self) -> str:
        """The request's features as canonical JSON, with each number's own text."""
        return jsonio.dumps(jsonio.loads(self.body)["data"]["features"], sort_keys=True)

    def as_log_entry(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "client": self.client,
            "kind": self.kind,
            "key": self.key.as_dict(),
            "compute_id": self.compute_id,
            "event_time": self.event_time,
            "outcome": self.outcome,
            "contradiction": self.contradiction,
            "attempts": [dataclasses.asdict(attempt) for attempt in self.attempts],
            "body": self.body.decode(),
        }


def format_time(moment: datetime.datetime) -> str:
    """Format like the API's event times: RFC 3339 UTC with microseconds."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def next_event_time(previous: str | None) -> str:
    """Return now, or one microsecond after ``previous`` when that is later."""
    now = datetime.datetime.now(datetime.UTC)
    if previous is not None:
        after = datetime.datetime.strptime(previous, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=datetime.UTC
        ) + datetime.timedelta(microseconds=1)
        now = max(now, after)
    return format_time(now)


def post_write(
    url: str, body: bytes, request_id: str, timeout: float
) -> tuple[int | None, str, dict[str, Any] | None]:
    """POST one write and return its status, error code and decoded body.

    The status is None when no response came.
    """
    request = urllib.request.Request(
        url,
        data=body,
        headers={"Content-Type": "application/json", "X-Request-ID": request_id},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, "", json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            text = error.read()
        try:
            decoded = json.loads(text)
        except ValueError:
            decoded = {"body": text[:200].decode(errors="replace")}
        if not isinstance(decoded, dict):
            decoded = {"body": decoded}
        error_body = decoded.get("error")
        code = error_body.get("code", "") if isinstance(error_body, dict) else ""
        return error.code, code, decoded
    # A body cut short by a killed worker is no response either: the client cannot
    # know the outcome, so it retries.
    except (OSError, http.client.HTTPException, ValueError) as error:
        return None, type(error).__name__, None


class Load:
    """The writes of all clients, their progress, and the gate for the last ones."""

    def __init__(
        self,
        args: argparse.Namespace,
        service_url: str,
        deadline: Deadline,
        stop: threading.Event,
        chaos_done: threading.Event,
    ):
        self.total = args.writes
        self.max_attempts = args.attempts
        self.url = f"{service_url}/api/v1/items"
        self.run_id = uuid.uuid4().hex[:8]
        self.deadline = deadline
        self.stop = stop
        self.chaos_done = chaos_done
        # Set by run_load when every client thread has ended.
        self.finished = threading.Event()
        self.hold_from = int(self.total * HOLD_FRACTION)
        self.writes: list[Write] = []
        self.finished_count = 0
        self.client_failures = 0
        self.shared_keys = [
            RecordKey(ENTITY_TYPE, f"{self.run_id}-shared-{number}", "hot")
            for number in range(SHARED_RECORDS)
        ]
        self._lock = threading.Lock()
        self._next_index = 0
        self._shared_time: str | None = None

    def next_index(self) -> int | None:
        """Return the index of the next write to send, or None when there is none."""
        with self._lock:
            if self._next_index >= self.total:
                return None
            index = self._next_index
            self._next_index += 1
        if index >= self.hold_from:
            while not self.chaos_done.wait(0.2):
                if self.stop.is_set() or self.load_time_left() <= 0:
                    break
        if self.stop.is_set() or self.load_time_left() <= 0:
            return None
        return index

    def load_time_left(self) -> float:
        return self.deadline.remaining(CHECK_SECONDS + TEARDOWN_SECONDS)

    def shared_event_time(self) -> str:
        with self._lock:
            self._shared_time = next_event_time(self._shared_time)
            return self._shared_time

    def record(self, write: Write) -> None:
        with self._lock:
            self.writes.append(write)

    def count_finished(self) -> None:
        with self._lock:
            self.finished_count += 1

    def count_client_failure(self) -> None:
        with self._lock:
            self.client_failures += 1

    def progress(self) -> float:
        return self.finished_count / self.total if self.total else 1.0

    def counts(self) -> collections.Counter[str]:
        with self._lock:
            return collections.Counter(write.outcome for write in self.writes)

    def retries(self) -> int:
        with self._lock:
            return sum(max(0, len(write.attempts) - 1) for write in self.writes)


class Client(threading.Thread):
    """A client thread that sends writes one after another, each until it is final.

    A client owns the records it creates, so their writes happen in a known order
    and each response can be checked against the one before it. The shared records
    are written by every client, with races that docs/api.md allows.
    """

    def __init__(self, number: int, load: Load, seed: int):
        super().__init__(name=f"client-{number}", daemon=True)
        self.number = number
        self.load = load
        self.rng = random.Random(seed * 1000 + number)
        self.owned: dict[RecordKey, RecordState | None] = {}
        self.latest_time: dict[RecordKey, str] = {}
        self.last_write: dict[RecordKey, Write] = {}
        self.history: list[Write] = []
        self.records_made = 0

    def run(self) -> None:
        try:
            while (index := self.load.next_index()) is not None:
                write = self.make_write(index)
                self.load.record(write)
                self.send(write)
                self.remember(write)
                self.load.count_finished()
        except Exception:
            logger.exception(
                "client %d failed, so its remaining writes are not sent", self.number
            )
            self.load.count_client_failure()

    # Choosing the next write.

    def make_write(self, index: int) -> Write:
        known = [key for key, state in self.owned.items() if state is not None]
        roll = self.rng.random()
        if roll < 0.15:
            return self.make_shared_update(index)
        if roll < 0.30 and known:
            return self.make_replay(index, known)
        if roll < 0.65 and self.owned:
            return self.make_update(index, self.rng.choice(list(self.owned)))
        return self.make_new(index)

    def make_new(self, index: int) -> Write:
        self.records_made += 1
        key = RecordKey(
            ENTITY_TYPE,
            f"{self.load.run_id}-c{self.number}-{self.records_made}",
            self.rng.choice(("profile", "risk")),
        )
        self.owned[key] = None
        event_time = next_event_time(None) if self.rng.random() < 0.5 else None
        return self.new_write(
            index, "new", key, event_time, Expectation("created", None)
        )

    def make_update(self, index: int, key: RecordKey) -> Write:
        event_time = (
            next_event_time(self.latest_time.get(key))
            if self.rng.random() < 0.5
            else None
        )
        stored = self.owned[key]
        expectation = Expectation("applied", stored) if stored is not None else None
        return self.new_write(index, "update", key, event_time, expectation)

    def make_shared_update(self, index: int) -> Write:
        key = self.rng.choice(self.load.shared_keys)
        event_time = self.load.shared_event_time() if self.rng.random() < 0.5 else None
        return self.new_write(index, "shared", key, event_time, None)

    def make_replay(self, index: int, known: list[RecordKey]) -> Write:
        """Send an earlier body again: mostly the record's stored one, else any."""
        key = self.rng.choice(known)
        stored = self.owned[key]
        assert stored is not None
        if self.rng.random() < 0.8:
            original = self.last_write[key]
        else:
            original = self.rng.choice(
                [write for write in self.history if write.key in self.owned]
            )
            key = original.key
            stored = self.owned[key]
        if stored is None:
            expectation = None
        elif original.compute_id == stored.compute_id:
            expectation = Expectation("replayed", stored)
        elif (
            original.event_time is not None and original.event_time <= stored.event_time
        ):
            expectation = Expectation("stale", stored)
        else:
            # Without an event time, an older body whose content differs from the
            # stored record's is a new write at the time the service receives it.
            expectation = Expectation("applied", stored)
        return Write(
            index=index,
            client=self.number,
            kind="replay",
            key=key,
            body=original.body,
            compute_id=original.compute_id,
            event_time=original.event_time,
            expectation=expectation,
        )

    def new_write(
        self,
        index: int,
        kind: str,
        key: RecordKey,
        event_time: str | None,
        expectation: Expectation | None,
    ) -> Write:
        compute_id = f"chaos-{self.load.run_id}-{index}"
        meta: dict[str, Any] = {"source": "chaos", "compute_id": compute_id}
        if event_time is not None:
            meta["event_time"] = event_time
            self.latest_time[key] = event_time
        data = {**key.as_dict(), "features": self.make_features(index)}
        body = json.dumps({"meta": meta, "data": data}, separators=(",", ":"))
        return Write(
            index=index,
            client=self.number,
            kind=kind,
            key=key,
            body=body.encode(),
            compute_id=compute_id,
            event_time=event_time,
            expectation=expectation,
        )

    def make_features(self, index: int) -> dict[str, Any]:
        # Numbers such as 50000.0 and 1e-07 come back from dynalite in another form,
        # so they also test that the stored and published text stays the client's.
        rng = self.rng
        return {
            "write_index": index,
            "credit_score": rng.randint(300, 850),
            "debt_to_income_ratio": round(rng.random(), 4),
            "total_credit_limit": float(rng.randrange(1000, 100_000, 1000)),
            "tiny": rng.choice((1e-07, 2.5e-05, 0.0)),
            "risk_level": rng.choice(("low", "medium", "high")),
            "is_verified": rng.random() < 0.5,
            "embedding": [round(rng.uniform(-1, 1), 6) for _ in range(4)],
        }

    # Sending and remembering.

    def send(self, write: Write) -> None:
        """Send the write until a 2xx or a final 4xx, for at most --attempts tries."""
        for number in range(1, self.load.max_attempts + 1):
            time_left = self.load.load_time_left()
            if self.load.stop.is_set() or time_left <= 0:
                write.outcome = "abandoned"
                return
            sent_at = self.load.deadline.elapsed()
            status, error, response = post_write(
                self.load.url,
                write.body,
                f"{write.compute_id}.{write.index}.a{number}",
                min(HTTP_TIMEOUT_SECONDS, max(1.0, time_left)),
            )
            write.attempts.append(
                Attempt(
                    number=number,
                    sent_at=round(sent_at, 3),
                    seconds=round(self.load.deadline.elapsed() - sent_at, 3),
                    status=status,
                    error=error,
                    response=response,
                )
            )
            if status is not None and 200 <= status < 300:
                write.outcome = "acknowledged"
                break
            # A 409 means the stored record is newer, and sending the same body
            # again would get 409 again. Any other 4xx is a bad request.
            if status is not None and 400 <= status < 500:
                write.outcome = "stale" if status == 409 else "rejected"
                break
            delay = min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * 2 ** (number - 1))
            time.sleep(delay * self.rng.uniform(0.5, 1.0))
        else:
            write.outcome = "unacknowledged"
        write.contradiction = describe_contradiction(write)

    def remember(self, write: Write) -> None:
        self.history.append(write)
        if write.key not in self.owned:
            return
        if write.outcome == "acknowledged":
            response = write.response
            self.owned[write.key] = RecordState(
                compute_id=write.compute_id,
                event_id=response["event_id"],
                version=response["version"],
                event_time=response["event_time"],
            )
            self.last_write[write.key] = write
            self.latest_time[write.key] = max(
                response["event_time"], self.latest_time.get(write.key, "")
            )
        elif write.outcome != "stale":
            # The write may or may not be stored, so later responses cannot be
            # predicted until one is acknowledged.
            self.owned[write.key] = None


def describe_contradiction(write: Write) -> str | None:
    """Describe how the final response breaks docs/api.md, or return None."""
    if write.outcome == "rejected":
        return f"rejected with {write.attempts[-1].status}: {write.response}"
    expectation = write.expectation
    if expectation is None or write.outcome not in ("acknowledged", "stale"):
        return None

    status = write.attempts[-1].status
    if expectation.kind == "stale":
        if write.outcome == "stale":
            return None
        return f"expected 409 for an older event time, got {status}: {write.response}"
    if write.outcome == "stale":
        return f"expected the write to apply, got 409: {write.response}"

    response = write.response
    state = response.get("status")
    version = response.get("version")
    event_id = response.get("event_id")
    if (status == 201) != (state == "created"):
        return f"status {status} does not match response status {state!r}"

    stored = expectation.stored
    if expectation.kind == "created":
        passed = version == 1 and state in ("created", "unchanged")
        expected = "version 1"
    elif expectation.kind == "replayed":
        assert stored is not None
        passed = (
            state == "unchanged"
            and version == stored.version
            and event_id == stored.event_id
        )
        expected = (
            f"unchanged with version {stored.version} and event {stored.event_id}"
        )
    else:
        assert stored is not None
        # "unchanged" is right too when an earlier attempt of this write was applied.
        passed = (
            state in ("updated", "unchanged")
            and version == stored.version + 1
            and event_id != stored.event_id
        )
        expected = f"version {stored.version + 1} with a new event id"
    if passed:
        return None
    return f"expected {expected}, got {status} {response}"


# --- disruptions -------------------------------------------------------------------


@dataclasses.dataclass
class Disruption:
    """One chaos step, done or failed."""

    name: str
    started: datetime.datetime
    offset: float  # seconds since the run started
    seconds: float
    detail: str


class Chaos(threading.Thread):
    """The thread that runs CHAOS_STEPS during the load and watches the servers.

    It sets ``done`` after the last step, then keeps watching until
    ``load.finished``.
    """

    def __init__(
        self,
        args: argparse.Namespace,
        stack: LocalStack,
        service: Service,
        load: Load,
        done: threading.Event,
    ):
        super().__init__(name="chaos", daemon=True)
        self.args = args
        self.stack = stack
        self.service = service
        self.load = load
        self.done = done
        self.rng = random.Random(args.seed)
        self.disruptions: list[Disruption] = []
        self.failure: str | None = None
        self.exited_server: str | None = None
        self._next_watch = 0.0

    def run(self) -> None:
        try:
            for fraction, name in CHAOS_STEPS:
                if not self.wait_for_progress(fraction):
                    return
                self.disrupt(name)
            self.done.set()
            while not self.load.finished.wait(0.05):
                self.watch_servers()
        except ServerExited as error:
            self.exited_server = error.server
            self.failure = str(error)
            logger.error("chaos: %s", error)
            self.load.stop.set()
        except (CheckAborted, OSError, subprocess.SubprocessError) as error:
            self.failure = str(error)
            logger.error("chaos: %s", error)
            self.load.stop.set()
        finally:
            self.done.set()

    def wait_for_progress(self, fraction: float) -> bool:
        while self.load.progress() < fraction:
            if self.load.stop.is_set() or self.load.load_time_left() <= 0:
                return False
            self.watch_servers()
            time.sleep(0.05)
        return True

    def watch_servers(self) -> None:
        """Raise ServerExited when dynalite or Kafka is down outside a chaos step.

        Checked once a second. Without this, the clients would retry against a
        dead server until the time limit.
        """
        if time.monotonic() < self._next_watch:
            return
        self._next_watch = time.monotonic() + 1.0
        for server, state in self.stack.status().items():
            if state == "down":
                raise ServerExited(server, self.stack.log_tail(server))
        if self.service.process is not None and self.service.process.poll() is not None:
            raise CheckAborted(
                f"gunicorn's master exited with status "
                f"{self.service.process.returncode} (log: {self.service.log_path})"
            )

    def stack_time_left(self) -> float:
        return self.load.deadline.remaining(CHECK_SECONDS + TEARDOWN_SECONDS)

    def disrupt(self, name: str) -> None:
        started = datetime.datetime.now().astimezone()
        offset = self.load.deadline.elapsed()
        clock = time.monotonic()
        logger.info("chaos: %s starts", name)
        if name == "kill-worker":
            detail = self.service.kill_worker(self.rng)
        elif name == "kafka-outage":
            detail = self.restart("kafka", self.args.kafka_down_seconds)
        elif name == "dynamodb-restart":
            detail = self.restart("dynamodb", self.args.dynamodb_down_seconds)
        else:
            raise ValueError(f"unknown chaos step {name!r}")
        seconds = time.monotonic() - clock
        logger.info("chaos: %s done in %.1f s: %s", name, seconds, detail)
        self.disruptions.append(Disruption(name, started, offset, seconds, detail))

    def restart(self, server: str, down_seconds: float) -> str:
        stop_seconds = self.stack.run(f"stop-{server}", self.stack_time_left())
        logger.info("chaos: %s stopped in %.1f s", server, stop_seconds)
        time.sleep(down_seconds)
        start_seconds = self.stack.run(f"start-{server}", self.stack_time_left())
        return (
            f"{server} stopped in {stop_seconds:.1f} s, down {down_seconds:g} s, "
            f"ready again {start_seconds:.1f} s after its start"
        )


# --- the check ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Event:
    """One message of the topic."""

    event_id: str
    event_type: str
    version: int
    key: RecordKey
    features_text: str | None
    partition: int
    offset: int


def read_records(
    endpoint: str, keys: list[RecordKey]
) -> dict[RecordKey, dict[str, Any] | None]:
    """Read every record with a consistent read, as the low-level client returns it."""
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=botocore.config.Config(
            connect_timeout=2,
            read_timeout=10,
            retries={"mode": "standard", "max_attempts": 5},
        ),
    )
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        items = pool.map(lambda key: read_item(client, TABLE, key), keys)
        return dict(zip(keys, items, strict=True))


def read_topic(bootstrap_servers: str, timeout: float) -> tuple[list[Event], list[int]]:
    """Read every partition from the start to its end offset at the time of the call.

    Returns the events and the partitions that were not read to their end in time.
    """
    messages, unfinished = probe.read_topic(bootstrap_servers, TOPIC, timeout=timeout)
    events: list[Event] = []
    for message in messages:
        envelope = jsonio.loads(message.value())
        features = envelope.get("features")
        events.append(
            Event(
                event_id=envelope["event_id"],
                event_type=envelope["event_type"],
                version=envelope["version"],
                key=RecordKey(**envelope["key"]),
                features_text=(
                    None if features is None else jsonio.dumps(features, sort_keys=True)
                ),
                partition=message.partition(),
                offset=message.offset(),
            )
        )
    return events, unfinished


@dataclasses.dataclass
class Findings:
    """Results of the check of DynamoDB and the topic."""

    lost: list[tuple[Write, str]]
    duplicate_ids: int
    extra_copies: int
    events: int
    out_of_order: int


def find_record_problem(
    write: Write,
    item: dict[str, Any] | None,
    sent_features: dict[tuple[RecordKey, str], str],
) -> str | None:
    """Describe how DynamoDB's record fails to reflect an acknowledged write."""
    event_id, version = write.response["event_id"], write.response["version"]
    if item is None:
        return "the record is not in DynamoDB"
    stored_version = int(item["version"]["N"])
    stored_id = item["event_id"]["S"]
    stored_text = jsonio.dumps(values.features_from_item(item), sort_keys=True)
    if stored_id == event_id:
        if stored_version != version:
            return (
                f"DynamoDB has event {event_id} with version {stored_version}, "
                f"but the response gave version {version}"
            )
        if stored_text != write.features_text:
            return f"DynamoDB has other features under event {event_id}: {stored_text}"
        return None
    if stored_version <= version:
        return (
            f"DynamoDB has version {stored_version} (event {stored_id}), not newer "
            f"than the acknowledged version {version}"
        )
    compute_id = item.get("compute_id", {}).get("S", "")
    if sent_features.get((write.key, compute_id)) != stored_text:
        return (
            f"DynamoDB has version {stored_version} (compute_id {compute_id!r}), "
            "which is no write this run sent"
        )
    return None


def find_event_problem(write: Write, copies: list[Event]) -> str | None:
    """Describe how the topic fails to hold an acknowledged write's event."""
    event_id, version = write.response["event_id"], write.response["version"]
    if not copies:
        return f"event {event_id} is not on the topic"
    for copy in copies:
        where = f"event {event_id} at partition {copy.partition} offset {copy.offset}"
        if copy.version != version:
            return f"{where} has version {copy.version}, the response {version}"
        if copy.key != write.key:
            return f"{where} has key {copy.key.as_dict()}"
        if copy.features_text != write.features_text:
            return f"{where} has other features: {copy.features_text}"
    return None


def check_writes(
    writes: list[Write],
    items: dict[RecordKey, dict[str, Any] | None],
    events: list[Event],
) -> Findings:
    """Check every acknowledged write against DynamoDB and the topic."""
    acknowledged = [write for write in writes if write.outcome == "acknowledged"]
    sent_features = {
        (write.key, write.compute_id): write.features_text for write in writes
    }
    copies: dict[str, list[Event]] = collections.defaultdict(list)
    for event in events:
        copies[event.event_id].append(event)
    # Two acknowledged writes of one record with one version mean that DynamoDB
    # applied one over the other without counting it.
    ids_by_version: dict[tuple[RecordKey, int], set[str]] = collections.defaultdict(set)
    for write in acknowledged:
        ids_by_version[write.key, write.response["version"]].add(
            write.response["event_id"]
        )

    lost: list[tuple[Write, str]] = []
    for write in acknowledged:
        problems = [
            find_record_problem(write, items.get(write.key), sent_features),
            find_event_problem(write, copies.get(write.response["event_id"], [])),
        ]
        if len(ids_by_version[write.key, write.response["version"]]) > 1:
            problems.append(
                f"another acknowledged write of this record got version "
                f"{write.response['version']}"
            )
        reasons = [problem for problem in problems if problem is not None]
        if reasons:
            lost.append((write, "; ".join(reasons)))

    return Findings(
        lost=lost,
        duplicate_ids=sum(1 for found in copies.values() if len(found) > 1),
        extra_copies=sum(len(found) - 1 for found in copies.values()),
        events=len(events),
        out_of_order=count_out_of_order(events),
    )


def count_out_of_order(events: list[Event]) -> int:
    """Count first copies of events that follow a higher version of their record.

    docs/api.md allows this when two workers write one record at once, so it is
    reported, not failed.
    """
    highest: dict[RecordKey, int] = {}
    seen: set[str] = set()
    count = 0
    for event in sorted(events, key=lambda event: (event.partition, event.offset)):
        if event.event_id in seen:
            continue
        seen.add(event.event_id)
        if event.version < highest.get(event.key, 0):
            count += 1
        highest[event.key] = max(event.version, highest.get(event.key, 0))
    return count


# --- the run -----------------------------------------------------------------------


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options: list[tuple[str, type, Any, str]] = [
        ("--writes", int, 3000, "write requests to send"),
        ("--clients", int, 16, "concurrent client threads"),
        ("--attempts", int, 20, "maximum attempts per write request"),
        (
            "--max-seconds",
            float,
            600,
            "time limit of the whole run in seconds, start-up and check included",
        ),
        ("--kafka-down-seconds", float, 3, "seconds the Kafka broker stays stopped"),
        ("--dynamodb-down-seconds", float, 1, "seconds dynalite stays stopped"),
        ("--dynamodb-port", int, 17000, "dynalite port on 127.0.0.1"),
        ("--kafka-port", int, 17092, "Kafka listener port on 127.0.0.1"),
        ("--kafka-controller-port", int, 17093, "KRaft controller port on 127.0.0.1"),
        ("--service-port", int, 17015, "gunicorn port on 127.0.0.1"),
    ]
    for name, kind, default, text in options:
        parser.add_argument(
            name, type=kind, default=default, help=f"{text} (default: {default})"
        )
    parser.add_argument(
        "--seed",
        type=int,
        help="seed of the clients' random choices, though thread timing still varies "
        "between runs (default: a random one)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the run's folder even when it passes"
    )
    args = parser.parse_args()
    if args.writes < 1 or args.clients < 1 or args.attempts < 1:
        parser.error("--writes, --clients and --attempts must be at least 1")
    shortest = 2 * (CHECK_SECONDS + TEARDOWN_SECONDS)
    if args.max_seconds < shortest:
        parser.error(f"--max-seconds must be at least {shortest}")
    if args.seed is None:
        args.seed = random.randrange(1_000_000)
    return args


def raise_keyboard_interrupt(signal_number: int, frame: Any) -> None:
    # Turns SIGTERM, as from a CI runner, into the Ctrl-C path that stops the servers.
    raise KeyboardInterrupt(f"signal {signal_number}")


def run_load(
    args: argparse.Namespace, stack: LocalStack, service: Service, deadline: Deadline
) -> tuple[Load, Chaos]:
    """Send the writes while the chaos thread disrupts the servers."""
    stop, chaos_done = threading.Event(), threading.Event()
    load = Load(args, service.url, deadline, stop, chaos_done)
    chaos = Chaos(args, stack, service, load, chaos_done)
    clients = [Client(number, load, args.seed) for number in range(args.clients)]
    logger.info(
        "sending %d writes from %d clients (seed %d, entity values start with %s)",
        args.writes,
        args.clients,
        args.seed,
        load.run_id,
    )
    try:
        chaos.start()
        for client in clients:
            client.start()
        next_report = time.monotonic() + 10
        for client in clients:
            while client.is_alive():
                client.join(timeout=0.5)
                if time.monotonic() >= next_report:
                    next_report += 10
                    log_progress(load)
        load.finished.set()
        chaos.join(timeout=max(1.0, deadline.remaining(TEARDOWN_SECONDS)))
    finally:
        load.finished.set()
        stop.set()
    return load, chaos


def log_progress(load: Load) -> None:
    logger.info(
        "progress: %d of %d writes finished, %d acknowledged, %d retries so far",
        load.finished_count,
        load.total,
        load.counts()["acknowledged"],
        load.retries(),
    )


def run_check(
    args: argparse.Namespace, load: Load, deadline: Deadline
) -> tuple[Findings, list[int]]:
    """Read DynamoDB and the topic, and check the acknowledged writes against both."""
    keys = sorted(
        {write.key for write in load.writes if write.outcome == "acknowledged"},
        key=lambda key: (key.entity_value, key.category),
    )
    logger.info("reading %d records from DynamoDB", len(keys))
    try:
        items = read_records(f"http://{HOST}:{args.dynamodb_port}", keys)
    except (
        botocore.exceptions.BotoCoreError,
        botocore.exceptions.ClientError,
    ) as error:
        raise CheckAborted(
            f"reading the records from dynalite failed: {error}"
        ) from error
    logger.info("reading topic %s from its start", TOPIC)
    try:
        events, unread = read_topic(
            f"{HOST}:{args.kafka_port}", max(5.0, deadline.remaining(TEARDOWN_SECONDS))
        )
    except KafkaException as error:
        raise CheckAborted(f"reading topic {TOPIC} failed: {error}") from error
    if unread:
        logger.error(
            "partitions %s of %s were not read to their end in time, so events "
            "reported missing may be there",
            unread,
            TOPIC,
        )
    return check_writes(load.writes, items, events), unread


def print_summary(
    args: argparse.Namespace,
    load: Load,
    chaos: Chaos,
    findings: Findings | None,
    timings: dict[str, float],
) -> None:
    writes = load.writes
    outcomes = collections.Counter(write.outcome for write in writes)
    kinds = collections.Counter(write.kind for write in writes)
    retry_causes = collections.Counter(
        f"{attempt.status} {attempt.error}"
        if attempt.status is not None
        else f"no response ({attempt.error})"
        for write in writes
        for attempt in write.attempts
        if attempt.status is None or attempt.status >= 500
    )
    unacknowledged = [write for write in writes if write.outcome == "unacknowledged"]
    contradicted = [write for write in writes if write.contradiction]
    row = "  {:<32}{}".format
    indent = " " * 34

    print()
    print("chaos check of the write guarantee")
    print(row("writes sent", f"{len(writes)} of {args.writes} (seed {args.seed})"))
    print(indent + ", ".join(f"{kind} {kinds[kind]}" for kind in sorted(kinds)))
    with_time = sum(1 for write in writes if write.event_time is not None)
    print(indent + f"{with_time} with meta.event_time")
    print(row("acknowledged (2xx)", outcomes["acknowledged"]))
    print(row("stale (409, allowed)", outcomes["stale"]))
    retried = sum(1 for write in writes if len(write.attempts) > 1)
    print(row("retried", f"{load.retries()} retry attempts on {retried} writes"))
    for cause, count in retry_causes.most_common():
        print(indent + f"{count} x {cause}")
    print(row("lost", len(findings.lost) if findings else "not checked"))
    print(row("unacknowledged after retries", len(unacknowledged)))
    print(row("contradicting docs/api.md", len(contradicted)))
    if outcomes["abandoned"] or len(writes) < args.writes:
        not_sent = args.writes - len(writes)
        abandoned = outcomes["abandoned"]
        print(row("stopped early", f"{abandoned} abandoned, {not_sent} not sent"))
    if findings is not None:
        print(
            row(
                "duplicate events",
                f"{findings.duplicate_ids} event ids appear more than once "
                f"({findings.extra_copies} extra copies among "
                f"{findings.events} events)",
            )
        )
        print(
            row("events after a higher version", f"{findings.out_of_order} (allowed)")
        )
    print("  disruptions")
    for disruption in chaos.disruptions:
        started = disruption.started.strftime("%H:%M:%S.%f")[:-3]
        print(
            f"    {started} (+{disruption.offset:.1f} s, {disruption.seconds:.1f} s) "
            f"{disruption.name}: {disruption.detail}"
        )
    planned = collections.Counter(name for _, name in CHAOS_STEPS)
    done = collections.Counter(disruption.name for disruption in chaos.disruptions)
    for name, count in (planned - done).items():
        print(f"    {name}: {count} not done")
    if chaos.failure:
        failure_lines = chaos.failure.splitlines()
        print(f"    failed: {failure_lines[0]}")
        for line in failure_lines[1:]:
            print(f"      {line}")
    times = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in timings.items())
    print(row("wall time", times))

    if findings is not None:
        print_writes("lost", findings.lost)
    print_writes(
        "unacknowledged after retries", [(write, "") for write in unacknowledged]
    )
    print_writes(
        "contradicting docs/api.md",
        [(write, write.contradiction or "") for write in contradicted],
    )


def print_writes(title: str, listed: list[tuple[Write, str]], limit: int = 10) -> None:
    """Print the first writes of a list with every attempt, to reproduce them."""
    if listed:
        print(f"\nfirst {min(limit, len(listed))} of {len(listed)} {title}:")
    for write, reason in listed[:limit]:
        key = write.key
        print(
            f"  write {write.index} ({write.kind}, client {write.client}, compute_id "
            f"{write.compute_id}, event_time {write.event_time}) to record "
            f"{key.entity_value}/{key.category}"
        )
        if reason:
            print(f"    {reason}")
        for attempt in write.attempts:
            response = attempt.response or {}
            if attempt.status is not None and attempt.status < 300:
                result = (
                    f"{response.get('status')} version {response.get('version')} "
                    f"event {response.get('event_id')}"
                )
            else:
                result = attempt.error
            print(
                f"    attempt {attempt.number} at +{attempt.sent_at:.2f} s: "
                f"{attempt.status} {result} after {attempt.seconds:.2f} s"
            )


def write_log(directory: pathlib.Path, writes: list[Write]) -> None:
    with (directory / "writes.jsonl").open("w") as log:
        for write in sorted(writes, key=lambda write: write.index):
            log.write(json.dumps(write.as_log_entry()) + "\n")


def list_incomplete_reasons(
    args: argparse.Namespace,
    load: Load,
    chaos: Chaos,
    findings: Findings | None,
    unread: list[int],
) -> list[str]:
    """List why the run did not test everything it should have."""
    reasons = []
    if chaos.exited_server is not None:
        reasons.append(f"{chaos.exited_server} exited during the load")
    elif chaos.failure is not None:
        reasons.append(f"a chaos step failed: {chaos.failure}")
    if len(chaos.disruptions) < len(CHAOS_STEPS):
        reasons.append(
            f"{len(chaos.disruptions)} of {len(CHAOS_STEPS)} disruptions were done"
        )
    if load.client_failures:
        reasons.append(f"{load.client_failures} client threads failed")
    unfinished = args.writes - sum(
        1 for write in load.writes if write.outcome != "abandoned"
    )
    if unfinished:
        reasons.append(f"{unfinished} writes were not sent or not finished")
    if findings is None:
        reasons.append("DynamoDB and Kafka were not checked")
    if unread:
        reasons.append(f"partitions {unread} were not read to their end")
    return reasons


def start_servers(stack: LocalStack, service: Service, deadline: Deadline) -> None:
    stack.run("up", deadline.remaining(CHECK_SECONDS + TEARDOWN_SECONDS))
    service.create_table_and_topic(deadline.remaining(CHECK_SECONDS + TEARDOWN_SECONDS))
    service.start(min(60.0, deadline.remaining(CHECK_SECONDS + TEARDOWN_SECONDS)))


def check_after_load(
    args: argparse.Namespace,
    stack: LocalStack,
    load: Load,
    chaos: Chaos,
    deadline: Deadline,
) -> tuple[Findings | None, list[int]]:
    """Run the check unless a chaos step failed, and return its findings.

    Also returns the partitions not read to their end. The findings are None when
    the check did not run or could not read the servers, which is logged.
    """
    if chaos.failure is not None and chaos.exited_server is None:
        return None, []
    try:
        if chaos.exited_server is not None:
            # The records acknowledged before the exit are on disk, so the check
            # can still read them. The run stays incomplete.
            logger.info("starting %s again to read what it stored", chaos.exited_server)
            stack.run("up", deadline.remaining(CHECK_SECONDS))
        return run_check(args, load, deadline)
    except CheckAborted as error:
        logger.error("the check failed to read the servers: %s", error)
        return None, []


def run(
    args: argparse.Namespace,
    directory: pathlib.Path,
    stack: LocalStack,
    service: Service,
    deadline: Deadline,
) -> int:
    """Start the servers, run the load and the check, and return the exit status."""
    timings: dict[str, float] = {}
    start_servers(stack, service, deadline)
    timings["start-up"] = deadline.elapsed()
    logger.info("stack and service ready after %.1f s", timings["start-up"])

    load, chaos = run_load(args, stack, service, deadline)
    timings["load"] = deadline.elapsed() - timings["start-up"]
    write_log(directory, load.writes)

    check_started = deadline.elapsed()
    findings, unread = check_after_load(args, stack, load, chaos, deadline)
    timings["check"] = deadline.elapsed() - check_started
    timings["total"] = deadline.elapsed()
    print_summary(args, load, chaos, findings, timings)

    failed = (
        (findings is not None and findings.lost)
        or any(write.outcome == "unacknowledged" for write in load.writes)
        or any(write.contradiction for write in load.writes)
    )
    if failed:
        print("\nresult: FAIL")
        return 1
    gaps = list_incomplete_reasons(args, load, chaos, findings, unread)
    if gaps:
        print(f"\nresult: INCOMPLETE, {'; '.join(gaps)}")
        return 2
    print("\nresult: PASS")
    return 0


def main() -> int:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s.%(msecs)03d %(message)s",
        datefmt="%H:%M:%S",
    )
    args = parse_arguments()
    signal.signal(signal.SIGTERM, raise_keyboard_interrupt)
    deadline = Deadline(args.max_seconds)
    directory = pathlib.Path(tempfile.mkdtemp(prefix="featurestore-chaos-"))
    stack = LocalStack(directory, args)
    service = Service(directory, args)
    logger.info("run folder %s", directory)

    status = 2
    try:
        status = run(args, directory, stack, service, deadline)
    except CheckAborted as error:
        logger.error("check aborted: %s", error)
    except KeyboardInterrupt:
        logger.error("interrupted, stopping the servers")
    except Exception:
        # Exit status 1 must keep meaning a failed check, not a failure of this script.
        logger.exception("chaos.py failed, stopping the servers")
    finally:
        service.stop()
        try:
            stack.run("down", TEARDOWN_SECONDS + 30)
        except CheckAborted as error:
            logger.error("stopping the stack failed: %s", error)
            status = 2

    if status == 0 and not args.keep:
        shutil.rmtree(directory, ignore_errors=True)
    else:
        logger.info("kept the servers' logs and writes.jsonl in %s", directory)
    return status


if __name__ == "__main__":
    sys.exit(main())
