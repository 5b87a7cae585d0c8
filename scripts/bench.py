"""Benchmark the service against the bare-SDK floor on the local stack.

Starts its own dynalite, Kafka and gunicorn (configured by gunicorn.conf.py) on
127.0.0.1, then measures, each figure as the median of ``--runs`` runs with its
minimum and maximum:

- cold start: the first response after gunicorn starts, and that request's
  latency;
- latency: p50 and p99 of the reference write over one connection (wrk);
- throughput: single writes per second at 16 connections, records per second through
  the batch endpoint, reads per second;
- the floor: bare boto3 ``put_item`` of the same item (plain, and with the service's
  condition), plus a confluent-kafka produce-and-wait of the same event for the
  latency and single-write figures, with as many processes as gunicorn workers and as
  many requests in flight as the load it is compared with. The batch figure's floor
  is the conditional ``put_item`` alone;
- memory: resident set size of each worker before and after a soak.

Before the first measured run, ``--warm-seconds`` of writes through the service and
the floor warm Kafka's JVM and dynalite. After that each service run is followed by
its floor run, so every ratio compares two runs on a stack in the same state. The
CPU time per write of the service's workers and of the floor's processes is printed
beside the ratios.

It prints every figure and the service-to-floor ratios, and writes them as JSON and
two PNG plots into ``--output`` (default docs/benchmarks).

    .venv/bin/python scripts/bench.py --runs 3 --seconds 10 --soak-seconds 300
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import pathlib
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from localrun import BIN, HOST, ROOT, TABLE, TOPIC, LocalStack, Service  # noqa: E402

SEED = ROOT / "tests" / "data" / "seed_request.json"
# Threads posting 500-item batches at once in the batch figure.
BATCH_CLIENTS = 4
LUA = ROOT / "scripts" / "bench"


def wrk(url: str, script: str, connections: int, seconds: float, env: dict) -> dict:
    """Run wrk and return its RESULT line: requests, seconds, p50_ms, p99_ms, errors."""
    threads = min(connections, 2)
    output = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "-s",
            str(LUA / script),
            url,
        ],
        env={**os.environ, "BENCH_LUA_DIR": str(LUA), **env},
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    ).stdout
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    result = json.loads(line[len("RESULT ") :])
    result["per_second"] = result["requests"] / result["seconds"]
    return result


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


def write_body(entity_value: str = "ENTITY_VALUE") -> str:
    body = json.loads(SEED.read_text())
    body["data"]["entity_value"] = entity_value
    return json.dumps(body)


# --- the service ----------------------------------------------------------------


def _start_gunicorn(service: Service, log: Any) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "gunicorn"), "--config", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=service.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _post_write(service: Service, prefix: str) -> None:
    request = urllib.request.Request(
        f"{service.url}/api/v1/items",
        data=write_body(f"{prefix}-{uuid.uuid4().hex}").encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        reply.read()


def _stop_gunicorn(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


def cold_start(service: Service) -> dict[str, float]:
    """Time gunicorn's first response, and the first request of booted workers, in ms.

    The first figure comes from a write sent as soon as gunicorn starts and retried
    until it gets a response. For the second, gunicorn is started again and the
    write is sent only after every worker logged that it is ready, so whichever
    worker takes it has served no request before.
    """
    started = time.monotonic()
    process = _start_gunicorn(service, subprocess.DEVNULL)
    try:
        while True:
            sent = time.monotonic()
            try:
                _post_write(service, "cold")
                break
            except OSError:
                if time.monotonic() - started > 60:
                    raise
                time.sleep(0.005)
        answered = time.monotonic()
    finally:
        _stop_gunicorn(process)

    workers = int(service.env.get("FEATURESTORE_WORKERS", "2"))
    with tempfile.TemporaryFile("w+") as log:
        process = _start_gunicorn(service, log)
        try:
            deadline = time.monotonic() + 60
            while True:
                log.seek(0)
                if log.read().count('is ready"') >= workers:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError("gunicorn's workers were not ready within 60 s")
                time.sleep(0.05)
            first_sent = time.monotonic()
            _post_write(service, "first")
            first_ms = (time.monotonic() - first_sent) * 1000
        finally:
            _stop_gunicorn(process)
    return {
        "first_answer_after_start_ms": (answered - started) * 1000,
        "first_request_latency_ms": (answered - sent) * 1000,
        "request_after_boot_ms": first_ms,
    }


def batch_records_per_second(
    service: Service, seconds: float, clients: int
) -> dict[str, float]:
    """Post 500-item batches from ``clients`` threads; return records and their rate."""
    stop = time.monotonic() + seconds
    counts = []
    lock = threading.Lock()

    def run(client: int) -> None:
        sent = 0
        while time.monotonic() < stop:
            items = [
                {
                    "entity_type": "bench",
                    "entity_value": f"batch-{client}-{uuid.uuid4().hex}",
                    "category": "d0",
                    "features": json.loads(SEED.read_text())["data"]["features"],
                }
                for _ in range(500)
            ]
            request = urllib.request.Request(
                f"{service.url}/api/v1/items/batch",
                data=json.dumps({"meta": {"source": "bench"}, "items": items}).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=60) as reply:
                results = json.loads(reply.read())["counts"]
            sent += results.get("created", 0)
        with lock:
            counts.append(sent)

    started = time.monotonic()
    threads = [threading.Thread(target=run, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = sum(counts)
    return {"records": records, "per_second": records / (time.monotonic() - started)}


def preload_reads(service: Service, count: int) -> None:
    for start in range(0, count, 500):
        items = [
            {
                "entity_type": "bench",
                "entity_value": f"read-{number}",
                "category": "d0",
                "features": json.loads(SEED.read_text())["data"]["features"],
            }
            for number in range(start, min(count, start + 500))
        ]
        request = urllib.request.Request(
            f"{service.url}/api/v1/items/batch",
            data=json.dumps({"meta": {"source": "bench"}, "items": items}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as reply:
            reply.read()


def worker_rss_mb(service: Service) -> list[float]:
    sizes = []
    for pid in sorted(service.worker_pids()):
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                sizes.append(int(line.split()[1]) / 1024)
    return sizes


# --- the floor ------------------------------------------------------------------


def _floor_item(number: int, features: dict) -> tuple[str, dict, dict]:
    """Return the key, the DynamoDB item and the event of one floor write.

    They hold the attributes and the event envelope the service writes for the
    reference request, so the floor sends and stores about as many bytes as the
    service.
    """
    now = time.time()
    event_time = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
    event_time += f".{int(now * 1e6) % 1_000_000:06d}Z"
    entity_value = f"floor-{os.getpid()}-{number}-{uuid.uuid4().hex}"
    entity_id = f"bench#{entity_value}"
    event_id = str(uuid.uuid4())
    request_id = uuid.uuid4().hex
    item = {
        "pk": {"S": entity_id},
        "sk": {"S": "d0"},
        "entity_type": {"S": "bench"},
        "entity_value": {"S": entity_value},
        "category": {"S": "d0"},
        "features": {"M": _attribute_map(features)},
        # The reference features hold no number that needs its text kept.
        "number_text": {"M": {}},
        "event_time": {"S": event_time},
        "event_time_us": {"N": str(int(now * 1e6))},
        "version": {"N": "1"},
        "event_id": {"S": event_id},
        "content_hash": {"S": uuid.uuid4().hex + uuid.uuid4().hex},
        "source": {"S": "prediction_service"},
        "compute_id": {"S": "spark-job-2025-10-16-abc123"},
        "request_id": {"S": request_id},
        "written_at": {"S": event_time},
        "deleted": {"BOOL": False},
    }
    event = {
        "event_id": event_id,
        "event_type": "features.written",
        "schema_version": 1,
        "key": {"entity_type": "bench", "entity_value": entity_value, "category": "d0"},
        "event_time": event_time,
        "meta": {
            "source": "prediction_service",
            "compute_id": "spark-job-2025-10-16-abc123",
            "request_id": request_id,
        },
        "version": 1,
        "features": features,
    }
    return entity_id, item, event


def _attribute_map(features: dict) -> dict:
    attributes = {}
    for name, value in features.items():
        if isinstance(value, bool):
            attributes[name] = {"BOOL": value}
        elif isinstance(value, int | float):
            attributes[name] = {"N": str(value)}
        else:
            attributes[name] = {"S": str(value)}
    return attributes


# The service's condition for a write without an event time: no live record, or a
# stored one that is not newer and has other content.
_CONDITION = (
    "attribute_not_exists(#pk) OR #expires <= :now OR "
    "(#time <= :time AND #hash <> :hash)"
)


def _condition_arguments(item: dict) -> dict[str, Any]:
    """Return the put_item arguments that make the put conditional like the service."""
    return {
        "ConditionExpression": _CONDITION,
        "ExpressionAttributeNames": {
            "#pk": "pk",
            "#expires": "expires_at",
            "#time": "event_time_us",
            "#hash": "content_hash",
        },
        "ExpressionAttributeValues": {
            ":now": {"N": str(int(time.time()))},
            ":time": item["event_time_us"],
            ":hash": item["content_hash"],
        },
    }


def _floor_process(
    endpoint: str,
    bootstrap: str,
    threads: int,
    seconds: float,
    conditional: bool,
    with_kafka: bool,
    queue: Any,
) -> None:
    """Run ``threads`` loops of put_item (and produce-and-wait) for ``seconds``.

    Puts on the queue the latencies in seconds, the CPU seconds the loops used, the
    length of their window in seconds and the count of failed writes.
    """
    import resource

    import boto3
    import botocore.config
    from confluent_kafka import Producer

    # dynalite accepts any credentials; fixed ones keep real AWS ones out of this.
    client = boto3.session.Session(
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    ).client(
        "dynamodb",
        endpoint_url=endpoint,
        # The service's client skips parameter validation too.
        config=botocore.config.Config(
            max_pool_connections=threads * 2, parameter_validation=False
        ),
    )
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 1,
        }
    )
    polling = threading.Event()

    def poll() -> None:
        while not polling.is_set():
            producer.poll(0.1)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    features = json.loads(SEED.read_text())["data"]["features"]
    # Connect to both servers before the timed window, as the service's workers do
    # before their first request.
    client.describe_table(TableName=TABLE)
    producer.list_topics(TOPIC, timeout=10)
    failures = 0
    window_start = time.monotonic()
    stop = window_start + seconds
    latencies: list[float] = []
    lock = threading.Lock()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = usage.ru_utime + usage.ru_stime

    def loop(number: int) -> None:
        nonlocal failures
        mine = []
        while time.monotonic() < stop:
            key, item, event = _floor_item(number, features)
            arguments: dict[str, Any] = {"TableName": TABLE, "Item": item}
            if conditional:
                arguments.update(_condition_arguments(item))
            started = time.perf_counter()
            try:
                client.put_item(**arguments)
            except Exception:  # noqa: BLE001 - counted and reported by floor()
                with lock:
                    failures += 1
                continue
            if with_kafka:
                reports: list = []
                delivered = threading.Event()

                def on_delivery(error, message, done=delivered, seen=reports):
                    seen.append(error)
                    done.set()

                producer.produce(
                    TOPIC,
                    value=json.dumps(event, separators=(",", ":")).encode(),
                    key=key.encode(),
                    headers=[
                        ("event_id", event["event_id"].encode()),
                        ("event_type", event["event_type"].encode()),
                    ],
                    on_delivery=on_delivery,
                )
                if not delivered.wait(10) or reports[0] is not None:
                    with lock:
                        failures += 1
                    continue
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=loop, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    window = time.monotonic() - window_start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_seconds = usage.ru_utime + usage.ru_stime - cpu_before
    polling.set()
    producer.flush(5)
    queue.put((latencies, cpu_seconds, window, failures))


def floor(
    stack_env: dict,
    processes: int,
    threads: int,
    seconds: float,
    *,
    conditional: bool,
    with_kafka: bool,
) -> dict[str, float]:
    """Run the bare-SDK loop in ``processes`` processes; return ops/s and latencies."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [
        context.Process(
            target=_floor_process,
            args=(
                stack_env["FEATURESTORE_DYNAMODB_ENDPOINT"],
                stack_env["FEATURESTORE_KAFKA_BOOTSTRAP_SERVERS"],
                threads,
                seconds,
                conditional,
                with_kafka,
                queue,
            ),
        )
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    latencies: list[float] = []
    cpu_seconds, per_second, failures = 0.0, 0.0, 0
    for _ in workers:
        mine, cpu, window, failed = queue.get(timeout=seconds + 120)
        latencies.extend(mine)
        cpu_seconds += cpu
        # Each process's rate over its own window: start-up and exit are outside it.
        per_second += len(mine) / window
        failures += failed
    for worker in workers:
        worker.join()
    latencies.sort()
    return {
        "per_second": per_second,
        "failures": failures,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "cpu_ms_per_write": cpu_seconds * 1000 / len(latencies),
    }


