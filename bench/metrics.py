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

    .venv/bin/python bench/metrics.py [--rounds 20] [--deploys 25] [--polls 500]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.deploy import flow_content  # noqa: E402
from bench.devstack_setup import django_on_devstack  # noqa: E402


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="rounds of each, alternating")
    parser.add_argument("--deploys", type=int, default=25, help="deploys per round")
    parser.add_argument("--polls", type=int, default=500, help="events polls per round")
    args = parser.parse_args()

    bench = django_on_devstack(SCAIFLOW_METRICS_TOKEN="bench")  # noqa: S106 - /metrics on
    # Only warnings: an access line per request would measure the terminal.
    import logging

    logging.getLogger("scaiflow.access").setLevel(logging.WARNING)
    from django.conf import settings
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
    results = {mode: {"deploy": [], "events": []} for mode in ("on", "off")}
    share = {}
    try:
        for round_ in range(args.rounds):
            for mode in ("on", "off") if round_ % 2 == 0 else ("off", "on"):
                with metrics_off() if mode == "off" else _nothing():
                    results[mode]["deploy"].append(timed(args.deploys, deploy))
                    results[mode]["events"].append(timed(args.polls, poll))
        # What one operation records, replayed alone: its cost, against the operation's CPU.
        for what, send in (("deploy", deploy), ("events", poll)):
            calls = []
            with recording_calls(calls):
                send()
            cost = replayed_cost(calls)
            cpu = statistics.median(c for _, c in results["on"][what]) / 1000
            share[what] = (len(calls), cost * 1e6, cost / cpu)
    finally:
        bench.stop()

    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
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


@contextmanager
def _nothing():
    yield


if __name__ == "__main__":
    main()
