"""The records the service stores and the outcomes of writing them."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from featurestore.values import FeatureValue


@dataclasses.dataclass(frozen=True)
class RecordKey:
    """Key of one record: an entity and one of its feature groups (category)."""

    entity_type: str
    entity_value: str
    category: str

    @property
    def entity_id(self) -> str:
        """Return the entity as one string, which is the record's partition key.

        ``entity_type`` never contains ``#``, so splitting at the first ``#`` gives the
        two parts back even when ``entity_value`` contains one.
        """
        return f"{self.entity_type}#{self.entity_value}"

    def as_dict(self) -> dict[str, str]:
        # dataclasses.asdict deep-copies every field, which this hot path can skip.
        return {
            "entity_type": self.entity_type,
            "entity_value": self.entity_value,
            "category": self.category,
        }


@dataclasses.dataclass(frozen=True)
class WriteMeta:
    """Source, compute id, event time and TTL of one write."""

    source: str
    compute_id: str | None = None
    event_time: datetime.datetime | None = None
    ttl_seconds: int | None = None


@dataclasses.dataclass(frozen=True)
class WriteRequest:
    """One validated record write."""

    meta: WriteMeta
    key: RecordKey
    features: dict[str, FeatureValue]


@dataclasses.dataclass(frozen=True)
class StoredRecord:
    """A record's state as stored in DynamoDB after a write or a read."""

    key: RecordKey
    features: dict[str, FeatureValue]
    event_time: str
    version: int
    event_id: str
    source: str
    compute_id: str | None
    request_id: str | None
    expires_at: int | None = None

    @property
    def expires_at_text(self) -> str | None:
        """Return the expiry time in the API's RFC 3339 form, or None without TTL."""
        if self.expires_at is None:
            return None
        moment = datetime.datetime.fromtimestamp(self.expires_at, datetime.UTC)
        return format_event_time(moment)


@dataclasses.dataclass(frozen=True)
class WriteOutcome:
    """Result of one write: ``created``, ``updated``, or ``unchanged`` for a replay."""

    status: str
    record: StoredRecord

    def as_response(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "key": self.record.key.as_dict(),
            "event_time": self.record.event_time,
            "version": self.record.version,
            "event_id": self.record.event_id,
        }


def format_event_time(moment: datetime.datetime) -> str:
    """Format an aware datetime as RFC 3339 in UTC with microseconds, like the API."""
    utc = moment.astimezone(datetime.UTC)
    # strftime's %Y drops leading zeros of years before 1000 on glibc.
    return f"{utc.year:04d}-" + utc.strftime("%m-%dT%H:%M:%S.%fZ")


def epoch_micros(moment: datetime.datetime) -> int:
    """Return microseconds since the Unix epoch, the unit event times compare in."""
    delta = moment - datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
