"""Scale benchmark: lists, admin pages and commands over a year of one busy tenant's records.

Fills a PostgreSQL database with SQL (generate_series, no Python loop) at a chosen scale
of the reference data set, a busy tenant's year:

    scale 1.0: 50,000 flows, 1,000,000 deployment records (90% succeeded, 8% failed,
               2% publish_failed; one flow holds 2% of them, 20,000), 3,000,000 audit entries

then times each request of the table below through the whole Django stack (middleware,
authentication with the shared token, serialisers, templates), in process, and prints the
median of `--runs` runs in milliseconds, with the database queries of one run.

    SCALE_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/scale_bench \\
        .venv/bin/python bench/scale.py --scale 0.01 [--runs 5] [--reuse] [--prune]

The tenant `busy` of that database is emptied and refilled (`--reuse` keeps a fill of the
same scale); `--prune` also runs a real prune, which deletes most of it. Give it a database
of its own (never `test*`): DATABASE_URL is not read, so that `make bench` cannot touch the
application's database. Without SCALE_BENCH_DATABASE_URL the benchmark says so and does
nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TENANT = "busy"
TOKEN = "bench-scale-token-" + "x" * 24
KINDS = [
    "flow.created", "flow.updated", "flow.deleted", "deploy.started", "deploy.finished",
    "deploy.published", "deploy.unpublished", "deploy.rollback", "credentials.set",
    "credentials.cleared", "credentials.rotated",
]  # fmt: skip


def sizes(scale: float) -> dict[str, int]:
    return {
        "flows": max(10, round(50_000 * scale)),
        "deployments": max(1_000, round(1_000_000 * scale)),
        "audit": max(3_000, round(3_000_000 * scale)),
    }


FILL_SQL = """
DELETE FROM tenants_auditentry WHERE tenant_id = %(tenant)s;
DELETE FROM deployments_deployment WHERE tenant_id = %(tenant)s;
DELETE FROM flows_flow WHERE tenant_id = %(tenant)s AND id <> %(big_flow)s;

-- The other flows, never-deployed drafts aside: no versions (the lists do not read them).
INSERT INTO flows_flow (public_id, tenant_id, name, description, version, content_sha256,
                        created_by, updated_by, created_at, updated_at)
SELECT 'flw_bench' || lpad(g::text, 11, '0'), %(tenant)s, 'Flow ' || g, '', 1, repeat('0', 64),
       'scaikey:user' || (g %% 40), 'scaikey:user' || (g %% 40),
       now() - interval '400 days', now() - (g::float / %(flows)s) * interval '365 days'
FROM generate_series(1, %(flows)s - 1) AS g;

-- Every 50th record is the big flow's; status by a hash of g: 90/8/2 percent.
INSERT INTO deployments_deployment (id, tenant_id, flow_id, flow_name, flow_version, status,
    error, error_code, core_id, core_action, published_slug, publish_as_model, group_ids,
    auth_source, actor, request_id, manifest, manifest_sha256, steps, created_at, finished_at)
SELECT 'dep_' || lpad(to_hex(g), 24, '0'), %(tenant)s,
       CASE WHEN g %% 50 = 0 THEN %(big_flow)s
            ELSE (SELECT min(id) FROM flows_flow WHERE tenant_id = %(tenant)s
                  AND id <> %(big_flow)s) + g %% (%(flows)s - 1) END,
       'Flow', 1, s.status,
       CASE WHEN s.status = 'succeeded' THEN NULL
            ELSE jsonb_build_object('error', s.code, 'message', 'failed') END,
       s.code,
       CASE WHEN s.status = 'failed' THEN '' ELSE 'core_' || (g %% 50000) END,
       CASE WHEN s.status = 'failed' THEN '' ELSE 'updated' END,
       '', false, '[]'::jsonb, 'jwt', 'scaikey:user' || (g %% 40), 'req-' || g,
       'apiVersion: scaicore/v1', repeat('0', 64), '[]'::jsonb,
       now() - (g::float / %(deployments)s) * interval '365 days',
       now() - (g::float / %(deployments)s) * interval '365 days' + interval '2 seconds'
FROM generate_series(1, %(deployments)s) AS g,
LATERAL (SELECT CASE WHEN (g::bigint * 7919) %% 100 < 90 THEN 'succeeded'
                     WHEN (g::bigint * 7919) %% 100 < 98 THEN 'failed'
                     ELSE 'publish_failed' END AS status) AS st,
