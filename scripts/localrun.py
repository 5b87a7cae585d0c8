"""The local servers of a check or benchmark run: dynalite, Kafka and gunicorn.

scripts/chaos.py and scripts/bench.py start their own servers on 127.0.0.1 in a
temporary folder through these classes, so they never touch the stack of
``make run``.
"""

from __future__ import annotations

import argparse
import http.client
import logging
import os
import pathlib
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request

logger = logging.getLogger("localrun")

ROOT = pathlib.Path(__file__).resolve().parent.parent
STACK_SCRIPT = ROOT / "scripts" / "stack"
# The folder of this interpreter as invoked, not resolved, so that a virtualenv's
# flask and gunicorn are used.
BIN = pathlib.Path(sys.executable).parent
HOST = "127.0.0.1"
TABLE = "features"
TOPIC = "feature-events"


class CheckAborted(Exception):
    """Raised when a server or a chaos step fails, so the check cannot finish."""


class ServerExited(CheckAborted):
    """Raised when dynalite or Kafka is found down outside a planned stop."""

    def __init__(self, server: str, log_tail: str):
        super().__init__(
            f"{server} exited outside a planned stop. The end of its log:\n{log_tail}"
        )
        self.server = server


class Deadline:
    """The end of the run in time.monotonic() seconds."""

    def __init__(self, seconds: float):
        self.started = time.monotonic()
        self.end = self.started + seconds

    def remaining(self, reserve: float = 0.0) -> float:
        """Return the seconds left until ``reserve`` seconds before the end."""
        return self.end - reserve - time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started


# --- servers -----------------------------------------------------------------------


