"""The service under gunicorn with preload_app, two workers and threads."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from featurestore.probe import find_events

pytestmark = pytest.mark.stack


def test_gunicorn_preload_serves_seed_write(stack, names, service_factory, seed_body):
    service = service_factory().start("--preload", "--workers", "2", "-k", "gthread")

    status, body = service.post("/api/v1/items", seed_body)

    assert status == 201
    events = find_events(
        stack.kafka_bootstrap, names["kafka_topic"], {body["event_id"]}
    )
    assert len(events[body["event_id"]]) == 1


def test_gunicorn_serves_many_writes(stack, names, service_factory, seed_request):
    service = service_factory().start("--preload", "--workers", "2", "-k", "gthread")
    event_ids = set()
    for number in range(20):
        seed_request["data"]["entity_value"] = f"user-{number}"
        status, body = service.post("/api/v1/items", json.dumps(seed_request))
        assert status == 201
        event_ids.add(body["event_id"])

    events = find_events(stack.kafka_bootstrap, names["kafka_topic"], event_ids)

    assert set(events) == event_ids


def test_each_worker_logs_ready(service_factory):
    service = service_factory().start("--workers", "2")
    workers = {str(pid) for pid in service.worker_pids()}
    deadline = time.monotonic() + 30
    ready: list[dict] = []
    while len(ready) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
        lines = service.log_path.read_text().splitlines()
        records = [json.loads(line) for line in lines if line.startswith("{")]
        ready = [record for record in records if "is ready" in record["message"]]

    assert len(ready) == 2
    assert {line["message"] for line in ready} == {
        f"worker {pid} is ready" for pid in workers
    }
    assert {line["logger"] for line in ready} == {"featurestore.gunicorn"}


def _serving_pids(service) -> set[str]:
    return {
        line.split('"pid": ')[1].split(",")[0]
        for line in service.log_path.read_text().splitlines()
        if '"POST /api/v1/items 201"' in line
    }


def test_metrics_sum_over_workers(service_factory, seed_request):
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    service = service_factory().start("--workers", "2")
    sent = 0
    # Send until both workers have served writes, so the sum spans two processes.
    while sent < 30 or (len(_serving_pids(service)) < 2 and sent < 300):
        seed_request["data"]["entity_value"] = f"metrics-{sent}"
        status, _ = service.post("/api/v1/items", json.dumps(seed_request))
        assert status == 201
        sent += 1

    counts = []
    for _ in range(4):
        with urllib.request.urlopen(f"{service.url}/metrics", timeout=10) as reply:
            text = reply.read().decode()
        counts.append(
            sum(
                sample.value
                for family in text_string_to_metric_families(text)
                for sample in family.samples
                if sample.name == "featurestore_http_requests_total"
                and sample.labels.get("route") == "/api/v1/items"
                and sample.labels.get("status") == "201"
            )
        )

    assert len(_serving_pids(service)) == 2
    assert counts == [sent] * 4


def _raw_request(service, head: bytes, body_parts: list[bytes], pause: float = 0):
    """Send raw HTTP bytes to the service and return the status and decoded body."""
    import socket
    import time

    with socket.create_connection(("127.0.0.1", service.port), timeout=30) as sock:
        sock.sendall(head)
        for part in body_parts:
            sock.sendall(part)
            time.sleep(pause)
        reply = b""
        while b"\r\n\r\n" not in reply or len(reply.split(b"\r\n\r\n", 1)[1]) < int(
            _header(reply, b"content-length") or 0
        ):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    head_text, _, body = reply.partition(b"\r\n\r\n")
    return int(head_text.split()[1]), json.loads(body)


def _header(reply: bytes, name: bytes) -> bytes | None:
    for line in reply.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip()
    return None


CHUNKED_HEAD = (
    b"POST /api/v1/items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
)


def test_chunked_body_over_limit_is_413(service_factory, seed_body):
    service = service_factory().start()
    chunk = b" " * (1024 * 1024)
    parts = [f"{len(seed_body):x}\r\n{seed_body}\r\n".encode()]
    parts += [f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"] * 5
    parts.append(b"0\r\n\r\n")

    status, body = _raw_request(service, CHUNKED_HEAD, parts)

    assert status == 413
    assert body["error"]["code"] == "payload_too_large"
    assert "4194304" in body["error"]["message"]


def test_malformed_chunk_is_400(service_factory):
    service = service_factory().start()

    status, body = _raw_request(service, CHUNKED_HEAD, [b"zz\r\n{}\r\n0\r\n\r\n"])

    assert status == 400
    assert "could not be read" in body["error"]["message"]


def test_short_body_times_out_with_408(service_factory):
    service = service_factory().start("--threads", "1", body_read_timeout="1")
    head = (
        b"POST /api/v1/items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\nConnection: close\r\n\r\n"
    )

    status, body = _raw_request(service, head, [b'{"meta":'])

    assert status == 408
    assert body["error"]["code"] == "request_timeout"
    with urllib.request.urlopen(f"{service.url}/health", timeout=5) as reply:
        assert reply.status == 200
