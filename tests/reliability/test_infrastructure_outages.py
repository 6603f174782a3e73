"""ScaiFlow's own infrastructure goes away under load: Redis, PostgreSQL, the flow storage (S3).

For each, ScaiFlow runs under gunicorn against a server the test started itself (a
redis-server, an initdb cluster, moto's S3 behind a TCP gate), and workers run a mixed
workload (create, save, deploy, events, list) while the server is stopped for `OUTAGE_SECONDS`
and started again (Redis flaps first: down, up, down). Then:

- no answer is a 500 and none is refused: during the outage only the documented 503s
  (`database_unavailable`, `flow_storage_unavailable`); with Redis down, none at all;
- no record is lost: every flow, version and deployment the API acknowledged is there, every
  version's content readable (no version row without its object);
- no flow has two Cores at ScaiGrid (devstack);
- full service (every kind of call succeeding) within `RECOVERY_LIMIT_SECONDS` of the restart;
- the servers' logs hold no traceback.

The figures of the last runs are in docs/reliability.md ("Own infrastructure outages").
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
import redis
import requests
from moto.server import ThreadedMotoServer

from devstack.pytest_plugin import DevstackHandle
from tests.deployments.conftest import SIMPLE_FLOW
from tests.reliability.infrastructure import Gate, OwnPostgres, OwnRedis

pytestmark = pytest.mark.reliability

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 4
WARM_SECONDS = 2.0
OUTAGE_SECONDS = 4.0
RECOVERY_LIMIT_SECONDS = 5.0
AFTER_SECONDS = 2.0


def content(n: int) -> dict:
    changed = copy.deepcopy(SIMPLE_FLOW)
    changed["nodes"][1]["data"]["prompt"] = f"{{{{start.message}}}} #{n}"
    return changed


@dataclass
class Call:
    op: str
    status: int | None  # None: no HTTP answer at all
    error: str | None
    body: dict
    at: float
    seconds: float


@dataclass
class Ledger:
    """What the API acknowledged, to be found again after the outage."""

    calls: list[Call] = field(default_factory=list)
    flows: dict[str, int] = field(default_factory=dict)  # flow id -> last version acknowledged
    deployments: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, call: Call) -> None:
        with self.lock:
            self.calls.append(call)


class Workload:
    """WORKERS threads, each creating its own flows and saving, deploying, polling, listing."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.ledger = Ledger()
        self.stop = threading.Event()
        self.session_headers = {"Authorization": f"Bearer {token}"}
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(WORKERS)]

    def call(self, session, op: str, method: str, path: str, **kwargs) -> Call:
        started = time.monotonic()
        try:
            response = session.request(method, self.url + path, timeout=60, **kwargs)
        except requests.RequestException as exc:
            call = Call(op, None, type(exc).__name__, {}, time.monotonic(), 0.0)
        else:
            body = response.json() if response.content else {}
            error = (body.get("detail") or {}).get("error") if response.status_code >= 400 else None
            now = time.monotonic()
            call = Call(op, response.status_code, error, body, now, now - started)
        self.ledger.add(call)
        return call

    def round(self, session, n: int) -> list[Call]:
        """One of each call; the flow it creates is the one it saves, deploys and polls."""
        ledger = self.ledger
        created = self.call(
            session, "create", "POST", "/api/v1/flows",
            json={"name": f"Outage {n}", "content": content(n)},
        )  # fmt: skip
        calls = [created]
        if created.status != 201:
            return calls
        flow_id = created.body["id"]
        with ledger.lock:
            ledger.flows[flow_id] = 1
        saved = self.call(session, "save", "PATCH", f"/api/v1/flows/{flow_id}",
                          json={"content": content(n + 100_000)})  # fmt: skip
        calls.append(saved)
        if saved.status == 200:
            with ledger.lock:
                ledger.flows[flow_id] = saved.body["version"]
        deployed = self.call(session, "deploy", "POST", f"/api/v1/flows/{flow_id}/deploy", json={})
        calls.append(deployed)
        deployment_id = deployed.body.get("id") or (deployed.body.get("detail") or {}).get(
            "deployment_id"
        )
        if deployment_id:
            with ledger.lock:
                ledger.deployments.add(deployment_id)
        events = self.call(
            session, "events", "GET", "/api/v1/scaicore/events", params={"flow_id": flow_id}
        )
        calls.append(events)
        calls.append(self.call(session, "list", "GET", "/api/v1/flows"))
        return calls

    def _run(self, worker: int) -> None:
        session = requests.Session()
        session.headers.update(self.session_headers)
        n = worker
        while not self.stop.is_set():
            self.round(session, n)
            n += WORKERS

    def __enter__(self) -> Workload:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=120)


