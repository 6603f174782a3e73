"""Load test of the live events endpoint against a bare DRF view, in one run.

Starts devstack (upstream ScaiGrid and ScaiKey), migrates a database, starts gunicorn
(`--workers 2`, gthread) with Redis as the cache, deploys one flow, then simulates canvases:
each polls the flow's events every `--interval` seconds for `--duration` seconds, passing back
the cursor it got, as the Live Runs panel does. Canvases are spread over `--users` principals.
The same load then runs against `/bench/constant` (a bare DRF view; bench-only URLconf).

    .venv/bin/python bench/events.py [--canvases 200] [--interval 2] [--duration 60] [--users 20]
        [--cache-url redis://127.0.0.1:6379/8] [--database-url sqlite:///…]

It prints requests/s, p50/p95 latency, errors, and the upstream events calls devstack counted,
with the bound "one per principal per cache window".
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
EVENTS_ENDPOINT = "GET /v1/modules/scaicore/events"
FLOW = {
    "name": "Bench",
    "config": {"llm_roles": {"main": {"model": "scai-large"}}},
    "nodes": [
        {"id": "start", "kind": "trigger", "data": {"type": "chat"}},
        {"id": "answer", "kind": "llm", "data": {"role": "main", "prompt": "{{start.message}}"}},
        {"id": "reply", "kind": "output", "data": {"value": "{{answer.text}}"}},
    ],
    "edges": [{"source": "start", "target": "answer"}, {"source": "answer", "target": "reply"}],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=5)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def canvas(url, headers, params, interval, stop_at, latencies, failures, lock):
    session = requests.Session()
    time.sleep(random.uniform(0, interval))  # canvases were opened at different moments
    next_at = time.monotonic()
    while time.monotonic() < stop_at:
        started = time.monotonic()
        try:
            response = session.get(url, headers=headers, params=params, timeout=30)
            reason = None if response.status_code == 200 else f"HTTP {response.status_code}"
            if reason is None and "flow_id" in params:
                params = {**params, "since": response.json()["cursor"]}
        except requests.RequestException as exc:
            reason = type(exc).__name__
        elapsed = time.monotonic() - started
        with lock:
            if reason is None:
                latencies.append(elapsed)
            else:
                failures.append(reason)
        next_at += interval
        time.sleep(max(0.0, next_at - time.monotonic()))


def run_load(url, tokens, params, args) -> dict:
    latencies, failures, lock = [], [], threading.Lock()
    started = time.monotonic()
    stop_at = started + args.duration
    threads = [
        threading.Thread(
            target=canvas,
            args=(
                url,
                {"Authorization": f"Bearer {tokens[i % len(tokens)]}"} if tokens else {},
                dict(params),
                args.interval,
                stop_at,
                latencies,
                failures,
                lock,
            ),
        )
        for i in range(args.canvases)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    latencies.sort()

    def pick(quantile: float) -> float:
        return latencies[min(len(latencies) - 1, int(quantile * len(latencies)))] * 1000

    return {
        "requests": len(latencies) + len(failures),
        "ok": len(latencies),
        "failed": len(failures),
        "failures": dict(Counter(failures)),
        "rps": round(len(latencies) / wall, 1),
        "p50_ms": round(pick(0.50), 1) if latencies else None,
        "p95_ms": round(pick(0.95), 1) if latencies else None,
        "wall_s": round(wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--canvases", type=int, default=200)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--window", type=float, default=2.0, help="SCAIFLOW_EVENTS_CACHE_SECONDS")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads per worker")
    parser.add_argument("--cache-url", default="redis://127.0.0.1:6379/8")
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="scaiflow-bench-"))
    grid_port, app_port = free_port(), free_port()
    grid = f"http://127.0.0.1:{grid_port}"
    app = f"http://127.0.0.1:{app_port}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-" + "x" * 50,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "SCAIFLOW_SECRETS_KEYS": "Z2VuZXJhdGVkLWZvci10ZXN0cy1vbmx5LTMyYnl0ZXM=",
        "DATABASE_URL": args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}",
        "CACHE_URL": args.cache_url,
        "SCAIFLOW_FLOW_STORAGE": "",
        "SCAIFLOW_EVENTS_CACHE_SECONDS": str(args.window),
        "SCAIFLOW_DEPLOY_RATE": "1000/min",
        "SCAIFLOW_DEPLOY_TENANT_RATE": "1000/min",
        "SCAIGRID_BASE_URL": grid,
        "SCAIGRID_ALLOWED_HOSTS": grid,
        "SCAIQUEUE_BASE_URL": grid,
        "SCAIKEY_JWKS_URL": f"{grid}/.well-known/jwks.json",
        "SCAIKEY_ISSUER": f"{grid}/scaikey",
        "SCAIKEY_AUDIENCE": "scaiflow",
    }
    processes = []
    try:
        processes.append(
            subprocess.Popen(  # noqa: S603 - our own fixed argv
                [PYTHON, "manage.py", "devstack", "--port", str(grid_port), "--quiet"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
            )
        )
        wait_for(f"{grid}/_devstack/state")
        subprocess.run(  # noqa: S603 - our own fixed argv
            [PYTHON, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
        )
        import redis

        redis.Redis.from_url(args.cache_url).flushdb()
        processes.append(
            subprocess.Popen(  # noqa: S603 - our own fixed argv
                [
                    str(Path(PYTHON).parent / "gunicorn"),
                    "scaiflow.wsgi",
                    "--workers",
                    "2",
                    "--worker-class",
                    "gthread",
                    "--threads",
                    str(args.threads),
                    # Longer than a canvas's pause: else the server may close a kept-alive
                    # connection just as the canvas reuses it.
                    "--keep-alive",
                    str(math.ceil(args.interval) + 3),
                    "--bind",
                    f"127.0.0.1:{app_port}",
                    "--log-level",
                    "warning",
                ],
                cwd=ROOT,
                env=env,
            )
        )
        wait_for(f"{app}/healthz")

        def mint(sub: str) -> str:
            body = {"tenant": "bench", "sub": sub, "ttl": 3600}
            return requests.post(f"{grid}/scaikey/token", json=body, timeout=30).json()[
                "access_token"
            ]

        tokens = [mint(f"user{i}") for i in range(args.users)]
        auth = {"Authorization": f"Bearer {tokens[0]}"}
        flow = requests.post(
            f"{app}/api/v1/flows", json={"name": "Bench", "content": FLOW}, headers=auth, timeout=30
        ).json()
        deployed = requests.post(
            f"{app}/api/v1/flows/{flow['id']}/deploy", json={}, headers=auth, timeout=60
        )
        deployed.raise_for_status()

        def upstream_calls() -> int:
            return (
                requests.get(f"{grid}/_devstack/state", timeout=30)
                .json()["counts"]
                .get(EVENTS_ENDPOINT, 0)
            )

        before = upstream_calls()
        events = run_load(f"{app}/api/v1/scaicore/events", tokens, {"flow_id": flow["id"]}, args)
        events["upstream_calls"] = upstream_calls() - before
        windows = math.ceil(args.duration / args.window) + 1
        # +1 per principal: its first poll (no cursor) and the next (with one) are two keys.
        events["upstream_bound"] = args.users * (windows + 1)
        baseline = run_load(f"{app}/bench/constant", [], {}, args)
        result = {
            "config": vars(args),
            "events": events,
            "baseline": baseline,
            "throughput_ratio": round(events["rps"] / baseline["rps"], 3),
        }
        print(json.dumps(result, indent=2))
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(timeout=10)


if __name__ == "__main__":
    main()
