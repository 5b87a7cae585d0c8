"""Kafka events: the envelope of each change and the publisher that awaits Kafka's ack.

One event per applied write or delete goes to the topic, keyed by the entity so that
all categories of an entity stay in one partition, in order.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from featurestore import jsonio, metrics
from featurestore.config import Settings
from featurestore.errors import KafkaUnavailable, PayloadTooLarge
from featurestore.records import StoredRecord

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
WRITTEN = "features.written"
DELETED = "features.deleted"

# How long produce() waits for room when the producer's local queue is full.
QUEUE_FULL_WAIT_SECONDS = 0.5


def build_envelope(record: StoredRecord, event_type: str = WRITTEN) -> dict[str, Any]:
    """Build the JSON envelope of the event that announces ``record``'s change."""
    envelope: dict[str, Any] = {
        "event_id": record.event_id,
        "event_type": event_type,
        "schema_version": SCHEMA_VERSION,
        "key": record.key.as_dict(),
        "event_time": record.event_time,
        "meta": {
            "source": record.source,
            "compute_id": record.compute_id,
            "request_id": record.request_id,
        },
        "version": record.version,
    }
    if event_type == WRITTEN:
        envelope["features"] = record.features
    return envelope


# How often the delivery thread refreshes the producer-queue gauge, in seconds.
QUEUE_GAUGE_SECONDS = 0.5

# Room in an event for everything but the features: ids, key, meta and JSON syntax.
# The key's parts and the meta texts are bounded by the schemas to about 1.7 KB.
ENVELOPE_OVERHEAD_BYTES = 4096


def check_event_size(features_json: str, settings: Settings) -> None:
    """Raise PayloadTooLarge if the event of these features may exceed Kafka's limit.

    Runs before the record is stored, so that no stored record has an event that
    Kafka would reject.
    """
    size = len(features_json.encode()) + ENVELOPE_OVERHEAD_BYTES
    if size > settings.kafka_max_message_bytes:
        raise PayloadTooLarge(
            f"The event would be about {size} bytes, more than the Kafka message limit "
            f"of {settings.kafka_max_message_bytes} bytes; send fewer or smaller "
            "features."
        )


def producer_config(settings: Settings) -> dict[str, Any]:
    """Return the librdkafka settings of the service's producer.

    ``acks=all`` with idempotence means an acknowledged event is on every in-sync
    replica and a retried send is not duplicated by the broker. Settings passed
    through the environment come last, so an operator can tune any of them.
    """
    delivery_timeout_ms = int(settings.kafka_delivery_timeout * 1000)
    config: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": settings.kafka_linger_ms,
        "message.max.bytes": settings.kafka_max_message_bytes,
        # A message that is not delivered in this time fails with a delivery report
        # instead of waiting in the queue for ever.
        "message.timeout.ms": delivery_timeout_ms,
        "socket.connection.setup.timeout.ms": max(1000, delivery_timeout_ms),
        "client.id": "featurestore",
    }
    config.update(settings.librdkafka)
    return config


def _rejected(error: KafkaError) -> KafkaUnavailable:
    return KafkaUnavailable(
        f"Kafka rejected the event ({error.name()}); retry the request."
    )