def full_service_after(workload: Workload, restored_at: float) -> float:
    """Seconds from `restored_at` until one round of every kind of call succeeds."""
    session = requests.Session()
    session.headers.update(workload.session_headers)
    ok = {"create": 201, "save": 200, "deploy": 201, "events": 200, "list": 200}
    n = 1_000_000
    calls: list[Call] = []
    while time.monotonic() - restored_at < 60:
        n += 1
        calls = workload.round(session, n)
        if len(calls) == len(ok) and all(ok[c.op] == c.status for c in calls):
            return calls[-1].at - restored_at
        time.sleep(0.05)
    last = [(c.op, c.status, c.error) for c in calls]
    raise AssertionError(f"no full service within 60 s of the restart: {last}")


def outage(workload: Workload, stop, start) -> dict:
    """Run the workload, stop the service for OUTAGE_SECONDS, start it; the timings."""
    with workload:
        time.sleep(WARM_SECONDS)
        down_at = time.monotonic()
        stop()
        time.sleep(OUTAGE_SECONDS)
        start()
        up_at = time.monotonic()
        recovery = full_service_after(workload, up_at)
        time.sleep(AFTER_SECONDS)
    return {"down_at": down_at, "up_at": up_at, "recovery": recovery}


def check(workload: Workload, devstack: DevstackHandle, allowed_503: set[str], logs: str) -> dict:
    calls = workload.ledger.calls
    answered = Counter((c.status, c.error) for c in calls)
    unexpected = {
        key: count
        for key, count in answered.items()
        if key[0] is None or (key[0] >= 500 and not (key[0] == 503 and key[1] in allowed_503))
    }
    assert unexpected == {}, (answered, logs[-3000:])
    assert not [c for c in calls if c.status in (400, 404, 409, 412)], answered

    session = requests.Session()
    session.headers.update(workload.session_headers)
    for flow_id, version in workload.ledger.flows.items():
        flow = session.get(f"{workload.url}/api/v1/flows/{flow_id}", timeout=30)
        assert flow.status_code == 200, (flow_id, flow.text)
        assert flow.json()["version"] >= version
        for number in range(1, flow.json()["version"] + 1):
            stored = session.get(
                f"{workload.url}/api/v1/flows/{flow_id}/versions/{number}", timeout=30
            )
            assert stored.status_code == 200, (flow_id, number, stored.text)
    for deployment_id in workload.ledger.deployments:
        record = session.get(f"{workload.url}/api/v1/deployments/{deployment_id}", timeout=30)
        assert record.status_code == 200, (deployment_id, record.text)

    cores_per_flow = Counter(
        core.parsed["metadata"]["labels"]["scaiflow/flow-id"]
        for core in devstack.stack.state.cores.values()
    )
    assert [f for f, n in cores_per_flow.items() if n > 1] == [], "a flow got two Cores"
    assert "Traceback" not in logs, logs[-3000:]
    return {
        "calls": len(calls),
        "answers": dict(sorted(((str(s), e or ""), n) for (s, e), n in answered.items())),
        "flows": len(workload.ledger.flows),
        "deployments": len(workload.ledger.deployments),
    }


def report(name: str, timings: dict, figures: dict) -> None:
    line = (
        f"{name}: outage {OUTAGE_SECONDS:g} s, full service {timings['recovery']:.2f} s after the "
        f"restart; {figures}"
    )
    print(line, file=sys.stderr)


# --- Redis -----------------------------------------------------------------------------------


@pytest.fixture
def own_redis():
    server = OwnRedis()
    server.start()
    yield server
    server.stop()


def test_redis_down_and_back(app_servers, devstack, server_logs, own_redis):
    app_servers.env["CACHE_URL"] = own_redis.url
    app_servers.env["SCAIFLOW_EVENTS_CACHE_SECONDS"] = "2"
    server = app_servers.start(threads=16)
    workload = Workload(server.url, devstack.mint_token(tenant="acme"))

    def flap() -> None:
        """Down, back for a moment, down again: two outages."""
        own_redis.stop()
        time.sleep(1.5)
        own_redis.start()
        time.sleep(1.5)
        own_redis.stop()

    timings = outage(workload, flap, own_redis.start)
    figures = check(workload, devstack, allowed_503=set(), logs=server_logs())
    logs = server_logs()
    # One warning per outage (one worker process), not one per request.
    assert logs.count("cache unreachable") == 2, logs[-3000:]
    # Shared again: a poll now stores its answer in Redis.
    flow_id = next(iter(workload.ledger.flows))
    polled = requests.get(
        f"{server.url}/api/v1/scaicore/events",
        params={"flow_id": flow_id, "since": "e30"},  # a cursor of its own: not cached yet
        headers=workload.session_headers,
        timeout=30,
    )
    assert polled.status_code == 200, polled.text
    assert [k for k in redis.Redis.from_url(own_redis.url).keys("*") if b"scaiflow:events" in k]
    report("redis", timings, figures)


