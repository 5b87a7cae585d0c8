"""gunicorn settings of the featurestore service.

Values come from featurestore.config, which reads FEATURESTORE_* variables, so the
service and its server are configured in one place.
"""

import glob
import logging
import os
import sys
import tempfile

# prometheus-client chooses multiprocess mode when it is first imported, so the
# folder of the workers' metric files must be set before featurestore is imported.
# Each server start gets an empty folder unless the operator names one.
os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="featurestore-metrics-")
)

from gunicorn.glogging import Logger  # noqa: E402

from featurestore.config import ConfigError, load_settings  # noqa: E402

try:
    _settings = load_settings()
except ConfigError as error:
    # One clear line instead of gunicorn's traceback of the config file.
    sys.exit(f"featurestore: invalid configuration: {error}")
_logger = logging.getLogger("featurestore.gunicorn")

# Listen address.
bind = _settings.bind

# Threads share each worker's DynamoDB client and Kafka producer; the requests spend
# most of their time waiting on those servers, so threads beat more processes.
worker_class = "gthread"
workers = _settings.workers
threads = _settings.threads

# The app is imported once in the master and forked; the client registry builds its
# clients in each worker after the fork.
preload_app = True

# A write returns 503 before worker_timeout (checked at start-up), and a stopping
# worker has graceful_timeout to finish requests and flush the producer.
timeout = int(_settings.worker_timeout)
graceful_timeout = int(_settings.graceful_timeout)
keepalive = 5

# gunicorn's largest request line: a read's URL with the longest entity_value,
# percent-encoded, and a features list fits in it.
limit_request_line = 8190

# gunicorn's control socket defaults to one path under $HOME shared by every
# instance; the service does not use it.
control_socket_disable = True

# The app logs one JSON line per request itself, so gunicorn's access log is off and
# its error log goes to stdout beside the app's lines. With logconfig_dict set,
# gunicorn would still format every request's access line before finding no
# handler for it, which cost about 3 % of a worker's CPU, so the logger skips it.


class _AppLogsRequests(Logger):
    def access(self, resp, req, environ, request_time):
        return


logger_class = _AppLogsRequests
accesslog = None
errorlog = "-"
loglevel = _settings.log_level.lower()
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "featurestore.logs.json_formatter"}},
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "json",
        }
    },
    # The app adds its own handler to the root logger when it is created.
    "root": {"level": _settings.log_level, "handlers": []},
    "loggers": {
        "gunicorn.error": {
            "handlers": ["stdout"],
            "level": _settings.log_level,
            "propagate": False,
        },
    },
}


def on_starting(server):
    """Remove metric files that an earlier server left in a named folder."""
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    for path in glob.glob(os.path.join(folder, "*.db")):
        os.remove(path)


def child_exit(server, worker):
    """Drop the live gauges of a worker that exited, as prometheus-client requires."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def _registry(worker):
    return worker.wsgi.extensions["featurestore.clients"]


def post_worker_init(worker):
    """Build the worker's clients before it accepts a request."""
    try:
        _registry(worker).warm()
    except Exception:  # the first request builds them again and reports the error
        _logger.exception("warming the clients of worker %d failed", worker.pid)
    _logger.info("worker %d is ready", worker.pid)


def worker_exit(server, worker):
    """Flush the worker's Kafka producer within the configured bound."""
    _registry(worker).close(timeout=_settings.shutdown_flush_timeout)
