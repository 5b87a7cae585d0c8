"""Security headers that fit a JSON API and its one HTML page."""

from __future__ import annotations

from flask import Flask, Response, request

_JSON_POLICY = "default-src 'none'; frame-ancestors 'none'"
# Swagger UI's page runs one inline script with its settings and inline styles.
_DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'"
)


def _add_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("X-Frame-Options", "DENY")
    is_docs = request.path.startswith("/docs")
    headers.setdefault(
        "Content-Security-Policy", _DOCS_POLICY if is_docs else _JSON_POLICY
    )
    # Records can be personal data; no proxy or browser cache should keep them.
    if not is_docs:
        headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Flask) -> None:
    """Add the security headers to every response."""
    app.after_request(_add_headers)