LATERAL (SELECT st.status,
                CASE st.status WHEN 'failed' THEN 'scaicore_create_failed'
                               WHEN 'publish_failed' THEN 'scaicore_publish_failed'
                               ELSE '' END AS code) AS s;

INSERT INTO tenants_auditentry (tenant_id, kind, actor, target, request_id, data, created_at)
SELECT %(tenant)s, (%(kinds)s::text[])[1 + g %% 11], 'scaikey:user' || (g %% 40),
       'dep_' || lpad(to_hex(g / 3 + 1), 24, '0'), 'req-' || g, '{}'::jsonb,
       now() - (g::float / %(audit)s) * interval '365 days'
FROM generate_series(1, %(audit)s) AS g;

ANALYZE tenants_auditentry;
ANALYZE deployments_deployment;
ANALYZE flows_flow;
"""


def fill(*, scale: float) -> dict:
    """Fill the database with the busy tenant's year at `scale` (see the module); returns the
    tenant, its big flow and the sizes. Needs Django set up on PostgreSQL."""
    from django.db import connection

    from bench.deploy import flow_content
    from flows.models import Flow
    from flows.services import flow_create
    from tenants.models import Tenant

    tenant, _ = Tenant.objects.get_or_create(slug=TENANT)
    big = Flow.objects.filter(tenant=tenant, name="Big flow").first()
    if big is None:
        big = flow_create(tenant=tenant, name="Big flow", content=flow_content(3), actor="bench")
    counts = sizes(scale)
    params = {**counts, "tenant": tenant.pk, "big_flow": big.pk, "kinds": KINDS}
    with connection.cursor() as cursor:
        cursor.execute(FILL_SQL, params)
    return {"tenant": tenant, "big_flow": big, **counts}


def _deep_cursor(model, queryset) -> str:
    """A `next` cursor from the middle of `queryset` (newest first): a page half way down."""
    from scaiflow.core.pagination import _Cursor

    middle = queryset.order_by("-created_at", "-pk")[queryset.count() // 2]
    return _Cursor(True, middle.created_at, middle.pk).encode()


def measurements(data: dict) -> list[tuple[str, str]]:
    """(label, URL) of each request measured; `admin:` ones run as a superuser."""
    from deployments.models import Deployment
    from tenants.models import AuditEntry

    tenant, big = data["tenant"], data["big_flow"]
    deployments = Deployment.objects.filter(tenant=tenant)
    audit = AuditEntry.objects.filter(tenant=tenant)
    deep = _deep_cursor(Deployment, deployments)
    deep_failed = _deep_cursor(Deployment, deployments.filter(status="failed"))
    deep_audit = _deep_cursor(AuditEntry, audit)
    deep_flow = _deep_cursor(Deployment, deployments.filter(flow=big))
    one = deployments.filter(status="failed").order_by("created_at")[10]
    flow, target = f"/api/v1/flows/{big.public_id}", "dep_" + "0" * 20 + "0100"
    admin_deployments = "admin:/admin/deployments/deployment/"
    admin_audit = "admin:/admin/tenants/auditentry/"
    return [
        ("GET /deployments", "/api/v1/deployments"),
        ("GET /deployments?status=failed", "/api/v1/deployments?status=failed"),
        ("GET /deployments?status=failed deep",
         f"/api/v1/deployments?status=failed&cursor={deep_failed}"),
        ("GET /deployments deep page (cursor)", f"/api/v1/deployments?cursor={deep}"),
        ("GET /deployments?page=10", "/api/v1/deployments?page=10"),
        ("GET /audit?kind=deploy.finished", "/api/v1/audit?kind=deploy.finished"),
        ("GET /audit?actor=…&target=…", f"/api/v1/audit?actor=scaikey:user7&target={target}"),
        ("GET /audit deep page (cursor)", f"/api/v1/audit?cursor={deep_audit}"),
        ("GET /flows", "/api/v1/flows"),
        ("GET /flows/{big}", flow),
        ("GET /flows/{big}/deployments deep", f"{flow}/deployments?cursor={deep_flow}"),
        ("admin deployments", admin_deployments),
        ("admin deployments ?status__exact=failed", f"{admin_deployments}?status__exact=failed"),
        ("admin deployments ?error_code=…",
         f"{admin_deployments}?error_code=scaicore_publish_failed"),
        ("admin deployments search dep id", f"{admin_deployments}?q={one.pk}"),
        ("admin deployments search flow id", f"{admin_deployments}?q={big.public_id}"),
        ("admin deployment change page", f"{admin_deployments}{one.pk}/change/"),
        ("admin audit entries", admin_audit),
        ("admin audit ?kind__exact=…", f"{admin_audit}?kind__exact=deploy.finished"),
        ("admin flows", "admin:/admin/flows/flow/"),
    ]  # fmt: skip


def timed(call, runs: int) -> tuple[float, int]:
    """Median wall time (ms) of `runs` calls after one warm-up, and the queries of one call."""
    from django.db import connection

    queries = 0

    def count(execute, sql, params, many, context):
        nonlocal queries
        queries += 1
        return execute(sql, params, many, context)

    call()
    with connection.execute_wrapper(count):
        call()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), queries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=0.01, help="1.0 = 1M deployments")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="keep a fill of this scale")
    parser.add_argument(
        "--prune", action="store_true", help="also time a real prune (deletes records)"
    )
    args = parser.parse_args()

    url = os.environ.get("SCALE_BENCH_DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        print("bench/scale.py needs SCALE_BENCH_DATABASE_URL (PostgreSQL, a database of its own)")
        return
    if url.rstrip("/").rsplit("/", 1)[-1].startswith("test"):
        sys.exit("refusing a database named test*: the benchmark replaces its data")
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    os.environ["SCAIFLOW_API_TOKEN"] = TOKEN
    os.environ["SCAIFLOW_DEFAULT_TENANT"] = TENANT

    import django

    django.setup()

    import io

    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment

    from deployments.models import Deployment

    setup_test_environment()  # ALLOWED_HOSTS accepts the test client's host
    call_command("migrate", verbosity=0, interactive=False)
    counts = sizes(args.scale)
    have = Deployment.objects.filter(tenant__slug=TENANT).count()
    start = time.perf_counter()
    if args.reuse and have == counts["deployments"]:
        from flows.models import Flow
        from tenants.models import Tenant

        tenant = Tenant.objects.get(slug=TENANT)
        data = {"tenant": tenant, "big_flow": Flow.objects.get(tenant=tenant, name="Big flow")}
        data.update(counts)
        print("reusing the fill")
    else:
        from django.db import connection

        # A database of its own: emptying the two big tables at once beats deleting by rows.
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE deployments_deployment, tenants_auditentry")
        data = fill(scale=args.scale)
        with connection.cursor() as cursor:
            # What autovacuum has done to a table a year old: the visibility map that lets a
            # count read an index alone. Outside a transaction, so not in fill() (the plan tests
            # fill inside one).
            for table in ("flows_flow", "deployments_deployment", "tenants_auditentry"):
                cursor.execute(f"VACUUM {table}")
        print(f"filled in {time.perf_counter() - start:.1f} s")
    print(
        f"scale {args.scale}: {data['flows']:,} flows, {data['deployments']:,} deployments "
        f"({data['deployments'] // 50:,} of one flow), {data['audit']:,} audit entries; "
        f"median of {args.runs} runs, ms"
    )

    api = Client(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    admin = Client()
    user, _ = get_user_model().objects.get_or_create(
        username="bench", defaults={"is_staff": True, "is_superuser": True}
    )
    admin.force_login(user)

    def get(client, path):
        def call():
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)

        return call

    print(f"{'request':<44} {'ms':>8} {'queries':>8}")
    for label, path in measurements(data):
        client = admin if path.startswith("admin:") else api
        ms, queries = timed(get(client, path.removeprefix("admin:")), args.runs)
        print(f"{label:<44} {ms:>8.1f} {queries:>8}")

    def prune(*options):
        def call():
            call_command(
                "prune_deployments", "--older-than", "30d", *options,
                stdout=io.StringIO(), stderr=io.StringIO(),
            )  # fmt: skip

        return call

    def report(label: str, start: float) -> None:
        print(f"{label:<44} {(time.perf_counter() - start) * 1000:>8.0f}")

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    prune("--dry-run")()
    report("prune_deployments --older-than 30d --dry-run", start)
    if args.prune:
        start = time.perf_counter()
        prune()()
        report("prune_deployments --older-than 30d", start)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    growth = (rss_after - rss_before) / 1024
    print(f"peak RSS {rss_after / 1024:.0f} MiB ({growth:+.0f} MiB during the prunes)")


if __name__ == "__main__":
    main()