def test_two_installations_on_one_redis_keep_apart(own_redis):
    def run(prefix: str, script: str) -> str:
        env = {**os.environ, "DEBUG": "1", "CACHE_URL": f"{own_redis.url}?key_prefix={prefix}"}
        env.pop("DJANGO_SETTINGS_MODULE", None)
        result = subprocess.run(
            [sys.executable, "manage.py", "shell", "-v", "0", "-c",
             f"from django.core.cache import cache; {script}"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""

    run("staging", "cache.set('shared-name', 'staging', 60); print('set')")
    assert run("production", "print(cache.get('shared-name'))") == "None"
    assert run("staging", "print(cache.get('shared-name'))") == "staging"


# --- PostgreSQL ------------------------------------------------------------------------------


@pytest.fixture
def own_postgres():
    cluster = OwnPostgres()
    cluster.create()
    yield cluster
    cluster.destroy()


def test_postgres_stopped_and_started(app_servers, devstack, server_logs, own_postgres):
    app_servers.env["DATABASE_URL"] = own_postgres.url
    app_servers.migrate()
    server = app_servers.start(threads=16)
    workload = Workload(server.url, devstack.mint_token(tenant="acme"))
    timings = outage(workload, own_postgres.stop, own_postgres.start)
    figures = check(workload, devstack, allowed_503={"database_unavailable"}, logs=server_logs())
    answered_503 = sum(1 for c in workload.ledger.calls if c.status == 503)
    assert answered_503 > 0, "the outage was not seen"
    assert all(
        c.body["detail"]["retry_after"] > 0 for c in workload.ledger.calls if c.status == 503
    )
    logs = server_logs()
    assert " ERROR " not in logs, logs[-3000:]
    # Deploys that were running when the database stopped and answered after it was back.
    across = Counter(
        c.status
        for c in workload.ledger.calls
        if c.op == "deploy" and c.at - c.seconds < timings["down_at"] < c.at
    )
    report("postgres", timings, {**figures, "503": answered_503, "deploys_across": across})


# --- Object storage --------------------------------------------------------------------------

S3_BUCKET = "scaiflow-outage"


@pytest.fixture
def s3_gate():
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    boto3.client(
        "s3", endpoint_url=f"http://{host}:{port}", region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    ).create_bucket(Bucket=S3_BUCKET)  # fmt: skip
    gate = Gate(port)
    gate.open()
    yield gate
    gate.close()
    moto.stop()


def test_flow_storage_down_and_back(app_servers, devstack, server_logs, s3_gate):
    app_servers.env.update(
        {
            "SCAIFLOW_FLOW_STORAGE": f"s3://{S3_BUCKET}/outage",
            "AWS_S3_ENDPOINT_URL": s3_gate.url,
            "AWS_S3_REGION_NAME": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "SCAIFLOW_FLOW_STORAGE_TIMEOUT": "1",
        }
    )
    server = app_servers.start(threads=16)
    workload = Workload(server.url, devstack.mint_token(tenant="acme"))
    timings = outage(workload, s3_gate.close, s3_gate.open)
    figures = check(
        workload, devstack, allowed_503={"flow_storage_unavailable"}, logs=server_logs()
    )
    failed = [c for c in workload.ledger.calls if c.status == 503]
    assert failed, "the outage was not seen"
    # Within the configured timeouts: two attempts of at most a second each, and some slack.
    slowest = max(c.seconds for c in failed)
    assert slowest < 5, slowest
    report("flow storage", timings, {**figures, "503": len(failed), "slowest_503_s": slowest})


def test_a_hanging_flow_storage_answers_503_within_its_timeouts(app_servers, devstack, s3_gate):
    app_servers.env.update(
        {
            "SCAIFLOW_FLOW_STORAGE": f"s3://{S3_BUCKET}/hanging",
            "AWS_S3_ENDPOINT_URL": s3_gate.url,
            "AWS_S3_REGION_NAME": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "SCAIFLOW_FLOW_STORAGE_TIMEOUT": "1",
        }
    )
    server = app_servers.start()
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {devstack.mint_token(tenant='acme')}"
    body = {"name": "Hanging", "content": content(1)}
    s3_gate.hanging = True
    started = time.monotonic()
    answer = api.post(f"{server.url}/api/v1/flows", json=body, timeout=60)
    took = time.monotonic() - started
    assert answer.status_code == 503, answer.text
    assert answer.json()["detail"]["error"] == "flow_storage_unavailable"
    # Two attempts of a one-second read timeout, and boto's backoff between them (at most 2 s).
    assert took < 6, took
    assert api.get(f"{server.url}/api/v1/flows", timeout=30).json()["count"] == 0
    s3_gate.hanging = False
    assert api.post(f"{server.url}/api/v1/flows", json=body, timeout=60).status_code == 201
    print(f"hanging flow storage: 503 after {took:.2f} s", file=sys.stderr)