# --- the run --------------------------------------------------------------------


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per figure")
    parser.add_argument("--seconds", type=float, default=10, help="seconds per run")
    parser.add_argument(
        "--soak-seconds", type=float, default=300, help="length of the memory soak"
    )
    parser.add_argument(
        "--warm-seconds",
        type=float,
        default=60,
        help="load before the first measured run, half service and half floor",
    )
    parser.add_argument(
        "--output",
        type=pathlib.Path,
        default=ROOT / "docs" / "benchmarks",
        help="folder for results.json and the plots",
    )
    parser.add_argument("--dynamodb-port", type=int, default=17200)
    parser.add_argument("--kafka-port", type=int, default=17292)
    parser.add_argument("--kafka-controller-port", type=int, default=17293)
    parser.add_argument("--service-port", type=int, default=17215)
    return parser.parse_args()


def worker_cpu_seconds(pids: set[int]) -> float:
    """Return the CPU seconds the given processes used so far (Linux's /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            sys.exit(
                f"bench: gunicorn worker {pid} exited during the run, so its CPU time "
                "is lost; see the gunicorn log in the run's folder and run again."
            )
        fields = stat.rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def measure(args: argparse.Namespace, stack: LocalStack, service: Service) -> dict:
    """Take every figure; each service figure and its floor alternate run by run."""
    results: dict[str, Any] = {}
    runs = range(args.runs)
    workers = int(service.env.get("FEATURESTORE_WORKERS", "2"))
    # A worker runs the items of all its batch requests in one pool of
    # batch_concurrency threads, so that many writes are in flight per worker.
    batch_concurrency = int(service.env.get("FEATURESTORE_BATCH_CONCURRENCY", "16"))
    body_env = {"BENCH_BODY": write_body()}
    floors = {
        "floor.single": dict(processes=1, threads=1, conditional=True, with_kafka=True),
        "floor.writes16": dict(
            processes=workers, threads=16 // workers, conditional=True, with_kafka=True
        ),
        "floor.put16_plain": dict(
            processes=workers,
            threads=16 // workers,
            conditional=False,
            with_kafka=False,
        ),
        "floor.batch_conditional": dict(
            processes=workers,
            threads=batch_concurrency,
            conditional=True,
            with_kafka=False,
        ),
    }
    measured: dict[str, list] = {name: [] for name in floors}

    wrk_errors = 0

    def load(script: str, connections: int, seconds: float, env: dict) -> dict:
        nonlocal wrk_errors
        result = wrk(service.url, script, connections, seconds, env)
        wrk_errors += result["status_errors"] + result["socket_errors"]
        return result

    def run_floor(name: str) -> None:
        measured[name].append(floor(service.env, seconds=args.seconds, **floors[name]))

    def run_paired(run_service, count_key: str, *floor_names: str):
        """Run the service, then its floors, ``args.runs`` times.

        Returns the service runs' results and the workers' CPU milliseconds per
        ``count_key`` unit of each run.
        """
        service_runs, cpu_ms = [], []
        for _ in runs:
            cpu_before = worker_cpu_seconds(pids)
            result = run_service()
            cpu = worker_cpu_seconds(pids) - cpu_before
            service_runs.append(result)
            cpu_ms.append(cpu * 1000 / max(1, result[count_key]))
            for name in floor_names:
                run_floor(name)
        return service_runs, cpu_ms

    def run_ratios(service_runs: list[dict], floor_name: str) -> list[float]:
        return [
            done["per_second"] / floor_run["per_second"]
            for done, floor_run in zip(service_runs, measured[floor_name], strict=True)
        ]

    print("cold start ...", flush=True)
    colds = [cold_start(service) for _ in runs]
    for name in colds[0]:
        results[f"cold.{name}"] = summary([cold[name] for cold in colds])

    service.start(timeout=60)
    pids = service.worker_pids()
    # Kafka's JVM compiles its hot paths during the first minute of load, and the
    # service and the floor are both measured after that.
    print(f"warming the stack for {args.warm_seconds:g} s ...", flush=True)
    load("write.lua", 16, args.warm_seconds / 2, body_env)
    floor(service.env, seconds=args.warm_seconds / 2, **floors["floor.writes16"])

    print("latency over one connection ...", flush=True)
    single = []
    for _ in runs:
        single.append(load("write.lua", 1, args.seconds, body_env))
        run_floor("floor.single")
    results["latency.p50_ms"] = summary([r["p50_ms"] for r in single])
    results["latency.p99_ms"] = summary([r["p99_ms"] for r in single])

    print("writes at 16 connections ...", flush=True)
    many, cpu_per_write = run_paired(
        lambda: load("write.lua", 16, args.seconds, body_env),
        "requests",
        "floor.writes16",
        "floor.put16_plain",
    )
    results["writes16.per_second"] = summary([r["per_second"] for r in many])
    results["writes16.cpu_ms_per_write"] = summary(cpu_per_write)
    results["writes16.ratios"] = run_ratios(many, "floor.writes16")

    print("throughput against connections ...", flush=True)
    curve = {}
    for connections in (1, 2, 4, 8, 16, 32):
        curve[connections] = load("write.lua", connections, args.seconds / 2, body_env)[
            "per_second"
        ]
    results["curve"] = curve

    print("batch writes ...", flush=True)
    batches, cpu_per_record = run_paired(
        lambda: batch_records_per_second(service, args.seconds, BATCH_CLIENTS),
        "records",
        "floor.batch_conditional",
    )
    results["batch.records_per_second"] = summary([b["per_second"] for b in batches])
    results["batch.cpu_ms_per_record"] = summary(cpu_per_record)
    results["batch.ratios"] = run_ratios(batches, "floor.batch_conditional")

    print("reads at 16 connections ...", flush=True)
    preload_reads(service, 1000)
    reads = [
        load("read.lua", 16, args.seconds, {"BENCH_READ_COUNT": "1000"}) for _ in runs
    ]
    results["reads16.per_second"] = summary([r["per_second"] for r in reads])

    results["floor.failures"] = sum(
        f["failures"] for figures in measured.values() for f in figures
    )
    for name, figures in measured.items():
        for figure in ("per_second", "p50_ms", "p99_ms", "cpu_ms_per_write"):
            results[f"{name}.{figure}"] = summary([f[figure] for f in figures])

    print(f"memory soak of {args.soak_seconds:g} s ...", flush=True)
    results["rss_mb.before"] = worker_rss_mb(service)
    if args.soak_seconds > 0:
        load("write.lua", 16, args.soak_seconds, body_env)
    results["rss_mb.after"] = worker_rss_mb(service)
    # Non-2xx responses and socket errors in every wrk run, the soak included.
    results["wrk.errors"] = wrk_errors
    return results


def report(results: dict) -> list[str]:
    def figure(key: str, unit: str) -> str:
        value = results[key]
        digits = 2 if value["median"] < 10 else 1
        return (
            f"{value['median']:.{digits}f} {unit} "
            f"(min {value['min']:.{digits}f}, max {value['max']:.{digits}f})"
        )

    before, after = results["rss_mb.before"], results["rss_mb.after"]
    growth = [(b - a) / a * 100 for a, b in zip(before, after, strict=False)]
    single_p50 = results["floor.single.p50_ms"]["median"]
    single_p99 = results["floor.single.p99_ms"]["median"]
    # Each ratio is the median of the runs' own ratios: a service run and the floor
    # run right after it saw the stack in the same state.
    writes_ratio = statistics.median(results["writes16.ratios"])
    batch_ratio = statistics.median(results["batch.ratios"])
    writes_runs = ", ".join(f"{r:.2f}" for r in results["writes16.ratios"])
    batch_runs = ", ".join(f"{r:.2f}" for r in results["batch.ratios"])
    curve = {c: round(v) for c, v in results["curve"].items()}
    lines = [
        "cold: first response after start  "
        + figure("cold.first_answer_after_start_ms", "ms"),
        "cold: that request's latency      "
        + figure("cold.first_request_latency_ms", "ms"),
        "first request after worker boot   "
        + figure("cold.request_after_boot_ms", "ms"),
        "one connection p50                " + figure("latency.p50_ms", "ms"),
        "one connection p99                " + figure("latency.p99_ms", "ms"),
        f"floor, one in flight p50 / p99    {single_p50:.2f} / {single_p99:.2f} ms",
        "writes/s at 16 connections        " + figure("writes16.per_second", "/s"),
        "floor writes/s, 16 in flight      "
        + figure("floor.writes16.per_second", "/s"),
        f"  service / floor                 {writes_ratio:.2f} (runs: {writes_runs})",
        "  CPU per write, service workers  "
        + figure("writes16.cpu_ms_per_write", "ms"),
        "  CPU per write, floor processes  "
        + figure("floor.writes16.cpu_ms_per_write", "ms"),
        "plain put_item/s, 16 in flight    "
        + figure("floor.put16_plain.per_second", "/s"),
        "batch records/s                   " + figure("batch.records_per_second", "/s"),
        "floor conditional put_item/s      "
        + figure("floor.batch_conditional.per_second", "/s"),
        f"  service / floor                 {batch_ratio:.2f} (runs: {batch_runs})",
        "  CPU per record, service workers " + figure("batch.cpu_ms_per_record", "ms"),
        "  CPU per write, floor processes  "
        + figure("floor.batch_conditional.cpu_ms_per_write", "ms"),
        "reads/s at 16 connections         " + figure("reads16.per_second", "/s"),
        f"worker RSS before soak, MB        {[round(x, 1) for x in before]}",
        f"worker RSS after soak, MB         {[round(x, 1) for x in after]}",
        f"  growth                          {[f'{g:.1f} %' for g in growth]}",
        f"writes/s against connections      {curve}",
        f"errors in all wrk runs            {results['wrk.errors']}",
        f"failed writes in the floor runs   {results['floor.failures']}",
    ]
    return lines


def plot(results: dict, latencies_ms: list[float], output: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    figure, axes = pyplot.subplots(figsize=(6, 4))
    axes.hist(latencies_ms, bins=60, color="#4477aa")
    axes.set_xlabel("latency of one write, ms (one connection)")
    axes.set_ylabel("requests")
    axes.set_title("POST /api/v1/items latency")
    figure.tight_layout()
    figure.savefig(output / "latency.png", dpi=100)

    figure, axes = pyplot.subplots(figsize=(6, 4))
    connections = sorted(results["curve"])
    axes.plot(connections, [results["curve"][c] for c in connections], marker="o")
    axes.set_xscale("log", base=2)
    axes.set_xlabel("connections")
    axes.set_ylabel("writes per second")
    axes.set_title("Single-write throughput")
    figure.tight_layout()
    figure.savefig(output / "throughput.png", dpi=100)


def sample_latencies(service: Service, count: int) -> list[float]:
    import http.client

    connection = http.client.HTTPConnection(HOST, service.port, timeout=30)
    latencies = []
    for number in range(count):
        body = write_body(f"sample-{number}-{uuid.uuid4().hex}")
        started = time.perf_counter()
        connection.request(
            "POST", "/api/v1/items", body, {"Content-Type": "application/json"}
        )
        connection.getresponse().read()
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def main() -> int:
    args = parse_arguments()
    if shutil.which("wrk") is None:
        sys.exit("bench: wrk is required: install it (apt-get install wrk) and retry.")
    directory = pathlib.Path(tempfile.mkdtemp(prefix="featurestore-bench-"))
    stack = LocalStack(directory, args)
    service = Service(directory, args)
    try:
        stack.run("up", timeout=300)
        service.create_table_and_topic(timeout=120)
        results = measure(args, stack, service)
        latencies = sample_latencies(service, 2000)
    finally:
        service.stop()
        stack.run("down", timeout=120)

    args.output.mkdir(parents=True, exist_ok=True)
    lines = report(results)
    (args.output / "results.json").write_text(
        json.dumps({"results": results, "report": lines}, indent=2, default=str)
    )
    plot(results, latencies, args.output)
    print("\n".join(lines))
    shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
