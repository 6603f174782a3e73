"""Load held: a mixed load at a fixed rate against gunicorn on PostgreSQL and Redis.

For RELIABILITY_LOAD_SECONDS (default 300, what CI runs) requests go out on a fixed schedule
(RATE per second, open loop: a slow answer does not slow the schedule down), cycling through
list flows, get a flow, poll events, compile, save a new version and deploy against devstack,
over four flows and four principals. Outcomes are counted: every answer must be the designed
one (200/201, or 409 `deploy_in_progress` / 429 `throttled` for a deploy); p95 latencies are
reported, not asserted. The worker's resident memory is sampled: the figure at minute 1 (a
fifth of the run) and at the end are reported, and the growth between them is bounded.

The figures go to stdout and to var/reliability/load.json (docs/reliability.md quotes them).
"""

from __future__ import annotations

import copy
import json
import os
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.deployments.conftest import SIMPLE_FLOW
from tests.reliability.conftest import ROOT, require_postgres_and_redis

pytestmark = [pytest.mark.reliability, pytest.mark.postgres]

DURATION = float(os.environ.get("RELIABILITY_LOAD_SECONDS", "300"))
RATE = 10.0  # requests per second
FLOWS = 4
USERS = 4
# One cycle of operations: reads dominate, as on a canvas; one deploy per second.
CYCLE = ("list", "get", "events", "compile", "list", "get", "events", "save", "events", "deploy")
EXPECTED = {"deploy": {201, 409, 429}}
# Allowed growth of the worker's memory from minute 1 to the end. After the first minute
# every code path has run and the pools (database connections per thread, HTTP sessions,
# caches with fixed bounds) are full; what grows after that is a leak. 24 MiB leaves room for
# the allocator's arenas and fragmentation, and still catches a leak of 10 KiB per request
# (2,400 requests from minute 1 to 5).
MAX_GROWTH_MIB = 24.0


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)


def test_mixed_load_held(app_servers, devstack, server_logs):
    require_postgres_and_redis()
    server = app_servers.start(workers=1, threads=8)
    (worker,) = server.worker_pids()
    api = f"{server.url}/api/v1"
    tokens = [devstack.mint_token(tenant="acme", sub=f"user{i}", ttl=7200) for i in range(USERS)]
    local = threading.local()

    def session(user: int) -> requests.Session:
        sessions = local.__dict__.setdefault("sessions", {})
        if user not in sessions:
            sessions[user] = requests.Session()
            sessions[user].headers["Authorization"] = f"Bearer {tokens[user]}"
        return sessions[user]

    flow_ids = []
    for i in range(FLOWS):
        content = copy.deepcopy(SIMPLE_FLOW)
        made = session(0).post(
            f"{api}/flows", json={"name": f"Load {i}", "content": content}, timeout=30
        )
        assert made.status_code == 201, made.text
        flow_ids.append(made.json()["id"])
    cursors: dict[tuple[int, str], str] = {}
    saves = Counter()

    def request(op: str, k: int) -> requests.Response:
        # Each cycle shifts the principals by one: every principal does every operation.
        user, flow = (k + k // len(CYCLE)) % USERS, flow_ids[(k // len(CYCLE)) % FLOWS]
        s = session(user)
        if op == "list":
            return s.get(f"{api}/flows", timeout=60)
        if op == "get":
            return s.get(f"{api}/flows/{flow}", timeout=60)
        if op == "compile":
            return s.post(f"{api}/flows/{flow}/compile", json={}, timeout=60)
        if op == "save":
            saves[flow] += 1  # one scheduling thread: no race
            content = copy.deepcopy(SIMPLE_FLOW)
            content["nodes"][1]["data"]["prompt"] = f"Answer ({saves[flow]}): {{{{start.message}}}}"
            return s.patch(f"{api}/flows/{flow}", json={"content": content}, timeout=60)
        if op == "deploy":
            return s.post(f"{api}/flows/{flow}/deploy", json={}, timeout=60)
        params = {"flow_id": flow}
        if (user, flow) in cursors:
            params["since"] = cursors[(user, flow)]
        response = s.get(f"{api}/scaicore/events", params=params, timeout=60)
        if response.status_code == 200:
            cursors[(user, flow)] = response.json()["cursor"]
        return response

    latencies: dict[str, list[float]] = defaultdict(list)
    outcomes: Counter = Counter()
    unexpected: list[str] = []
    lock = threading.Lock()

    def run(op: str, k: int) -> None:
        started = time.monotonic()
        try:
            response = request(op, k)
            outcome = response.status_code
            if outcome in (409, 429):
                outcome = f"{outcome} {response.json()['detail']['error']}"
        except requests.RequestException as exc:
            response, outcome = None, type(exc).__name__
        elapsed = time.monotonic() - started
        with lock:
            outcomes[(op, outcome)] += 1
            latencies[op].append(elapsed)
            ok = response is not None and response.status_code in EXPECTED.get(op, {200})
            if not ok:
                unexpected.append(f"{op}: {outcome} {response.text[:200] if response else ''}")

    memory: list[tuple[float, float]] = []
    total = int(DURATION * RATE)
    t0 = time.monotonic()
    next_sample = 0.0
    with ThreadPoolExecutor(max_workers=32) as pool:
        for k in range(total):
            due = t0 + k / RATE
            while (now := time.monotonic()) < due:
                if now - t0 >= next_sample:
                    memory.append((round(now - t0, 1), rss_mib(worker)))
                    next_sample += 5
                time.sleep(min(0.02, due - now))
            pool.submit(run, CYCLE[k % len(CYCLE)], k)
    wall = time.monotonic() - t0
    memory.append((round(wall, 1), rss_mib(worker)))

    minute_1 = next(mib for at, mib in memory if at >= DURATION / 5)
    at_end = memory[-1][1]
    everything = [value for values in latencies.values() for value in values]
    pending = requests.get(
        f"{api}/deployments", params={"status": "pending"}, timeout=30,
        headers={"Authorization": f"Bearer {tokens[0]}"},
    ).json()["count"]  # fmt: skip
    report = {
        "duration_s": DURATION,
        "wall_s": round(wall, 1),
        "rate_per_s": RATE,
        "requests": total,
        "achieved_rate_per_s": round(total / wall, 2),
        "outcomes": {f"{op} {code}": n for (op, code), n in sorted(outcomes.items(), key=str)},
        "unexpected": len(unexpected),
        "p50_ms": percentile(everything, 0.50),
        "p95_ms": percentile(everything, 0.95),
        "p95_ms_by_op": {op: percentile(values, 0.95) for op, values in sorted(latencies.items())},
        "upstream_creates": devstack.count("POST /v1/modules/scaicore/cores"),
        "upstream_updates": devstack.count("PUT /v1/modules/scaicore/cores/{id}"),
        "upstream_events_calls": devstack.count("GET /v1/modules/scaicore/events"),
        "pending_left": pending,
        "worker_rss_mib": {"minute_1": round(minute_1, 1), "end": round(at_end, 1),
                           "samples": memory},
    }  # fmt: skip
    out = ROOT / "var" / "reliability"
    out.mkdir(parents=True, exist_ok=True)
    (out / "load.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "worker_rss_mib"}, indent=2))
    print("worker RSS MiB: minute 1", report["worker_rss_mib"]["minute_1"], "end", at_end)

    assert sum(outcomes.values()) == total
    assert unexpected == [], (unexpected[:20], server_logs())
    assert pending == 0
    assert at_end - minute_1 <= MAX_GROWTH_MIB, report["worker_rss_mib"]
