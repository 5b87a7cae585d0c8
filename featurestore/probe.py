"""Checks that a record is in DynamoDB and its event is on Kafka.

Used by ``make smoke`` and by the tests against the local stack, which must prove
"stored" and "published" by reading the servers themselves.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    Message,
    TopicPartition,
)

from featurestore import jsonio
from featurestore.records import RecordKey
from featurestore.store import key_attributes

logger = logging.getLogger(__name__)


def read_item(client: Any, table: str, key: RecordKey) -> dict[str, Any] | None:
    """Read one item with a consistent read, as the low-level client returns it."""
    response = client.get_item(
        TableName=table, Key=key_attributes(key), ConsistentRead=True
    )
    return response.get("Item")


def read_topic(
    bootstrap_servers: str, topic: str, *, timeout: float = 15.0
) -> tuple[list[Message], list[int]]:
    """Read every partition from its start to its end offset at the time of the call.

    Returns the messages, and the partitions not read to their end within
    ``timeout`` seconds.
    """
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": f"featurestore-probe-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    messages: list[Message] = []
    deadline = time.monotonic() + timeout
    try:
        metadata = consumer.list_topics(topic, timeout=timeout)
        ends: dict[int, int] = {}
        for partition in metadata.topics[topic].partitions:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=timeout
            )
            if high > low:
                ends[partition] = high
        consumer.assign(
            [TopicPartition(topic, partition, OFFSET_BEGINNING) for partition in ends]
        )
        while ends and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=500, timeout=0.5):
                partition = message.partition()
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        if message.offset() >= ends.get(partition, 0):
                            ends.pop(partition, None)
                    else:
                        logger.warning("reading topic %s failed: %s", topic, error)
                    continue
                messages.append(message)
                if message.offset() + 1 >= ends.get(partition, 0):
                    ends.pop(partition, None)
    finally:
        consumer.close()
    return messages, sorted(ends)


def find_events(
    bootstrap_servers: str,
    topic: str,
    event_ids: set[str],
    *,
    timeout: float = 15.0,
) -> dict[str, list[dict[str, Any]]]:
    """Read the whole topic, as it is when called, and collect the events named.

    Returns each found id's events (a replayed event appears more than once), each
    as ``{"key", "partition", "offset", "value", "raw"}``. Stops at ``timeout``
    seconds, returning what it found by then.
    """
    messages, _ = read_topic(bootstrap_servers, topic, timeout=timeout)
    found: dict[str, list[dict[str, Any]]] = {}
    for message in messages:
        envelope = jsonio.loads(message.value())
        if envelope.get("event_id") in event_ids:
            found.setdefault(envelope["event_id"], []).append(
                {
                    "key": message.key().decode(),
                    "partition": message.partition(),
                    "offset": message.offset(),
                    "value": envelope,
                    "raw": message.value().decode(),
                }
            )
    return found
