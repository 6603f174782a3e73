"""Live events end to end: deploy a flow to devstack's ScaiGrid, then poll its events."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.deployments.conftest import SIMPLE_FLOW

EVENTS = "GET /v1/modules/scaicore/events"


def _client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def deployed(db, devstack_settings):
    client = _client(devstack_settings.mint_token("acme", "alice"))
    created = client.post("/api/v1/flows", {"name": "Echo", "content": SIMPLE_FLOW}, format="json")
    assert created.status_code == 201, created.content
    flow_id = created.json()["id"]
    deployed = client.post(f"/api/v1/flows/{flow_id}/deploy", {}, format="json")
    assert deployed.status_code == 201, deployed.content
    return client, flow_id, deployed.json()["core_id"]


def test_polling_follows_a_cores_runs(settings, devstack_settings, deployed):
    settings.SCAIFLOW_EVENTS_CACHE_SECONDS = 0
    client, flow_id, core_id = deployed

    first = client.get("/api/v1/scaicore/events", {"flow_id": flow_id})

    assert first.status_code == 200, first.content
    body = first.json()
    types = [e["type"] for e in body["events"]]
    assert types[0] == "run.started" and types[-1] == "run.finished"
    assert {e["core_id"] for e in body["events"]} == {core_id}
    assert body["errors"] == []

    quiet = client.get("/api/v1/scaicore/events", {"flow_id": flow_id, "since": body["cursor"]})
    assert quiet.json()["events"] == []

    devstack_settings.run_core(core_id)
    later = client.get("/api/v1/scaicore/events", {"flow_id": flow_id, "since": body["cursor"]})
    assert [e["type"] for e in later.json()["events"]] == types
    assert devstack_settings.count(EVENTS) == 3


def test_identical_polls_reach_devstack_once_per_window(devstack_settings, deployed):
    client, flow_id, _ = deployed
    for _ in range(5):
        assert client.get("/api/v1/scaicore/events", {"flow_id": flow_id}).status_code == 200
    assert devstack_settings.count(EVENTS) == 1


def test_a_token_without_the_events_permission_gets_502(devstack_settings, deployed):
    _, flow_id, _ = deployed
    token = devstack_settings.mint_token("acme", "bob", scopes=["scaigrid:deploy"])

    response = _client(token).get("/api/v1/scaicore/events", {"flow_id": flow_id})

    assert response.status_code == 502
    assert response.json()["detail"]["error"] == "scaicore_events_failed"
    assert response.json()["detail"]["status"] == 403
