"""Static assets of the browsable API page at ``/docs``.

Swagger UI's files come from the pinned ``openapi-ui-bundles`` package, so the page
works on a machine without internet access.
"""

from __future__ import annotations

from flask import Blueprint
from openapi_ui_bundles import swagger_ui

blueprint = Blueprint(
    "docs_assets",
    __name__,
    static_folder=str(swagger_ui.static_path),
    static_url_path="/docs/assets",
)