class LocalStack:
    """This run's own dynalite and Kafka, driven through scripts/stack."""

    def __init__(self, directory: pathlib.Path, args: argparse.Namespace):
        self.directory = directory
        self.log_path = directory / "stack.log"
        self.env = {
            **os.environ,
            "FEATURESTORE_STACK_DIR": str(directory / "stack"),
            "FEATURESTORE_DYNAMODB_PORT": str(args.dynamodb_port),
            "FEATURESTORE_KAFKA_PORT": str(args.kafka_port),
            "FEATURESTORE_KAFKA_CONTROLLER_PORT": str(args.kafka_controller_port),
        }
        # scripts/stack sends SIGKILL to a server still running this many seconds
        # after SIGTERM. Its default of 30 would stretch the outage and the teardown.
        self.env.setdefault("FEATURESTORE_STACK_STOP_TIMEOUT", "10")

    def run(self, command: str, timeout: float) -> float:
        """Run one scripts/stack command and return its duration in seconds."""
        started = time.monotonic()
        with self.log_path.open("a") as log:
            log.write(f"\n$ scripts/stack {command}\n")
            log.flush()
            try:
                result = subprocess.run(
                    [str(STACK_SCRIPT), command],
                    cwd=ROOT,
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=max(1.0, timeout),
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                raise CheckAborted(
                    f"scripts/stack {command} did not finish within {timeout:.0f} s "
                    f"(log: {self.log_path})"
                ) from exc
        if result.returncode != 0:
            raise CheckAborted(
                f"scripts/stack {command} failed with exit status "
                f"{result.returncode} (log: {self.log_path})"
            )
        return time.monotonic() - started

    def status(self) -> dict[str, str]:
        """Return each server's state from scripts/stack status: up, down or other.

        "not answering" with a live process counts as other, because dynalite under
        load can miss the status command's 2 s ListTables limit.
        """
        output = subprocess.run(
            [str(STACK_SCRIPT), "status"],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        ).stdout
        states = {}
        for line in output.splitlines():
            server, _, state = line.partition(": ")
            states[server] = state.split(" (")[0]
        return states

    def log_tail(self, server: str, lines: int = 12) -> str:
        """Return the last lines of the log of ``server``, as status names it."""
        name = "dynalite" if server == "dynalite" else "kafka"
        path = self.directory / "stack" / "logs" / f"{name}.log"
        try:
            text = path.read_text(errors="replace")
        except OSError as error:
            return f"(no log: {error})"
        return "\n".join(text.splitlines()[-lines:])


class Service:
    """The gunicorn server of this run, in its own process group."""

    def __init__(self, directory: pathlib.Path, args: argparse.Namespace):
        self.url = f"http://{HOST}:{args.service_port}"
        self.port = args.service_port
        self.log_path = directory / "gunicorn.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.env = {
            **os.environ,
            "FEATURESTORE_DYNAMODB_ENDPOINT": f"http://{HOST}:{args.dynamodb_port}",
            "FEATURESTORE_KAFKA_BOOTSTRAP_SERVERS": f"{HOST}:{args.kafka_port}",
            "FEATURESTORE_DYNAMODB_TABLE": TABLE,
            "FEATURESTORE_KAFKA_TOPIC": TOPIC,
            "FEATURESTORE_BIND": f"{HOST}:{args.service_port}",
            # dynalite accepts any credentials, and fixed ones keep real AWS
            # credentials out of this run.
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
        }
        self.env.pop("AWS_SESSION_TOKEN", None)

    def create_table_and_topic(self, timeout: float) -> None:
        command = [str(BIN / "flask"), "--app", "featurestore", "setup"]
        try:
            with self.log_path.open("a") as log:
                result = subprocess.run(
                    command,
                    cwd=ROOT,
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=max(1.0, timeout),
                    check=False,
                )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise CheckAborted(
                f"{command[0]} failed to run ({error}): run this script with the "
                "virtualenv's interpreter, such as .venv/bin/python."
            ) from error
        if result.returncode != 0:
            raise CheckAborted(
                f"flask --app featurestore setup failed with exit status "
                f"{result.returncode} (log: {self.log_path})"
            )

    def start(self, timeout: float) -> None:
        """Start gunicorn and wait until /health/ready returns 200."""
        if is_port_open(self.port):
            raise CheckAborted(
                f"port {self.port} on {HOST} is already in use: stop that server or "
                "pass another --service-port."
            )
        command = [str(BIN / "gunicorn"), "--config", "gunicorn.conf.py", "wsgi:app"]
        with self.log_path.open("a") as log:
            try:
                self.process = subprocess.Popen(
                    command,
                    cwd=ROOT,
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as error:
                raise CheckAborted(
                    f"{command[0]} failed to start ({error}): run this script with "
                    "the virtualenv's interpreter, such as .venv/bin/python."
                ) from error
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise CheckAborted(
                    f"gunicorn exited with status {self.process.returncode} during "
                    f"start-up (log: {self.log_path})"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/health/ready", timeout=2):
                    return
            except (OSError, http.client.HTTPException):
                time.sleep(0.2)
        raise CheckAborted(
            f"gunicorn was not ready within {timeout:.0f} s (log: {self.log_path})"
        )

    def worker_pids(self) -> set[int]:
        """Return the pids of the master's children that are not zombies."""
        assert self.process is not None
        output = subprocess.run(
            ["ps", "--ppid", str(self.process.pid), "-o", "pid=,stat="],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
        pids = set()
        for line in output.splitlines():
            pid, state = line.split()
            if not state.startswith("Z"):
                pids.add(int(pid))
        return pids

    def kill_worker(self, rng: random.Random, timeout: float = 30.0) -> str:
        """SIGKILL one worker and wait until gunicorn's master replaces it."""
        before = self.worker_pids()
        if not before:
            raise CheckAborted(f"gunicorn has no worker to kill (log: {self.log_path})")
        victim = rng.choice(sorted(before))
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        while time.monotonic() - killed_at < timeout:
            now = self.worker_pids()
            if victim not in now and len(now) >= len(before):
                started = ", ".join(str(pid) for pid in sorted(now - before))
                return (
                    f"worker {victim} killed; gunicorn started worker {started} in "
                    f"{time.monotonic() - killed_at:.1f} s"
                )
            time.sleep(0.1)
        raise CheckAborted(
            f"gunicorn did not replace killed worker {victim} within {timeout:.0f} s "
            f"(log: {self.log_path})"
        )

    def stop(self) -> None:
        """Stop the master and every worker, whatever state they are in."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                logger.warning("gunicorn did not stop within 10 s of SIGTERM")
        # Workers orphaned by a dead master are still in the group.
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()


def is_port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1):
            return True
    except OSError:
        return False
