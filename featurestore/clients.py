"""The per-process registry of the service's DynamoDB client and Kafka publisher.

Each gunicorn worker builds its own clients on first use and keeps them for its life.
The registry is safe under threads and ``fork()``:

- One ``threading.Lock`` guards building, and no builder calls back into the registry,
  so one thread never takes the lock twice.
- The registry remembers the pid that built its clients. After a fork (gunicorn's
  ``preload_app``) the child drops what the parent made, without closing it, and gets
  fresh locks, so a lock held by another parent thread at fork time cannot block it.
- boto3 clients are thread-safe and shared by the worker's threads; the boto3 session
  that makes the client is used only while building, under the lock.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import botocore.config

from featurestore import metrics
from featurestore.config import Settings
from featurestore.events import Publisher

logger = logging.getLogger(__name__)

# Number of locks that serialise writes to the same record within one process.
KEY_LOCK_STRIPES = 256

_registries: weakref.WeakSet[ClientRegistry] = weakref.WeakSet()


def _reset_all_after_fork() -> None:
    for registry in list(_registries):
        registry._forget_parent_state()


os.register_at_fork(after_in_child=_reset_all_after_fork)


def dynamodb_client_config(settings: Settings) -> botocore.config.Config:
    """Return botocore settings that bound every DynamoDB call in time."""
    return botocore.config.Config(
        connect_timeout=settings.dynamodb_connect_timeout,
        read_timeout=settings.dynamodb_read_timeout,
        retries={"mode": "standard", "max_attempts": settings.dynamodb_max_attempts},
        max_pool_connections=settings.dynamodb_max_pool_connections,
        tcp_keepalive=True,
        # The service builds every request itself; validating it again costs CPU
        # on each call.
        parameter_validation=False,
    )


class ClientRegistry:
    """Builds lazily, and caches for one process, the DynamoDB client and publisher."""

    def __init__(
        self,
        settings: Settings,
        *,
        publisher_factory: Callable[[Settings], Publisher] = Publisher,
    ):
        self._settings = settings
        self._publisher_factory = publisher_factory
        self._forget_parent_state()
        _registries.add(self)

    def _forget_parent_state(self) -> None:
        # Runs in the child right after fork, while only one thread exists, and
        # replaces every lock, because a parent thread may have held one at the fork.
        self._lock = threading.Lock()
        self._key_locks = [threading.Lock() for _ in range(KEY_LOCK_STRIPES)]
        self._pid = os.getpid()
        self._dynamodb: Any = None
        self._dynamodb_probe: Any = None
        self._publisher: Publisher | None = None
        self._executor: ThreadPoolExecutor | None = None

    def _check_pid(self) -> None:
        # Covers a fork that bypassed os.register_at_fork (os.fork from C code).
        if self._pid != os.getpid():
            self._forget_parent_state()

    def dynamodb(self) -> Any:
        """Return this process's low-level DynamoDB client, building it on first use."""
        self._check_pid()
        client = self._dynamodb
        if client is not None:
            return client
        with self._lock:
            if self._dynamodb is None:
                self._dynamodb = self._build_dynamodb()
            return self._dynamodb

    def dynamodb_probe(self) -> Any:
        """Return a DynamoDB client for health checks: one attempt, 1 s timeouts.

        A readiness probe must return quickly, so it does not use the service's
        client with its retries.
        """
        self._check_pid()
        client = self._dynamodb_probe
        if client is not None:
            return client
        with self._lock:
            if self._dynamodb_probe is None:
                self._dynamodb_probe = self._build_dynamodb(probe=True)
            return self._dynamodb_probe

    def publisher(self) -> Publisher:
        """Return this process's Kafka publisher, building it on first use."""
        self._check_pid()
        publisher = self._publisher
        if publisher is not None:
            return publisher
        with self._lock:
            if self._publisher is None:
                self._publisher = self._publisher_factory(self._settings)
                logger.info("Kafka producer created in pid %d", os.getpid())
            return self._publisher

    def executor(self) -> ThreadPoolExecutor:
        """Return this process's thread pool for the items of batch writes."""
        self._check_pid()
        executor = self._executor
        if executor is not None:
            return executor
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self._settings.batch_concurrency,
                    thread_name_prefix="batch-item",
                )
            return self._executor

    def key_lock(self, key: str) -> threading.Lock:
        """Return the lock that serialises writes to ``key`` within this process.

        Holding it from the DynamoDB update until the event is queued makes the
        events of one record reach Kafka in the order DynamoDB applied the writes.
        """
        self._check_pid()
        return self._key_locks[zlib.crc32(key.encode()) % KEY_LOCK_STRIPES]

    def _build_dynamodb(self, *, probe: bool = False) -> Any:
        session = boto3.session.Session(region_name=self._settings.dynamodb_region)
        config = dynamodb_client_config(self._settings)
        if probe:
            config = config.merge(
                botocore.config.Config(
                    connect_timeout=1.0,
                    read_timeout=1.0,
                    retries={"mode": "standard", "max_attempts": 1},
                    max_pool_connections=2,
                )
            )
        client = session.client(
            "dynamodb",
            endpoint_url=self._settings.dynamodb_endpoint,
            config=config,
        )
        metrics.instrument_dynamodb(client)
        logger.info(
            "DynamoDB client created in pid %d for %s",
            os.getpid(),
            self._settings.dynamodb_endpoint or "the AWS endpoint of the region",
        )
        return client

    def warm(self, *, timeout: float = 2.0) -> None:
        """Build every client and open its connections before the first request.

        A DescribeTable call opens the DynamoDB connection and loads botocore's
        operation models, and a metadata request connects the producer to the
        brokers. A failure of either is logged, not raised: the worker still starts,
        and requests report the dependency as unavailable until it returns.
        """
        client = self.dynamodb()
        publisher = self.publisher()
        self.dynamodb_probe()
        try:
            client.describe_table(TableName=self._settings.dynamodb_table)
        except Exception:  # noqa: BLE001 - any failure only delays the warm-up
            logger.warning("DynamoDB warm-up in pid %d failed", os.getpid())
        try:
            publisher.check_broker(timeout)
        except Exception:  # noqa: BLE001 - any failure only delays the warm-up
            logger.warning("Kafka warm-up in pid %d failed", os.getpid())

    def close(self, timeout: float = 5.0) -> int:
        """Flush the publisher within ``timeout`` seconds; return the messages left."""
        self._check_pid()
        with self._lock:
            publisher, self._publisher = self._publisher, None
            executor, self._executor = self._executor, None
            self._dynamodb = None
            self._dynamodb_probe = None
        if executor is not None:
            executor.shutdown(wait=True)
        if publisher is None:
            return 0
        return publisher.close(timeout)
