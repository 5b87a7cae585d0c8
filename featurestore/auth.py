"""API keys: ``Authorization: Bearer <key>``, scopes, and the sources a key may use.

Keys are random tokens kept only as SHA-256 hashes, in the JSON list of
``FEATURESTORE_API_KEYS_FILE`` or ``FEATURESTORE_API_KEYS``. A plain hash suits them
because each key carries 256 random bits, so there is nothing to guess. Each entry::

    {"name": "spark-prod", "sha256": "<hex>", "scopes": ["write", "read"],
     "sources": ["spark_batch"], "entity_types": ["bright_uid"], "categories": null}

``entity_types`` and ``categories`` are optional; null or absent means any.

With no keys configured, the service accepts every request only while it listens on
loopback. On any other address it refuses to start unless FEATURESTORE_AUTH_DISABLED
is true. The health probes, the OpenAPI document and the docs page stay open, and so
do the metrics unless FEATURESTORE_METRICS_REQUIRE_KEY is true.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Iterable, Sequence
from typing import Any

from flask import Flask, current_app, g, request

from featurestore.config import ConfigError, Settings
from featurestore.errors import FeatureStoreError
from featurestore.records import RecordKey

logger = logging.getLogger(__name__)

SCOPES = ("read", "write")
KEY_PREFIX = "fs_"
_OPEN_PATHS = ("/health", "/openapi.json", "/docs")
_LOOPBACK_HOSTS = ("127.", "localhost", "[::1]", "::1")


class Unauthorized(FeatureStoreError):
    """Raised when a request has no API key or one the service does not know."""

    status = 401
    code = "unauthorized"
    headers = {"WWW-Authenticate": 'Bearer realm="featurestore"'}


class Forbidden(FeatureStoreError):
    """Raised when a known API key is used outside its scopes or sources."""

    status = 403
    code = "forbidden"


@dataclasses.dataclass(frozen=True)
class ApiKey:
    """One configured key: its name, hash, scopes and what it may touch."""

    name: str
    sha256: str
    scopes: frozenset[str]
    sources: frozenset[str]
    entity_types: frozenset[str] | None = None
    categories: frozenset[str] | None = None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """Return a new random key: 256 bits in URL-safe base64 behind a prefix."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _parse_entry(entry: Any, position: int, origin: str) -> ApiKey:
    def fail(problem: str) -> ConfigError:
        return ConfigError(f"API key {position} in {origin} is invalid: {problem}.")

    if not isinstance(entry, dict):
        raise fail("expected an object")
    unknown = set(entry) - {
        "name",
        "sha256",
        "scopes",
        "sources",
        "entity_types",
        "categories",
    }
    if unknown:
        raise fail(f"unknown fields {sorted(unknown)}")
    name, digest = entry.get("name"), entry.get("sha256")
    if not isinstance(name, str) or not name:
        raise fail("'name' must be a non-empty string")
    if not isinstance(digest, str) or len(digest) != 64:
        raise fail("'sha256' must be the 64 hex digits of the key's SHA-256")
    scopes = entry.get("scopes")
    if not isinstance(scopes, list) or not scopes or set(scopes) - set(SCOPES):
        raise fail("'scopes' must list 'read', 'write' or both")
    sources = entry.get("sources", [])
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise fail("'sources' must be a list of meta.source values")
    if "write" in scopes and not sources:
        raise fail("a key with the write scope needs at least one source")

    def optional_set(field: str) -> frozenset[str] | None:
        values = entry.get(field)
        if values is None:
            return None
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise fail(f"'{field}' must be a list of strings or null")
        return frozenset(values)

    return ApiKey(
        name=name,
        sha256=digest.lower(),
        scopes=frozenset(scopes),
        sources=frozenset(sources),
        entity_types=optional_set("entity_types"),
        categories=optional_set("categories"),
    )


