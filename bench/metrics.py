"""Cost of the Prometheus metrics: deploy and events throughput with metrics on and off, in one
run.

In one process, against devstack started here (no injected latency), through the real API
(Django's test client, a devstack-minted ScaiKey JWT):

- deploys: redeploys of one 20-node flow (the compile is cached, so the per-request work that
  the metrics add weighs the most);
- events: polls of the flow's live events, nearly all answered from the cache (the hottest
  path, about a millisecond each).

"Off" replaces the recording calls (Counter.inc, Histogram.observe, labels(), and the HTTP and
upstream helpers) with no-ops; "on" is the code as it ships. Rounds alternate on and off so
that the machine's load hits both alike; the figures are the medians over the rounds, with
throughput in operations per second of wall time and CPU time of the serving thread per
operation. On a shared machine the difference between two such medians is mostly noise, so a
last pass measures the cost directly: it keeps the recording calls one deploy and one poll
make (with their arguments), replays them alone thousands of times, and gives their CPU time
per operation and its share of the operation's CPU time (median of the "on" rounds).

Last, multiprocess mode (gunicorn's PROMETHEUS_MULTIPROC_DIR, where each value is written to a
memory-mapped file): an events poll's recording calls are replayed alone, 50,000 times, in two
fresh processes (prometheus-client picks its value store when imported), one without it and
one with it naming a temporary directory, removed after: the files go nowhere else.

    .venv/bin/python bench/metrics.py [--rounds 20] [--deploys 25] [--polls 500]
                                      [--multiprocess-polls 50000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.deploy import flow_content  # noqa: E402
from bench.devstack_setup import BenchStack, django_on_devstack  # noqa: E402


@contextmanager
def metrics_off():
    """Every recording call a no-op for the duration."""
    from prometheus_client import Counter, Histogram
    from prometheus_client.metrics import MetricWrapperBase

    from scaiflow.observability import metrics

    saved = [
        (Counter, "inc", Counter.inc),
        (Histogram, "observe", Histogram.observe),
        (MetricWrapperBase, "labels", MetricWrapperBase.labels),
        (metrics, "http_observe", metrics.http_observe),
        (metrics, "upstream_observe", metrics.upstream_observe),
    ]
    Counter.inc = lambda self, amount=1, exemplar=None: None
    Histogram.observe = lambda self, amount, exemplar=None: None
    MetricWrapperBase.labels = lambda self, *args, **kwargs: self
    metrics.http_observe = lambda *args: None
    metrics.upstream_observe = lambda *args: None
    try:
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)


@contextmanager
def recording_calls(calls: list):
    """The recording calls as shipped, each outermost one (`http_observe` calls `inc` and
    `observe`) appended to `calls` as (function, args, kwargs), to be replayed alone."""
    from prometheus_client import Counter, Histogram
    from prometheus_client.metrics import MetricWrapperBase

    from scaiflow.observability import metrics

    depth = [0]
    saved = []

    def kept(owner, name):
        original = getattr(owner, name)
        saved.append((owner, name, original))

        def call(*args, **kwargs):
            if depth[0] == 0:
                calls.append((original, args, kwargs))
            depth[0] += 1
            try:
                return original(*args, **kwargs)
            finally:
                depth[0] -= 1

        setattr(owner, name, call)

    for owner, name in ((Counter, "inc"), (Histogram, "observe"), (MetricWrapperBase, "labels"),
                        (metrics, "http_observe"), (metrics, "upstream_observe")):  # fmt: skip
        kept(owner, name)
    try:
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)


def replayed_cost(calls: list, repeat: int = 2000) -> float:
    """Seconds of CPU that one replay of `calls` takes, over `repeat` replays."""
    started = time.process_time()
    for _ in range(repeat):
        for function, args, kwargs in calls:
            function(*args, **kwargs)
    return (time.process_time() - started) / repeat


def timed(count: int, send) -> tuple[float, float]:
    """(operations per second, CPU ms per operation) of `count` calls of `send`."""
    started, started_cpu = time.perf_counter(), time.thread_time()
    for _ in range(count):
        send()
    wall = time.perf_counter() - started
    return count / wall, (time.thread_time() - started_cpu) * 1000 / count


def api_operations(bench: BenchStack) -> tuple[Callable[[], None], Callable[[], None]]:
    """(deploy, poll): a redeploy of one 20-node flow and a poll of its live events, through
    the API; the flow's Core is made and its events are cached before they are returned."""
    # Only warnings: an access line per request would measure the terminal.
    import logging

    logging.getLogger("scaiflow.access").setLevel(logging.WARNING)
    from django.test import Client

    from flows.services import flow_create
    from tenants.models import Tenant

    tenant = Tenant.objects.get_or_create(slug="acme")[0]
    content = flow_content(20)
    flow = flow_create(tenant=tenant, name=content["name"], content=content, actor="bench")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {bench.token}")
    deploy_url = f"/api/v1/flows/{flow.public_id}/deploy"

    def deploy():
        response = client.post(deploy_url, {}, content_type="application/json")
        if response.status_code != 201:
            raise SystemExit(f"deploy failed: {response.status_code} {response.content[:300]!r}")

    def poll():
        response = client.get("/api/v1/scaicore/events", {"flow_id": flow.public_id})
        if response.status_code != 200:
            raise SystemExit(f"poll failed: {response.status_code} {response.content[:300]!r}")

    deploy()  # creates the Core
    poll()
    return deploy, poll


