"""Scale-out (SPEC §10): two gunicorn servers on different ports share PostgreSQL and Redis.

Fifty concurrent deploys of one flow, spread evenly over both servers: exactly one reaches
ScaiGrid's create, 49 are refused with 409 `deploy_in_progress`, and all fifty are recorded.
devstack holds the one create (a `slow` fault) until the 49 refusals are in, then releases it:
the overlap is certain, not a matter of timing. Then the events cache: a poll through one
server fills it, the same poll through the other is answered from it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.deployments.conftest import SIMPLE_FLOW
from tests.reliability.conftest import require_postgres_and_redis

pytestmark = [pytest.mark.reliability, pytest.mark.postgres]

ATTEMPTS = 50
CREATE = "POST /v1/modules/scaicore/cores"
EVENTS = "GET /v1/modules/scaicore/events"


def test_fifty_deploys_across_two_servers(app_servers, devstack, server_logs):
    require_postgres_and_redis()
    app_servers.env["SCAIFLOW_EVENTS_CACHE_SECONDS"] = "60"
    servers = [app_servers.start(threads=32), app_servers.start(threads=32)]
    token = devstack.mint_token(tenant="acme")
    auth = {"Authorization": f"Bearer {token}"}
    created = requests.post(
        f"{servers[0].url}/api/v1/flows",
        json={"name": "Scale", "content": SIMPLE_FLOW},
        headers=auth,
        timeout=30,
    )
    assert created.status_code == 201, created.text
    flow_id = created.json()["id"]
    hold = devstack.fault("POST", "/v1/modules/scaicore/cores", "slow", seconds=300)

    start = threading.Barrier(ATTEMPTS)
    answered = Counter()
    lock = threading.Lock()

    def attempt(i: int) -> tuple[int, int, dict]:
        server = servers[i % 2]
        start.wait()
        response = requests.post(
            f"{server.url}/api/v1/flows/{flow_id}/deploy", json={}, headers=auth, timeout=600
        )
        with lock:
            answered[response.status_code] += 1
        return i % 2, response.status_code, response.json()

    with ThreadPoolExecutor(max_workers=ATTEMPTS) as pool:
        futures = [pool.submit(attempt, i) for i in range(ATTEMPTS)]
        # Every attempt but the one holding the create answers; then the create may go on.
        deadline = time.monotonic() + 300
        while sum(answered.values()) < ATTEMPTS - 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        devstack.release_fault(hold["id"])
        results = [future.result() for future in futures]

    statuses = Counter(status for _, status, _ in results)
    assert statuses == {201: 1, 409: ATTEMPTS - 1}, (statuses, server_logs())
    assert Counter(server for server, _, _ in results) == {0: 25, 1: 25}
    refused_by = {server for server, status, _ in results if status == 409}
    assert refused_by == {0, 1}, "both servers must have refused deploys"
    (winner,) = [body for _, status, body in results if status == 201]
    refusals = [body["detail"] for _, status, body in results if status == 409]
    assert {(d["error"], d["deployment_id"]) for d in refusals} == {
        ("deploy_in_progress", winner["id"])
    }
    assert devstack.count(CREATE) == 1

    listed = requests.get(
        f"{servers[1].url}/api/v1/flows/{flow_id}/deployments",
        params={"page_size": 100},
        headers=auth,
        timeout=30,
    ).json()
    assert listed["count"] == ATTEMPTS
    records = Counter((r["status"], (r["error"] or {}).get("error")) for r in listed["results"])
    assert records == {("succeeded", None): 1, ("failed", "deploy_in_progress"): ATTEMPTS - 1}

    # The events cache is shared: the second server answers from what the first stored.
    polls = [
        requests.get(
            f"{server.url}/api/v1/scaicore/events",
            params={"flow_id": flow_id},
            headers=auth,
            timeout=30,
        )
        for server in servers
    ]
    assert [p.status_code for p in polls] == [200, 200], [p.text for p in polls]
    assert polls[0].json() == polls[1].json()
    assert polls[0].json()["events"], "the deployed Core's run should have produced events"
    assert devstack.count(EVENTS) == 1
