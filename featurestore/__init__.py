"""featurestore: an online feature store's HTTP API on DynamoDB and Kafka."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask

from featurestore import auth, cli, errors, logs, metrics, schemas, security
from featurestore.api import Api, docs_page, entities, health, items, parsing
from featurestore.clients import ClientRegistry
from featurestore.config import load_settings, unknown_variables
from featurestore.jsonio import FlaskJSONProvider


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the Flask app: defaults, then the environment, then ``config``.

    ``config`` may override any field of Settings by name, which is how tests point
    the app at their own servers. Building the app opens no connection: each process
    builds its clients on first use.
    """
    settings = load_settings(**dict(config or {}))
    logs.configure_logging(settings.log_level)
    for problem in unknown_variables():
        logging.getLogger(__name__).warning(problem)

    app = Flask(__name__)
    app.json = FlaskJSONProvider(app)
    app.config.update(
        SETTINGS=settings,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        API_TITLE="featurestore",
        API_VERSION="v1",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        # The browsable page at /docs loads Swagger UI from the pinned
        # openapi-ui-bundles package, served by the service itself, never a CDN.
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="/docs/assets/",
    )

    # One client registry per app; each worker process fills its own after fork.
    app.extensions["featurestore.clients"] = ClientRegistry(settings)

    errors.init_app(app)
    logs.init_app(app)
    metrics.init_app(app)
    parsing.init_app(app)
    auth.init_app(app)
    security.init_app(app)
    cli.init_app(app)

    # The OpenAPI document at /openapi.json comes from the views' own schemas.
    api = Api(app)
    api.ma_plugin.converter.add_attribute_function(schemas.feature_map_properties)
    api.register_blueprint(items.blueprint)
    api.register_blueprint(entities.blueprint)
    api.register_blueprint(health.blueprint)
    app.register_blueprint(docs_page.blueprint)
    return app
