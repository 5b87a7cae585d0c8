"""Settings from the environment and their start-up checks."""

from __future__ import annotations

import pytest

from featurestore.config import ConfigError, load_settings, unknown_variables


def test_settings_defaults_match_local_stack():
    settings = load_settings({})

    assert settings.dynamodb_endpoint is None
    assert settings.dynamodb_table == "features"
    assert settings.kafka_bootstrap_servers == "127.0.0.1:9092"
    assert settings.kafka_topic == "feature-events"
    assert settings.bind == "127.0.0.1:8015"


def test_settings_read_from_environment():
    settings = load_settings(
        {
            "FEATURESTORE_DYNAMODB_ENDPOINT": "http://127.0.0.1:8000",
            "FEATURESTORE_KAFKA_DELIVERY_TIMEOUT": "2.5",
            "FEATURESTORE_WORKERS": "4",
        }
    )

    assert settings.dynamodb_endpoint == "http://127.0.0.1:8000"
    assert settings.kafka_delivery_timeout == 2.5
    assert settings.workers == 4


def test_settings_pass_librdkafka_options_through():
    settings = load_settings(
        {
            "FEATURESTORE_LIBRDKAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "FEATURESTORE_LIBRDKAFKA_SASL_PASSWORD": "hunter2",
        }
    )

    assert settings.librdkafka == {
        "security.protocol": "SASL_SSL",
        "sasl.password": "hunter2",
    }
    assert settings.masked()["librdkafka"]["sasl.password"] == "****"


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("FEATURESTORE_KAFKA_DELIVERY_TIMEOUT", "soon", "positive number of seconds"),
        ("FEATURESTORE_KAFKA_DELIVERY_TIMEOUT", "-1", "positive number of seconds"),
        ("FEATURESTORE_WORKERS", "0", "positive integer"),
        ("FEATURESTORE_WORKERS", "two", "positive integer"),
        ("FEATURESTORE_DYNAMODB_TABLE", "a b", "DynamoDB table name"),
        ("FEATURESTORE_KAFKA_TOPIC", "a/b", "Kafka topic name"),
        ("FEATURESTORE_LOG_LEVEL", "LOUD", "expected DEBUG"),
        ("FEATURESTORE_DYNAMODB_ENDPOINT", " ", "is empty"),
    ],
)
def test_settings_invalid_value_names_variable(name, value, fragment):
    with pytest.raises(ConfigError) as caught:
        load_settings({name: value})

    assert name in str(caught.value)
    assert fragment in str(caught.value)


def test_settings_reject_timeouts_past_worker_timeout():
    with pytest.raises(ConfigError, match="FEATURESTORE_WORKER_TIMEOUT"):
        load_settings({"FEATURESTORE_KAFKA_DELIVERY_TIMEOUT": "60"})


def test_settings_reject_flush_past_graceful_timeout():
    with pytest.raises(ConfigError, match="FEATURESTORE_SHUTDOWN_FLUSH_TIMEOUT"):
        load_settings({"FEATURESTORE_SHUTDOWN_FLUSH_TIMEOUT": "25"})


def test_unknown_variable_suggests_setting():
    problems = unknown_variables({"FEATURESTORE_KAFKA_BOOTSTRAP_SERVER": "x:9092"})

    assert problems == [
        "FEATURESTORE_KAFKA_BOOTSTRAP_SERVER is not a featurestore setting and is "
        "ignored; did you mean FEATURESTORE_KAFKA_BOOTSTRAP_SERVERS?"
    ]


def test_known_variables_are_not_reported():
    environ = {
        "FEATURESTORE_WORKERS": "2",
        "FEATURESTORE_STACK_DIR": "/tmp/x",
        "FEATURESTORE_LIBRDKAFKA_SASL_MECHANISMS": "PLAIN",
        "HOME": "/root",
    }

    assert unknown_variables(environ) == []