class Publisher:
    """A Kafka producer whose delivery reports are served by a background thread.

    ``publish`` returns only after Kafka acknowledged the message, and raises
    KafkaUnavailable when the report is an error or does not come within the delivery
    timeout. A Publisher belongs to the process that made it: librdkafka's threads do
    not survive ``fork()``.
    """

    def __init__(self, settings: Settings, producer: Producer | None = None):
        self._topic = settings.kafka_topic
        self._timeout = settings.kafka_delivery_timeout
        # librdkafka's own log lines go through logging, served by poll().
        self._producer = producer or Producer(
            {**producer_config(settings), "logger": logging.getLogger("librdkafka")}
        )
        self._closing = threading.Event()
        self._poller = threading.Thread(
            target=self._serve_delivery_reports, name="kafka-delivery", daemon=True
        )
        self._poller.start()

    def _serve_delivery_reports(self) -> None:
        # poll() returns after each batch of reports, so under load the queue gauge
        # is refreshed at most every QUEUE_GAUGE_SECONDS rather than on every batch.
        refreshed = 0.0
        while not self._closing.is_set():
            self._producer.poll(0.1)
            now = time.monotonic()
            if now - refreshed >= QUEUE_GAUGE_SECONDS:
                metrics.KAFKA_QUEUE.set(len(self._producer))
                refreshed = now

    def send(self, key: str, envelope: Mapping[str, Any]) -> Future[None]:
        """Queue one event; the returned future completes with Kafka's delivery report.

        Events sent one after another for the same key reach the partition in the
        order of the calls: the producer is idempotent, so retries keep the order.
        """
        value = jsonio.dumps(envelope).encode()
        delivered: Future[None] = Future()
        started = time.perf_counter()

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            if error is None:
                metrics.KAFKA_DELIVERY_SECONDS.observe(time.perf_counter() - started)
                delivered.set_result(None)
            else:
                metrics.KAFKA_FAILURES.labels(error.name()).inc()
                delivered.set_exception(KafkaException(error))

        self._produce(key, value, envelope, on_delivery)
        return delivered

    def wait(self, delivered: Future[None], *, deadline: float | None = None) -> None:
        """Wait for a delivery report until ``deadline`` (time.monotonic seconds).

        Raises KafkaUnavailable when the report is an error or does not come in time.
        Without a deadline, waits for the configured delivery timeout.
        """
        if deadline is None:
            deadline = time.monotonic() + self._timeout
        try:
            delivered.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout as exc:
            metrics.KAFKA_FAILURES.labels("wait_timeout").inc()
            raise self._not_acknowledged() from exc
        except KafkaException as exc:
            error = exc.args[0]
            if error.code() == KafkaError._MSG_TIMED_OUT:
                # message.timeout.ms equals the wait, so either may expire first.
                raise self._not_acknowledged() from exc
            raise _rejected(error) from exc

    def _not_acknowledged(self) -> KafkaUnavailable:
        return KafkaUnavailable(
            f"Kafka did not acknowledge the event within {self._timeout:g} s; "
            "retry the request."
        )

    def publish(self, key: str, envelope: Mapping[str, Any]) -> None:
        """Send one event and wait until Kafka acknowledges it."""
        self.wait(self.send(key, envelope))

    @property
    def delivery_timeout(self) -> float:
        """Seconds a caller waits for one delivery report."""
        return self._timeout

    def _produce(self, key: str, value: bytes, envelope: Mapping[str, Any], callback):
        headers = [
            ("event_id", str(envelope["event_id"]).encode()),
            ("event_type", str(envelope["event_type"]).encode()),
        ]
        deadline = time.monotonic() + QUEUE_FULL_WAIT_SECONDS
        while True:
            try:
                self._producer.produce(
                    self._topic,
                    value=value,
                    key=key.encode(),
                    headers=headers,
                    on_delivery=callback,
                )
                return
            except BufferError as exc:
                if time.monotonic() >= deadline:
                    metrics.KAFKA_FAILURES.labels("queue_full").inc()
                    raise KafkaUnavailable(
                        "The Kafka producer's queue is full; retry the request."
                    ) from exc
                time.sleep(0.01)
            except KafkaException as exc:
                error = exc.args[0]
                if error.code() == KafkaError.MSG_SIZE_TOO_LARGE:
                    raise PayloadTooLarge(
                        f"The event is {len(value)} bytes, more than Kafka's maximum "
                        "message size; send fewer or smaller features."
                    ) from exc
                raise _rejected(error) from exc

    def queue_length(self) -> int:
        """Return the number of messages and requests waiting in the producer."""
        return len(self._producer)

    def check_broker(self, timeout: float) -> None:
        """Raise KafkaUnavailable unless a broker returns topic metadata in time."""
        try:
            metadata = self._producer.list_topics(self._topic, timeout=timeout)
        except KafkaException as exc:
            raise KafkaUnavailable(f"Kafka metadata request failed: {exc}") from exc
        topic = metadata.topics.get(self._topic)
        if topic is None or topic.error is not None:
            raise KafkaUnavailable(f"Kafka topic {self._topic!r} is not available.")

    def close(self, timeout: float) -> int:
        """Flush within ``timeout`` seconds and stop; return the messages left."""
        left = self._producer.flush(timeout)
        self._closing.set()
        self._poller.join(timeout=1.0)
        if left:
            logger.warning("Kafka producer closed with %d messages not delivered", left)
        else:
            logger.info("Kafka producer flushed and closed")
        return left
