"""Checks that a record is in DynamoDB and its event is on Kafka.

Used by ``make smoke`` and by the tests against the local stack, which must prove
"stored" and "published" by reading the servers themselves.
"""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from featurestore import jsonio
from featurestore.records import RecordKey
from featurestore.store import key_attributes


def read_item(client: Any, table: str, key: RecordKey) -> dict[str, Any] | None:
    """Read one item with a consistent read, as the low-level client returns it."""
    response = client.get_item(
        TableName=table, Key=key_attributes(key), ConsistentRead=True
    )
    return response.get("Item")


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
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": f"featurestore-probe-{time.monotonic_ns()}",
            "enable.auto.commit": False,
        }
    )
    found: dict[str, list[dict[str, Any]]] = {}
    try:
        metadata = consumer.list_topics(topic, timeout=timeout)
        ends = {}
        for number in metadata.topics[topic].partitions:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, number), timeout=timeout
            )
            if high > low:
                ends[number] = high
        consumer.assign(
            [TopicPartition(topic, number, OFFSET_BEGINNING) for number in ends]
        )
        deadline = time.monotonic() + timeout
        while ends and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is None or message.error():
                continue
            if message.offset() + 1 >= ends.get(message.partition(), 0):
                ends.pop(message.partition(), None)
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
    finally:
        consumer.close()
    return found
