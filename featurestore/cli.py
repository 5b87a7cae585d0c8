"""Commands that prepare the DynamoDB table and the Kafka topic.

Both are idempotent: ``flask --app featurestore setup`` can run before every start.
"""

from __future__ import annotations

import dataclasses
import json

import botocore.exceptions
import click
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic
from flask import Flask, current_app

from featurestore import auth
from featurestore.clients import ClientRegistry
from featurestore.config import ConfigError, Settings
from featurestore.events import producer_config

TTL_ATTRIBUTE = "expires_at"


def _settings() -> Settings:
    return current_app.config["SETTINGS"]


def create_table() -> None:
    """Create the records table unless it exists, wait until ACTIVE, enable TTL."""
    settings = _settings()
    registry: ClientRegistry = current_app.extensions["featurestore.clients"]
    client = registry.dynamodb()
    table = settings.dynamodb_table
    try:
        client.create_table(
            TableName=table,
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        click.echo(f"Creating table {table!r}.")
    except client.exceptions.ResourceInUseException:
        click.echo(f"Table {table!r} exists.")
    client.get_waiter("table_exists").wait(
        TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    click.echo(f"Table {table!r} is ACTIVE.")

    try:
        client.update_time_to_live(
            TableName=table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
        )
        click.echo(f"TTL is enabled on {TTL_ATTRIBUTE!r}.")
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        if "already enabled" in error.get("Message", "").lower():
            click.echo(f"TTL is enabled on {TTL_ATTRIBUTE!r}.")
        else:
            reason = error.get("Message") or error.get("Code") or "no reason given"
            click.echo(
                f"This DynamoDB server does not support TTL ({reason}), so it never "
                "removes expired records; the API still reads them as missing."
            )


def create_topic(partitions: int, replication_factor: int) -> None:
    """Create the events topic unless it exists."""
    settings = _settings()
    config = {
        name: value
        for name, value in producer_config(settings).items()
        if not name.startswith(("acks", "enable.idempotence", "linger", "message."))
    }
    admin = AdminClient(config)
    topic = settings.kafka_topic
    futures = admin.create_topics(
        [NewTopic(topic, partitions, replication_factor)], operation_timeout=30
    )
    try:
        futures[topic].result(timeout=60)
        click.echo(f"Created topic {topic!r} with {partitions} partitions.")
    except KafkaException as exc:
        if exc.args[0].code() != exc.args[0].TOPIC_ALREADY_EXISTS:
            raise click.ClickException(
                f"Creating topic {topic!r} failed: {exc}"
            ) from exc
        click.echo(f"Topic {topic!r} exists.")


def init_app(app: Flask) -> None:
    """Register the setup, create-table, create-topic and config commands."""

    @app.cli.command("create-table")
    def create_table_command() -> None:
        """Create the DynamoDB table if needed and enable TTL."""
        create_table()

    @app.cli.command("create-topic")
    @click.option("--partitions", default=6, show_default=True, type=int)
    @click.option("--replication-factor", default=1, show_default=True, type=int)
    def create_topic_command(partitions: int, replication_factor: int) -> None:
        """Create the Kafka topic if needed."""
        create_topic(partitions, replication_factor)

    @app.cli.command("setup")
    @click.option("--partitions", default=6, show_default=True, type=int)
    @click.option("--replication-factor", default=1, show_default=True, type=int)
    def setup_command(partitions: int, replication_factor: int) -> None:
        """Create the DynamoDB table and the Kafka topic if needed."""
        create_table()
        create_topic(partitions, replication_factor)

    @app.cli.command("create-key")
    @click.option("--name", required=True, help="Who uses the key, e.g. spark-prod.")
    @click.option(
        "--scope",
        "scopes",
        multiple=True,
        required=True,
        type=click.Choice(["read", "write"]),
        help="read, write, or both (repeat the option).",
    )
    @click.option(
        "--source",
        "sources",
        multiple=True,
        help="A meta.source value the key may write as (repeat for several).",
    )
    @click.option("--entity-type", "entity_types", multiple=True)
    @click.option("--category", "categories", multiple=True)
    def create_key_command(name, scopes, sources, entity_types, categories) -> None:
        """Create an API key: print the key once and the entry for the keys file."""
        key = auth.new_key()
        entry = {
            "name": name,
            "sha256": auth.hash_key(key),
            "scopes": sorted(set(scopes)),
            "sources": sorted(set(sources)),
            "entity_types": sorted(set(entity_types)) or None,
            "categories": sorted(set(categories)) or None,
        }
        try:
            auth.load_keys(
                dataclasses.replace(_settings(), api_keys=json.dumps([entry]))
            )
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"API key (shown once, store it in a secret manager): {key}")
        click.echo("Add this entry to the JSON list of FEATURESTORE_API_KEYS_FILE:")
        click.echo(json.dumps(entry))

    @app.cli.command("config")
    def config_command() -> None:
        """Print the effective settings, with secrets masked."""
        click.echo(json.dumps(_settings().masked(), indent=2, default=str))