def load_keys(settings: Settings) -> list[ApiKey]:
    """Read the configured keys; raise ConfigError naming the entry that is invalid."""
    entries: list[tuple[Any, str]] = []
    if settings.api_keys_file:
        origin = f"FEATURESTORE_API_KEYS_FILE={settings.api_keys_file!r}"
        try:
            with open(settings.api_keys_file, encoding="utf-8") as handle:
                document = json.load(handle)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{origin} could not be read as JSON: {exc}") from exc
        entries += [(entry, origin) for entry in _as_list(document, origin)]
    if settings.api_keys:
        origin = "FEATURESTORE_API_KEYS"
        try:
            document = json.loads(settings.api_keys)
        except ValueError as exc:
            raise ConfigError(f"{origin} is not valid JSON: {exc}") from exc
        entries += [(entry, origin) for entry in _as_list(document, origin)]
    return [
        _parse_entry(entry, position, origin)
        for position, (entry, origin) in enumerate(entries)
    ]


def _as_list(document: Any, origin: str) -> list:
    if not isinstance(document, list):
        raise ConfigError(f"{origin} must hold a JSON list of API keys.")
    return document


def _find_key(presented: str, keys: Sequence[ApiKey]) -> ApiKey | None:
    digest = hash_key(presented)
    found = None
    # Every hash is compared, in constant time, so timing reveals nothing about keys.
    for key in keys:
        if hmac.compare_digest(digest, key.sha256):
            found = key
    return found


def _authenticate() -> None:
    keys: list[ApiKey] = current_app.extensions["featurestore.api_keys"]
    g.api_key = None
    if not keys:
        return
    path = request.path
    if path.startswith(_OPEN_PATHS):
        return
    settings: Settings = current_app.config["SETTINGS"]
    if path == "/metrics" and not settings.metrics_require_key:
        return
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise Unauthorized(
            "An API key is required: send 'Authorization: Bearer <key>'."
        )
    key = _find_key(presented.strip(), keys)
    if key is None:
        raise Unauthorized("The API key is not valid; check it or ask for a new one.")
    g.api_key = key


def require(
    scope: str,
    keys: Iterable[RecordKey] = (),
    *,
    source: str | None = None,
    entity_types: Iterable[str] = (),
) -> None:
    """Raise Forbidden unless the request's key may do ``scope`` on these records.

    Does nothing when authentication is off.
    """
    key: ApiKey | None = g.get("api_key")
    if key is None:
        return
    if scope not in key.scopes:
        raise Forbidden(f"The API key {key.name!r} has no {scope} scope.")
    if source is not None and source not in key.sources:
        raise Forbidden(
            f"The API key {key.name!r} may not write as source {source!r}; use one "
            f"of {sorted(key.sources)}.",
            details={"meta.source": ["Not a source of this API key."]},
        )
    for entity_type in entity_types:
        _check_entity_type(key, entity_type)
    for record in keys:
        _check_entity_type(key, record.entity_type)
        if key.categories is not None and record.category not in key.categories:
            raise Forbidden(
                f"The API key {key.name!r} may not use category {record.category!r}."
            )


def allowed_categories() -> frozenset[str] | None:
    """Return the categories the request's key may read, or None for any."""
    key: ApiKey | None = g.get("api_key")
    return None if key is None else key.categories


def _check_entity_type(key: ApiKey, entity_type: str) -> None:
    if key.entity_types is not None and entity_type not in key.entity_types:
        raise Forbidden(
            f"The API key {key.name!r} may not use entity type {entity_type!r}."
        )


def _is_loopback(bind: str) -> bool:
    return bind.startswith(_LOOPBACK_HOSTS) or bind.startswith("unix:")


def init_app(app: Flask) -> None:
    """Load the API keys, apply the no-keys rule, and check keys on each request."""
    settings: Settings = app.config["SETTINGS"]
    keys = load_keys(settings)
    if not keys:
        if settings.auth_disabled:
            logger.warning(
                "authentication is disabled by FEATURESTORE_AUTH_DISABLED; every "
                "client on %s can read and write",
                settings.bind,
            )
        elif _is_loopback(settings.bind):
            logger.info(
                "authentication is off: no API keys are configured and the service "
                "listens on loopback (%s) only",
                settings.bind,
            )
        else:
            raise ConfigError(
                f"FEATURESTORE_BIND={settings.bind!r} is not a loopback address and no "
                "API keys are configured: set FEATURESTORE_API_KEYS_FILE, or set "
                "FEATURESTORE_AUTH_DISABLED=true to accept every client."
            )
    else:
        logger.info("authentication is on with %d API keys", len(keys))
    app.extensions["featurestore.api_keys"] = keys
    app.before_request(_authenticate)
