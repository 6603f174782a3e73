"""One deploy per flow at a time, under real concurrency (PostgreSQL only, see tests/conftest.py).

SQLite serialises writers on one file lock, so it cannot show the partial unique constraint
holding between concurrent transactions; this runs where CI runs the suite on PostgreSQL.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from deployments.models import Deployment
from tests.deployments.conftest import SIMPLE_FLOW
from tests.e2e.conftest import Api

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

ATTEMPTS = 20


def test_simultaneous_deploys_of_one_flow(stack, live_server, make_flow):
    flow = make_flow(SIMPLE_FLOW)
    # The winner's create takes a while upstream, so every other attempt overlaps it.
    stack.fault("POST", "/v1/modules/scaicore/cores", "slow", seconds=2)
    token = stack.mint_token(tenant="acme", sub="alice")
    start = threading.Barrier(ATTEMPTS)

    def attempt(_):
        api = Api(live_server.url, token)
        start.wait()
        response = api.deploy(flow)
        return response.status_code, response.json()

    with ThreadPoolExecutor(max_workers=ATTEMPTS) as pool:
        results = list(pool.map(attempt, range(ATTEMPTS)))

    statuses = Counter(status for status, _ in results)
    assert statuses == {201: 1, 409: ATTEMPTS - 1}, results
    refused = [body["detail"] for status, body in results if status == 409]
    assert {detail["error"] for detail in refused} == {"deploy_in_progress"}
    assert stack.count("POST /v1/modules/scaicore/cores") == 1
    records = Deployment.objects.filter(flow=flow)
    assert records.count() == ATTEMPTS
    assert not records.filter(status="pending").exists()
    assert Counter(records.values_list("status", flat=True)) == {
        "succeeded": 1,
        "failed": ATTEMPTS - 1,
    }
    assert set(records.filter(status="failed").values_list("error_code", flat=True)) == {
        "deploy_in_progress"
    }
