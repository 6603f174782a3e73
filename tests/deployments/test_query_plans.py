"""The unbounded lists read an index, never the whole table, whatever the filter or the depth.

The database is filled (bench/scale.py's fill, at a small scale) and analysed; then each
list's queries, as the request ran them, are explained by PostgreSQL:

- with `enable_seqscan` off, a sequential scan still planned on a big table means no index
  can serve the query at all;
- run (EXPLAIN ANALYZE), no query reads more rows of a big table than it needs: a page reads
  its rows, the capped count at most its cap. A filter without its index (rows read and
  thrown away) or an OFFSET (rows read and skipped) reads in proportion to what it passes
  over and fails this.
"""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bench.scale import fill
from deployments import maintenance
from flows.models import Flow

pytestmark = pytest.mark.postgres

BIG_TABLES = ("deployments_deployment", "tenants_auditentry")
SCALE = 0.01  # 10,000 deployments, 30,000 audit entries


@pytest.fixture
def data(db, settings):
    filled = fill(scale=SCALE)
    settings.SCAIFLOW_DEFAULT_TENANT = filled["tenant"].slug
    return filled


def plan(sql: str, *, analyze: bool = False) -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off" if not analyze else "SELECT 1")
        cursor.execute(f"EXPLAIN ({'ANALYZE, ' if analyze else ''}FORMAT JSON) {sql}")
        found = cursor.fetchone()[0]
        cursor.execute("SET LOCAL enable_seqscan = on")
    return (json.loads(found) if isinstance(found, str) else found)[0]["Plan"]


def nodes(node: dict):
    yield node
    for child in node.get("Plans", []):
        yield from nodes(child)


def big_table_scans(node: dict) -> list[dict]:
    return [n for n in nodes(node) if n.get("Relation Name") in BIG_TABLES]


def rows_read(scan: dict) -> int:
    """Rows a scan node took from its relation: those it passed on and those it dropped."""
    loops = scan.get("Actual Loops", 1)
    return (scan["Actual Rows"] + scan.get("Rows Removed by Filter", 0)) * loops


def list_queries(client, url: str) -> list[str]:
    """The SQL of the request's queries on the big tables."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content
    assert response.json().get("results", True), url
    return [q["sql"] for q in captured if any(t in q["sql"] for t in BIG_TABLES)]


def deep(client, url: str) -> list[str]:
    """`url` at the cursor of the 11th page of 200, 2,000 rows down the list; none when the
    list is shorter."""
    joined = "&" if "?" in url else "?"
    response = client.get(f"{url}{joined}page=10&page_size=200")
    if response.status_code == 404 or not response.json()["next"]:
        return []
    cursor = parse_qs(urlsplit(response.json()["next"]).query)["cursor"][0]
    return [f"{url}{joined}cursor={cursor}"]


URLS = [
    "/api/v1/deployments",
    "/api/v1/deployments?status=failed",
    "/api/v1/deployments?status=publish_failed",
    "/api/v1/audit",
    "/api/v1/audit?kind=deploy.finished",
    "/api/v1/audit?actor=scaikey:user7",
    "/api/v1/audit?target=dep_000000000000000000000100",
]
# A page is 50 rows (and one to know there is a next); a count stops after 1,001. A few more
# are read where rows share the cursor's timestamp.
MOST_ROWS_READ = 1_001 + 10


def flow_urls(data) -> list[str]:
    flow = data["big_flow"].public_id
    return [
        f"/api/v1/flows/{flow}",
        f"/api/v1/flows/{flow}/deployments",
        "/api/v1/flows",
    ]


@pytest.mark.parametrize("url", URLS)
def test_no_list_query_needs_a_sequential_scan(service_client, data, url):
    for query in list_queries(service_client, url):
        scans = [n for n in big_table_scans(plan(query)) if n["Node Type"] == "Seq Scan"]
        assert not scans, query


def test_the_flow_pages_need_no_sequential_scan(service_client, data):
    for url in flow_urls(data):
        for query in list_queries(service_client, url):
            scans = [n for n in big_table_scans(plan(query)) if n["Node Type"] == "Seq Scan"]
            assert not scans, query


@pytest.mark.parametrize("url", URLS)
def test_a_page_reads_only_its_rows_at_any_depth(service_client, data, url):
    for page in [url, *deep(service_client, url)]:
        for query in list_queries(service_client, page):
            read = sum(rows_read(scan) for scan in big_table_scans(plan(query, analyze=True)))
            assert read <= MOST_ROWS_READ, (page, query)


def test_a_flows_pages_read_the_same_whatever_its_history(service_client, data):
    """latest_deployment: one index probe per flow, not a pass over the flow's records."""
    for url in [*flow_urls(data), *deep(service_client, flow_urls(data)[1])]:
        for query in list_queries(service_client, url):
            read = sum(rows_read(scan) for scan in big_table_scans(plan(query, analyze=True)))
            assert read <= MOST_ROWS_READ, (url, query)


def test_the_prune_probes_each_flows_keep_rules_once(data):
    """prune_deployments' rules row per flow is computed once per flow: inlined into the
    records' scan, its index probes would run once per old record instead."""
    before = timezone.now() - timedelta(days=30)
    params = {**maintenance._params(before=before, keep_last=5), "first": 0, "last": 2**62}
    with connection.cursor() as cursor:
        cursor.execute(
            f"EXPLAIN (ANALYZE, FORMAT JSON) {maintenance._sql(maintenance._COUNT_SQL)}", params
        )
        found = cursor.fetchone()[0]
        cursor.execute(maintenance._sql(maintenance._COUNT_SQL), params)
        old, doomed = cursor.fetchone()
    root = (json.loads(found) if isinstance(found, str) else found)[0]["Plan"]
    flows = Flow.objects.count()
    probes = [n for n in nodes(root) if n.get("Parent Relationship") == "SubPlan"]
    assert len(probes) >= 4 and old > 5 * flows and doomed > 0
    assert all(probe["Actual Loops"] <= flows for probe in probes), probes
