"""Upstream faults, one test per fault and step, through devstack's fault injection.

For each step of a deploy (ScaiQueue provisioning, Core create, Core update, publish,
unpublish, ScaiVault credentials) and for the live events, each fault: the documented error,
the record closed in the right state naming the failed step, no pending record left, and the
next deploy (or poll) after the fault clears succeeds. Timeouts are short (FAULT_TIMEOUT) so
"slow" and "hang" cost about a second each.

A diagonal of the matrix (one fault per step) runs in `make test`; the rest is marked
`reliability`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from rest_framework.test import APIClient

from deployments.models import Deployment
from flows.services import flow_create
from tenants.models import Tenant
from tests.deployments.conftest import QUEUED_FLOW, SIMPLE_FLOW
from tests.reliability.conftest import FAULT_TIMEOUT

# Longer than FAULT_TIMEOUT by far; devstack lets them go when the test clears its faults.
LONG = 30

FAULTS: dict[str, dict[str, Any] | None] = {
    "refused": None,  # see the `refuse` fixture
    "slow": {"action": "slow", "seconds": LONG},
    "hang": {"action": "hang", "seconds": LONG},
    "500": {"action": "status", "status": 500},
    "502": {"action": "status", "status": 502},
    "503": {"action": "status", "status": 503},
    "html": {
        "action": "status",
        "status": 200,
        "body": "<!doctype html><html><body><h1>Sign in to the proxy</h1></body></html>",
        "content_type": "text/html; charset=utf-8",
    },
    "truncated": {
        "action": "status",
        "status": 200,
        "body": '{"id": "core_0123", "slug": "ech',
        "content_type": "application/json",
    },
    "missing_field": {"action": "status", "status": 200, "body": {"ok": True}},
    "race": {"action": "race", "status": 409},
    "dropped": {"action": "drop"},  # closed without an answer, after the request was sent
}
# The upstream status a failure reports: none when no answer came.
UPSTREAM_STATUS = {"refused": None, "slow": None, "hang": None, "500": 500, "502": 502,
                   "503": 503, "html": 200, "truncated": 200, "missing_field": 200,
                   "race": 409, "dropped": None}  # fmt: skip


@dataclass(frozen=True)
class Step:
    """One faulted upstream call and what a fault there must lead to."""

    method: str
    path: str
    code: str  # the documented error
    record_step: str  # the step named failed on the record
    record_status: str = "failed"
    # Faults after which the deploy rightly succeeds: the answer's body is not needed (200 means
    # done) or a lost create race is what find-or-create is for.
    succeeds: frozenset[str] = frozenset()


STEPS = {
    "provisioning": Step("POST", "/v1/scopes", "scaiqueue_provision_failed", "provision",
                         succeeds=frozenset({"race"})),
    "create": Step("POST", "/v1/modules/scaicore/cores", "scaicore_create_failed", "core"),
    "update": Step("PUT", "/v1/modules/scaicore/cores/*", "scaicore_create_failed", "core"),
    "publish": Step("POST", "/v1/modules/scaicore/cores/*/publish", "scaicore_publish_failed",
                    "publish", record_status="publish_failed"),
    "unpublish": Step("DELETE", "/v1/modules/scaicore/cores/*/publish",
                      "scaicore_unpublish_failed", "unpublish",
                      succeeds=frozenset({"html", "truncated", "missing_field"})),
    "vault": Step("GET", "/v1/secrets/*", "scaivault_unavailable", "credentials"),
    "events": Step("GET", "/v1/modules/scaicore/events", "scaicore_events_failed", ""),
}  # fmt: skip

# Runs in `make test`: one fault per step, all faults but three covered.
FAST = {("provisioning", "503"), ("create", "refused"), ("update", "hang"),
        ("publish", "truncated"), ("unpublish", "race"), ("vault", "html"),
        ("events", "missing_field")}  # fmt: skip

CASES = [
    pytest.param(step, fault, id=f"{step}-{fault}",
                 marks=() if (step, fault) in FAST else pytest.mark.reliability)
    for step in STEPS for fault in FAULTS
]  # fmt: skip


@pytest.fixture
def faulty(devstack_settings, settings, db):
    settings.SCAIFLOW_UPSTREAM_CONNECT_TIMEOUT = FAULT_TIMEOUT
    settings.SCAIFLOW_UPSTREAM_READ_TIMEOUT = FAULT_TIMEOUT
    settings.SCAIFLOW_DEPLOY_RATE = "1000/min"
    settings.SCAIFLOW_DEPLOY_TENANT_RATE = "1000/min"
    # Every poll asks upstream: what is measured is the fault, not the cache.
    settings.SCAIFLOW_EVENTS_CACHE_SECONDS = 0
    return devstack_settings


def _client(stack) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {stack.mint_token(tenant='acme')}")
    return client


def _flow(content: dict[str, Any], **config: Any):
    content = copy.deepcopy(content)
    content["config"].update(config)
    tenant = Tenant.objects.get_or_create(slug="acme")[0]
    return flow_create(tenant=tenant, name=content["name"], content=content, actor="test")


def _deploy(client: APIClient, flow, body: dict[str, Any] | None = None):
    return client.post(f"/api/v1/flows/{flow.public_id}/deploy", body or {}, format="json")


def _prepare(step: str, stack, settings, client: APIClient):
    """Set the stage before the fault; returns the call that goes through the faulted step."""
    if step == "provisioning":
        flow = _flow(QUEUED_FLOW)
        return lambda: _deploy(client, flow)
    if step == "vault":
        settings.SCAIVAULT_URL = stack.url
        settings.SCAIVAULT_TOKEN = stack.vault_token
        settings.SCAIFLOW_DEPLOY_AUTH = "api_key"
        secret = {"data": {"api_key": stack.api_key, "base_url": stack.url}}
        requests.put(
            f"{stack.url}/v1/secrets/scaiflow/tenants/acme/scaigrid",
            json=secret,
            headers={"Authorization": f"Bearer {stack.vault_token}"},
            timeout=30,
        ).raise_for_status()
    publish = step in ("publish", "unpublish")
    flow = _flow(SIMPLE_FLOW, publish_as_model=publish)
    if step in ("update", "unpublish", "events"):
        first = _deploy(client, flow)
        assert first.status_code == 201, first.content
    if step == "unpublish":
        return lambda: _deploy(client, flow, {"publish_as_model": False})
    if step == "events":
        return lambda: client.get("/api/v1/scaicore/events", {"flow_id": flow.public_id})
    return lambda: _deploy(client, flow)


@pytest.mark.parametrize(("step", "fault"), CASES)
def test_upstream_fault(step, fault, faulty, settings, refuse):
    stack = faulty
    spec = STEPS[step]
    client = _client(stack)
    attempt = _prepare(step, stack, settings, client)
    if FAULTS[fault] is None:
        refuse(spec.method, spec.path)
    else:
        stack.fault(spec.method, spec.path, **FAULTS[fault])

    response = attempt()

    hits = sum(f["hits"] for f in stack.state()["faults"])
    assert fault == "refused" or hits, "the fault never applied: the step was not reached"
    if fault in spec.succeeds:
        assert response.status_code in (200, 201), response.content
    else:
        assert response.status_code == 502, response.content
        detail = response.json()["detail"]
        assert detail["error"] == spec.code, detail
        assert detail["message"] and detail["fix"], detail
        if step in ("create", "update"):
            assert detail["status"] == UPSTREAM_STATUS[fault], detail
        if step == "events":
            assert detail["status"] == UPSTREAM_STATUS[fault], detail
        else:
            record = Deployment.objects.get(pk=detail["deployment_id"])
            assert record.status == spec.record_status
            assert record.error_code == spec.code
            assert record.finished_at is not None
            failed = [s["name"] for s in record.steps if s["status"] != "succeeded"]
            assert failed == [spec.record_step], record.steps
            assert record.steps[-1]["name"] == spec.record_step
            if step in ("publish", "unpublish"):
                assert record.core_id and detail["core_id"] == record.core_id
    assert not Deployment.objects.filter(status="pending").exists()

    # The fault clears: the next attempt goes through.
    stack.clear_faults()
    refuse.clear()
    again = attempt()
    assert again.status_code in (200, 201), again.content
    if step == "events":
        assert again.json()["errors"] == []
    else:
        assert again.json()["status"] == "succeeded"
    assert not Deployment.objects.filter(status="pending").exists()