def on_and_off(args, deploy, poll) -> tuple[dict, dict]:
    """The rounds, alternating on and off, then the recording calls replayed alone:
    (results[mode][what] = [(ops/s, CPU ms/op)], share[what] = (calls, µs, share))."""
    results = {mode: {"deploy": [], "events": []} for mode in ("on", "off")}
    for round_ in range(args.rounds):
        for mode in ("on", "off") if round_ % 2 == 0 else ("off", "on"):
            with metrics_off() if mode == "off" else _nothing():
                results[mode]["deploy"].append(timed(args.deploys, deploy))
                results[mode]["events"].append(timed(args.polls, poll))
    # What one operation records, replayed alone: its cost, against the operation's CPU.
    share = {}
    for what, send in (("deploy", deploy), ("events", poll)):
        calls = []
        with recording_calls(calls):
            send()
        cost = replayed_cost(calls)
        cpu = statistics.median(c for _, c in results["on"][what]) / 1000
        share[what] = (len(calls), cost * 1e6, cost / cpu)
    return results, share


def replayed_poll_calls(repeat: int) -> dict:
    """In this (fresh) process: an events poll's recording calls, replayed `repeat` times."""
    bench = django_on_devstack(SCAIFLOW_METRICS_TOKEN="bench")  # noqa: S106 - /metrics on
    try:
        _, poll = api_operations(bench)
        calls = []
        with recording_calls(calls):
            poll()
        return {"calls": len(calls), "seconds": replayed_cost(calls, repeat)}
    finally:
        bench.stop()


def multiprocess_cost(repeat: int, environ: dict[str, str]) -> dict[str, dict]:
    """An events poll's recording calls replayed `repeat` times, each mode in a fresh process
    (prometheus-client picks its value store on import): without PROMETHEUS_MULTIPROC_DIR,
    and with it naming a temporary directory, removed after (its `*.db` files with it)."""
    measured = {}
    for mode in ("single", "multiprocess"):
        env = {k: v for k, v in environ.items() if k.upper() != "PROMETHEUS_MULTIPROC_DIR"}
        with tempfile.TemporaryDirectory(prefix="scaiflow-metrics-") as directory:
            if mode == "multiprocess":
                env["PROMETHEUS_MULTIPROC_DIR"] = directory
            command = [sys.executable, str(Path(__file__).resolve()), "--replay-polls", str(repeat)]
            done = subprocess.run(  # noqa: S603 - this script
                command, env=env, cwd=ROOT, capture_output=True, text=True, check=False
            )
        if done.returncode != 0:
            raise SystemExit(f"the {mode} pass failed:\n{done.stderr[-2000:]}")
        measured[mode] = json.loads(done.stdout.strip().splitlines()[-1])
    return measured


def report(args, engine: str, results: dict, share: dict, multiprocess: dict) -> None:
    print(f"database: {engine}; {args.rounds} rounds of each, alternating; per round "
          f"{args.deploys} deploys and {args.polls} events polls")  # fmt: skip
    print(f"{'':<8}  {'off ops/s':>9}  {'on ops/s':>9}  {'change':>7}  "
          f"{'off cpu/op':>10}  {'on cpu/op':>10}  {'change':>7}  {'calls':>5}  "
          f"{'their cpu':>9}  {'share':>6}")  # fmt: skip
    for what in ("deploy", "events"):
        off_rate = statistics.median(r for r, _ in results["off"][what])
        on_rate = statistics.median(r for r, _ in results["on"][what])
        off_cpu = statistics.median(c for _, c in results["off"][what])
        on_cpu = statistics.median(c for _, c in results["on"][what])
        print(f"{what:<8}  {off_rate:>9.1f}  {on_rate:>9.1f}  "
              f"{(on_rate / off_rate - 1) * 100:>+6.1f}%  {off_cpu:>8.3f}ms  {on_cpu:>8.3f}ms  "
              f"{(on_cpu / off_cpu - 1) * 100:>+6.1f}%  {share[what][0]:>5}  "
              f"{share[what][1]:>6.1f} µs  {share[what][2] * 100:>5.2f}%")  # fmt: skip
    each = {mode: m["seconds"] * 1e6 / m["calls"] for mode, m in multiprocess.items()}
    change = (each["multiprocess"] / each["single"] - 1) * 100
    print(f"multiprocess mode (PROMETHEUS_MULTIPROC_DIR, a temporary directory): an events "
          f"poll's {multiprocess['multiprocess']['calls']} recording calls, replayed "
          f"{args.multiprocess_polls} times in a fresh process, took "
          f"{each['multiprocess']:.1f} µs each against {each['single']:.1f} µs without it "
          f"({change:+.0f}%; process CPU time)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="rounds of each, alternating")
    parser.add_argument("--deploys", type=int, default=25, help="deploys per round")
    parser.add_argument("--polls", type=int, default=500, help="events polls per round")
    parser.add_argument(
        "--multiprocess-polls", type=int, default=50_000,
        help="replays of a poll's recording calls, with and without multiprocess mode",
    )  # fmt: skip
    # One pass of the multiprocess comparison, run by this script in a fresh process.
    parser.add_argument("--replay-polls", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.replay_polls:
        print(json.dumps(replayed_poll_calls(args.replay_polls)))
        return

    environ = dict(os.environ)  # for the fresh processes: before the set-up adds to it
    bench = django_on_devstack(SCAIFLOW_METRICS_TOKEN="bench")  # noqa: S106 - /metrics on
    try:
        results, share = on_and_off(args, *api_operations(bench))
    finally:
        bench.stop()
    multiprocess = multiprocess_cost(args.multiprocess_polls, environ)
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    report(args, engine, results, share, multiprocess)


@contextmanager
def _nothing():
    yield


if __name__ == "__main__":
    main()
