"""Settings of the service, read from environment variables with one prefix.

This is the only module that reads the environment. Every setting has a default fit
for the local stack, except the DynamoDB endpoint: when it is unset, boto3's own
resolution applies and the service talks to real AWS.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from collections.abc import Mapping
from typing import Any

PREFIX = "FEATURESTORE_"

# Environment variables named FEATURESTORE_LIBRDKAFKA_<NAME> pass straight through to
# librdkafka as property <name>, lowercased with "_" turned into ".", so that
# FEATURESTORE_LIBRDKAFKA_SASL_MECHANISMS=PLAIN sets sasl.mechanisms.
LIBRDKAFKA_PREFIX = PREFIX + "LIBRDKAFKA_"

_SECRET_WORDS = ("password", "secret", "key", "token")


class ConfigError(ValueError):
    """Raised when a setting is missing or has a value the service cannot use."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """Typed settings of one service process."""

    dynamodb_endpoint: str | None = None
    dynamodb_region: str = "us-east-1"
    dynamodb_table: str = "features"
    dynamodb_connect_timeout: float = 0.5
    dynamodb_read_timeout: float = 1.0
    dynamodb_max_attempts: int = 3
    dynamodb_max_pool_connections: int = 32

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_topic: str = "feature-events"
    kafka_delivery_timeout: float = 5.0
    kafka_linger_ms: int = 1
    kafka_max_message_bytes: int = 1_000_000
    librdkafka: Mapping[str, str] = dataclasses.field(default_factory=dict)

    max_body_bytes: int = 4 * 1024 * 1024
    body_read_timeout: float = 10.0
    batch_concurrency: int = 16
    batch_timeout: float = 10.0
    tombstone_retention_seconds: int = 7 * 86_400
    retry_after_seconds: int = 1
    log_level: str = "INFO"

    api_keys_file: str | None = None
    api_keys: str | None = None
    auth_disabled: bool = False
    metrics_require_key: bool = False

    bind: str = "127.0.0.1:8015"
    workers: int = 2
    threads: int = 8
    worker_timeout: float = 30.0
    graceful_timeout: float = 20.0
    shutdown_flush_timeout: float = 5.0

    def masked(self) -> dict[str, Any]:
        """Return the settings as a dict with secret librdkafka values masked."""
        values = dataclasses.asdict(self)
        values["librdkafka"] = {
            name: "****" if any(word in name for word in _SECRET_WORDS) else value
            for name, value in self.librdkafka.items()
        }
        if self.api_keys is not None:
            values["api_keys"] = "**** (key hashes)"
        return values


def _parse_positive_float(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise ConfigError(
            f"{name}={text!r} is invalid: expected a positive number of seconds."
        )
    return value


def _parse_positive_int(name: str, text: str) -> int:
    if not re.fullmatch(r"[0-9]+", text) or int(text) == 0:
        raise ConfigError(f"{name}={text!r} is invalid: expected a positive integer.")
    return int(text)


def _parse_non_negative_int(name: str, text: str) -> int:
    if not re.fullmatch(r"[0-9]+", text):
        raise ConfigError(
            f"{name}={text!r} is invalid: expected an integer of 0 or more."
        )
    return int(text)


def _parse_text(name: str, text: str) -> str:
    if not text.strip():
        raise ConfigError(f"{name} is empty: set it to a value or unset it.")
    return text


def _parse_bool(name: str, text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={text!r} is invalid: expected true or false.")


def _parse_log_level(name: str, text: str) -> str:
    level = text.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ConfigError(
            f"{name}={text!r} is invalid: expected DEBUG, INFO, WARNING, ERROR "
            "or CRITICAL."
        )
    return level


def _parse_table_name(name: str, text: str) -> str:
    # DynamoDB's own rule for table names.
    if not re.fullmatch(r"[A-Za-z0-9_.-]{3,255}", text):
        raise ConfigError(
            f"{name}={text!r} is invalid: a DynamoDB table name has 3 to 255 "
            "characters among letters, digits, '_', '-' and '.'."
        )
    return text


def _parse_topic_name(name: str, text: str) -> str:
    # Kafka's own rule for topic names.
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,249}", text):
        raise ConfigError(
            f"{name}={text!r} is invalid: a Kafka topic name has 1 to 249 "
            "characters among letters, digits, '.', '_' and '-'."
        )
    return text


# Field name -> parser of the environment variable PREFIX + FIELD.upper().
_PARSERS = {
    "dynamodb_endpoint": _parse_text,
    "dynamodb_region": _parse_text,
    "dynamodb_table": _parse_table_name,
    "dynamodb_connect_timeout": _parse_positive_float,
    "dynamodb_read_timeout": _parse_positive_float,
    "dynamodb_max_attempts": _parse_positive_int,
    "dynamodb_max_pool_connections": _parse_positive_int,
    "kafka_bootstrap_servers": _parse_text,
    "kafka_topic": _parse_topic_name,
    "kafka_delivery_timeout": _parse_positive_float,
    "kafka_linger_ms": _parse_non_negative_int,
    "kafka_max_message_bytes": _parse_positive_int,
    "max_body_bytes": _parse_positive_int,
    "body_read_timeout": _parse_positive_float,
    "batch_concurrency": _parse_positive_int,
    "batch_timeout": _parse_positive_float,
    "tombstone_retention_seconds": _parse_positive_int,
    "retry_after_seconds": _parse_positive_int,
    "log_level": _parse_log_level,
    "api_keys_file": _parse_text,
    "api_keys": _parse_text,
    "auth_disabled": _parse_bool,
    "metrics_require_key": _parse_bool,
    "bind": _parse_text,
    "workers": _parse_positive_int,
    "threads": _parse_positive_int,
    "worker_timeout": _parse_positive_float,
    "graceful_timeout": _parse_positive_float,
    "shutdown_flush_timeout": _parse_positive_float,
}


# Variables with the prefix that scripts and tests read, which are not settings.
_OTHER_VARIABLES = frozenset(
    PREFIX + name
    for name in (
        "STACK_DIR",
        "DYNAMODB_PORT",
        "KAFKA_PORT",
        "KAFKA_CONTROLLER_PORT",
        "STACK_READY_TIMEOUT",
        "STACK_STOP_TIMEOUT",
        "KAFKA_HEAP",
        "URL",
        "TEST_DYNAMODB_PORT",
        "TEST_KAFKA_PORT",
        "TEST_CONTROLLER_PORT",
    )
)


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """Return a sentence for each FEATURESTORE_ variable that sets nothing.

    A misspelt name would otherwise leave its setting at the default unnoticed.
    """
    environ = os.environ if environ is None else environ
    known = {PREFIX + field.upper() for field in _PARSERS} | _OTHER_VARIABLES
    problems = []
    for name in sorted(environ):
        if not name.startswith(PREFIX) or name in known:
            continue
        if name.startswith(LIBRDKAFKA_PREFIX):
            continue
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {close[0]}?" if close else "; see the README."
        problems.append(f"{name} is not a featurestore setting and is ignored{hint}")
    return problems


def load_settings(
    environ: Mapping[str, str] | None = None, **overrides: Any
) -> Settings:
    """Build settings from defaults, then the environment, then ``overrides``.

    Raises ConfigError with a sentence naming the variable, its value and what is
    expected, so that a bad deployment fails at start-up rather than on a request.
    """
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for field, parse in _PARSERS.items():
        name = PREFIX + field.upper()
        if name in environ:
            values[field] = parse(name, environ[name])

    librdkafka = {
        name[len(LIBRDKAFKA_PREFIX) :].lower().replace("_", "."): value
        for name, value in environ.items()
        if name.startswith(LIBRDKAFKA_PREFIX)
    }
    if librdkafka:
        values["librdkafka"] = librdkafka

    unknown = set(overrides) - {field.name for field in dataclasses.fields(Settings)}
    if unknown:
        raise ConfigError(f"Unknown settings: {', '.join(sorted(unknown))}.")
    values.update(overrides)
    settings = Settings(**values)
    _check_timeouts(settings)
    return settings


def worst_case_write_seconds(settings: Settings) -> float:
    """Return an upper bound of one request's time in DynamoDB and Kafka calls.

    A batch stops starting items at batch_timeout, and the items then running may
    still make their calls.
    """
    per_attempt = settings.dynamodb_connect_timeout + settings.dynamodb_read_timeout
    # A write whose condition fails may read the record too: two DynamoDB calls.
    per_write = 2 * per_attempt * settings.dynamodb_max_attempts
    return settings.batch_timeout + per_write + settings.kafka_delivery_timeout


def _check_timeouts(settings: Settings) -> None:
    # gunicorn kills a worker that is silent for worker_timeout seconds; a request
    # must return 503 before that rather than die with the worker.
    worst_case = worst_case_write_seconds(settings)
    if worst_case >= settings.worker_timeout:
        raise ConfigError(
            f"{PREFIX}WORKER_TIMEOUT={settings.worker_timeout:g} is too short: a "
            f"request may take up to {worst_case:g} s in DynamoDB and Kafka calls, so "
            "raise it or lower the batch, DynamoDB and Kafka timeouts."
        )
    if settings.batch_concurrency > settings.dynamodb_max_pool_connections:
        raise ConfigError(
            f"{PREFIX}BATCH_CONCURRENCY={settings.batch_concurrency} is larger than "
            f"{PREFIX}DYNAMODB_MAX_POOL_CONNECTIONS="
            f"{settings.dynamodb_max_pool_connections}: batch items would wait for "
            "connections, so lower the first or raise the second."
        )
    if settings.shutdown_flush_timeout >= settings.graceful_timeout:
        raise ConfigError(
            f"{PREFIX}SHUTDOWN_FLUSH_TIMEOUT={settings.shutdown_flush_timeout:g} must "
            f"be shorter than {PREFIX}GRACEFUL_TIMEOUT="
            f"{settings.graceful_timeout:g}, or gunicorn kills the worker mid-flush."
        )
