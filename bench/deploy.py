"""Deploy benchmark: the backend's own time per deploy, and database queries per deploy.

Deploys a flow N times through the real API (Django's test client, a devstack-minted JWT)
against devstack started in this process, with no injected latency, in two cases per size:

- redeploy: the same stored version each time (its compiled manifest is in the cache);
- new version: a new version is saved before each deploy (outside the measured time), so
  every deploy compiles.

For each deploy:

- total: wall time of `POST /api/v1/flows/{id}/deploy`;
- upstream: the sum of the recorded steps' `upstream_ms` (time spent waiting on devstack);
- own = total - upstream: what ScaiFlow itself spends (auth, reads, compile, records);
- cpu: CPU time of the thread that served the request (`time.thread_time`): ScaiFlow's own
  work without devstack's (its threads) and without waiting, so it is steadier than wall time
  on a busy machine; it includes the HTTP client's work on the upstream calls, which `own`
  leaves out;
- queries: database queries the request made (CaptureQueriesContext).

Runs standalone, on a temporary SQLite database unless DATABASE_URL is set:

    .venv/bin/python bench/deploy.py [--deploys 200] [--nodes 20,200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.devstack_setup import django_on_devstack  # noqa: E402


def flow_content(nodes: int) -> dict:
    """A valid flow of `nodes` nodes: a trigger, a chain of LLM calls, an output."""
    chain = [f"step{i}" for i in range(1, nodes - 1)]
    content = {
        "name": f"Bench {nodes} nodes",
        "config": {"llm_roles": {"main": {"model": "scai-large"}}},
        "nodes": [{"id": "start", "kind": "trigger", "data": {"type": "chat"}}],
        "edges": [],
    }
    previous = "start"
    for node_id in chain:
        reference = "{{start.message}}" if previous == "start" else f"{{{{{previous}.text}}}}"
        content["nodes"].append(
            {"id": node_id, "kind": "llm", "data": {"role": "main", "prompt": reference}}
        )
        content["edges"].append({"source": previous, "target": node_id})
        previous = node_id
    content["nodes"].append(
        {"id": "reply", "kind": "output", "data": {"value": f"{{{{{previous}.text}}}}"}}
    )
    content["edges"].append({"source": previous, "target": "reply"})
    return content


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _renamed(content: dict, index: int) -> dict:
    """`content` with a different name: a new version whose manifest differs."""
    return {**content, "name": f"{content['name']} #{index}"}


def run(nodes: int, deploys: int, token: str, *, new_versions: bool) -> dict:
    """Deploy one flow `deploys` times: the same version each time, or (`new_versions`) a new
    version saved before each deploy, outside the measured time."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from flows.services import flow_create, flow_update
    from tenants.models import Tenant

    tenant = Tenant.objects.get_or_create(slug="acme")[0]
    content = flow_content(nodes)
    flow = flow_create(tenant=tenant, name=content["name"], content=content, actor="bench")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    url = f"/api/v1/flows/{flow.public_id}/deploy"
    client.post(url, {}, content_type="application/json")  # warm-up: creates the Core

    own, cpu, totals, upstream, queries = [], [], [], [], []
    for index in range(deploys):
        if new_versions:
            flow = flow_update(flow=flow, actor="bench", content=_renamed(content, index))
        with CaptureQueriesContext(connection) as captured:
            started, started_cpu = time.perf_counter(), time.thread_time()
            response = client.post(url, {}, content_type="application/json")
            cpu_ms = (time.thread_time() - started_cpu) * 1000
            total_ms = (time.perf_counter() - started) * 1000
        if response.status_code != 201:
            raise SystemExit(f"deploy failed: {response.status_code} {response.content[:500]!r}")
        body = response.json()
        if new_versions and body["flow_version"] != flow.version:
            raise SystemExit(f"deployed version {body['flow_version']}, saved {flow.version}")
        waited = sum(step.get("upstream_ms", 0) for step in body["steps"])
        totals.append(total_ms)
        upstream.append(waited)
        own.append(total_ms - waited)
        cpu.append(cpu_ms)
        queries.append(len(captured.captured_queries))
    return {
        "nodes": nodes,
        "case": "new version" if new_versions else "redeploy",
        "own_p50": statistics.median(own),
        "own_p95": percentile(own, 0.95),
        "cpu_p50": statistics.median(cpu),
        "cpu_p95": percentile(cpu, 0.95),
        "total_p50": statistics.median(totals),
        "upstream_p50": statistics.median(upstream),
        "queries": sorted(set(queries)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deploys", type=int, default=200)
    parser.add_argument("--nodes", default="20,200", help="flow sizes, comma-separated")
    args = parser.parse_args()

    bench = django_on_devstack()
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    print(f"database: {engine}; {args.deploys} deploys per flow size; devstack {bench.stack.url}")
    print(f"{'nodes':>5}  {'case':<11}  {'own p50':>8}  {'own p95':>8}  {'cpu p50':>8}  "
          f"{'cpu p95':>8}  {'total p50':>9}  {'upstream p50':>12}  queries/deploy")  # fmt: skip
    try:
        for nodes in (int(n) for n in args.nodes.split(",")):
            for new_versions in (False, True):
                r = run(nodes, args.deploys, bench.token, new_versions=new_versions)
                queries = ", ".join(str(q) for q in r["queries"])
                times = "  ".join(f"{r[k]:>6.1f}ms" for k in ("own_p50", "own_p95", "cpu_p50",
                                                             "cpu_p95"))  # fmt: skip
                print(f"{r['nodes']:>5}  {r['case']:<11}  {times}  {r['total_p50']:>7.1f}ms  "
                      f"{r['upstream_p50']:>10.1f}ms  {queries}")  # fmt: skip
    finally:
        bench.stop()


if __name__ == "__main__":
    main()
