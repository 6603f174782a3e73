"""The deploy through a live server and devstack: real HTTP on both sides (SPEC §3, §4, §5)."""

from __future__ import annotations

import time
import uuid

import pytest
import requests

from deployments.models import Deployment
from tenants.credentials import credential_store
from tests.deployments.conftest import QUEUED_FLOW, SIMPLE_FLOW
from tests.e2e.conftest import Api, error_of

pytestmark = pytest.mark.e2e

CORES = "POST /v1/modules/scaicore/cores"
CORE = "PUT /v1/modules/scaicore/cores/{id}"
PUBLISH = "POST /v1/modules/scaicore/cores/{id}/publish"
UNPUBLISH = "DELETE /v1/modules/scaicore/cores/{id}/publish"


def endpoint_calls(stack, method, prefix):
    return [c for c in stack.calls() if c["method"] == method and c["path"].startswith(prefix)]


def core_calls(stack, method, core_id=""):
    path = "/v1/modules/scaicore/cores" + (f"/{core_id}" if core_id else "")
    return [c for c in endpoint_calls(stack, method, path) if core_id or c["path"] == path]


def test_happy_path_forwards_the_callers_jwt(stack, alice, make_flow):
    flow = make_flow(SIMPLE_FLOW)
    response = alice.deploy(flow)
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["Location"] == f"/api/v1/deployments/{body['id']}"
    assert (body["status"], body["core_action"], body["auth_source"]) == (
        "succeeded",
        "created",
        "jwt",
    )
    (create,) = core_calls(stack, "POST")
    # Only devstack's ScaiKey can sign a token devstack accepts as a JWT for this subject, so
    # this is the caller's own token forwarded as the bearer.
    assert create["auth"] == {"kind": "jwt", "subject": "alice", "tenant": "acme"}
    assert create["idempotency_key"] == body["id"]
    assert create["request_id"] == response.headers["X-Request-ID"]
    core = stack.state()["cores"][body["core_id"]]
    assert core["tenant"] == "acme"
    assert alice.get(f"/deployments/{body['id']}").json()["status"] == "succeeded"


def test_provisioning_then_idempotent_redeploy(stack, alice, make_flow):
    flow = make_flow(QUEUED_FLOW)
    first = alice.deploy(flow)
    assert first.status_code == 201, first.text
    state = stack.state()
    assert "support" in state["scopes"]
    assert "support/review" in state["queues"]
    second = alice.deploy(flow)
    assert second.status_code == 201, second.text
    assert second.json()["core_action"] == "updated"
    assert second.json()["core_id"] == first.json()["core_id"]
    assert stack.count("POST /v1/scopes") == 1
    assert stack.count("POST /v1/scopes/{scope}/queues") == 1
    assert len(core_calls(stack, "POST")) == 1
    assert len(core_calls(stack, "PUT", first.json()["core_id"])) == 1
    assert stack.state()["cores"][first.json()["core_id"]]["version"] == 2


def test_config_mismatch_aborts_before_the_core(stack, alice, make_flow):
    made = requests.post(
        f"{stack.url}/v1/scopes",
        json={"slug": "support", "name": "Someone else's", "config": {"retention_days": 1}},
        headers={"Authorization": f"Bearer {stack.api_key}"},
        timeout=5,
    )
    assert made.status_code == 201, made.text
    flow = make_flow(QUEUED_FLOW)
    detail = error_of(alice.deploy(flow), 502, "scaiqueue_provision_failed")
    assert detail["scope"] == "support"
    assert not core_calls(stack, "POST")
    record = Deployment.objects.get(pk=detail["deployment_id"])
    assert (record.status, record.error_code) == ("failed", "scaiqueue_provision_failed")


def test_scaiqueue_auth_with_a_stored_key_lacking_the_permission(stack, alice, acme, make_flow,
                                                                 settings):  # fmt: skip
    settings.SCAIFLOW_DEPLOY_AUTH = "api_key"
    key = stack.register_key(["scaigrid:deploy"], tenant="acme")
    credential_store().set(tenant=acme, api_key=key, base_url=stack.url, actor="e2e")
    flow = make_flow(QUEUED_FLOW)
    detail = error_of(alice.deploy(flow), 502, "scaiqueue_auth")
    assert "scaiqueue:manage" in detail["message"]
    assert "fix" in detail
    assert not core_calls(stack, "POST")
    (listing,) = endpoint_calls(stack, "GET", "/v1/scopes")
    assert listing["status"] == 403


def test_stored_key_deploys_when_it_may(stack, alice, acme, make_flow, settings):
    settings.SCAIFLOW_DEPLOY_AUTH = "api_key"
    key = stack.register_key(["scaigrid:deploy"], tenant="acme")
    credential_store().set(tenant=acme, api_key=key, base_url=stack.url, actor="e2e")
    response = alice.deploy(make_flow(SIMPLE_FLOW))
    assert response.status_code == 201, response.text
    assert response.json()["auth_source"] == "tenant_key"


def test_verifier_rejection(stack, alice, make_flow):
    stack.fault(
        "POST",
        "/v1/modules/scaicore/cores",
        status=400,
        body={"error": "verifier_error", "message": "verifier error: spec.entry unknown"},
    )
    detail = error_of(alice.deploy(make_flow(SIMPLE_FLOW)), 502, "scaicore_create_failed")
    assert detail["status"] == 400
    assert "verifier error" in detail["message"]
    record = Deployment.objects.get(pk=detail["deployment_id"])
    assert record.status == "failed"
    assert [s["status"] for s in record.steps][-1] == "failed"


def test_an_upstream_that_hangs(stack, alice, make_flow, settings):
    settings.SCAIFLOW_UPSTREAM_CONNECT_TIMEOUT = 1.0
    settings.SCAIFLOW_UPSTREAM_READ_TIMEOUT = 1.0
    stack.fault("POST", "/v1/modules/scaicore/cores", "hang", seconds=30)
    flow = make_flow(SIMPLE_FLOW)
    started = time.monotonic()
    response = alice.deploy(flow)
    elapsed = time.monotonic() - started
    # Far below the 30 s hang: the timeouts ended the wait (with room for a busy machine).
    assert elapsed < 10, elapsed
    detail = error_of(response, 502, "scaicore_create_failed")
    record = Deployment.objects.get(pk=detail["deployment_id"])
    assert (record.status, record.error_code) == ("failed", "scaicore_create_failed")
    assert stack.count(CORES) == 1  # never retried: POST is not idempotent by itself


def test_publish_failure_then_successful_redeploy(stack, alice, make_flow):
    flow = make_flow(SIMPLE_FLOW)
    stack.fault(
        "POST",
        "/v1/modules/scaicore/cores/*/publish",
        status=503,
        body={"error": "unavailable", "message": "catalog down"},
        times=3,  # the client does not retry POSTs, but allow for it
    )
    failed = alice.deploy(flow, {"publish_as_model": True, "group_ids": ["g1"]})
    detail = error_of(failed, 502, "scaicore_publish_failed")
    core_id = detail["core_id"]
    record = Deployment.objects.get(pk=detail["deployment_id"])
    assert (record.status, record.core_id) == ("publish_failed", core_id)
    stack.clear_faults()
    retried = alice.deploy(flow, {"publish_as_model": True, "group_ids": ["g1"]})
    assert retried.status_code == 201, retried.text
    body = retried.json()
    assert (body["core_id"], body["core_action"]) == (core_id, "updated")
    assert body["published_slug"]
    core = stack.state()["cores"][core_id]
    assert core["published"] is True
    assert core["group_ids"] == ["g1"]
    assert len(core_calls(stack, "POST")) == 1


def test_unpublish_on_transition(stack, alice, make_flow):
    flow = make_flow(SIMPLE_FLOW)
    published = alice.deploy(flow, {"publish_as_model": True})
    assert published.status_code == 201, published.text
    core_id = published.json()["core_id"]
    assert stack.state()["cores"][core_id]["published"] is True
    unpublished = alice.deploy(flow, {"publish_as_model": False})
    assert unpublished.status_code == 201, unpublished.text
    assert unpublished.json()["published_slug"] in ("", None)
    assert "unpublish" in [s["name"] for s in unpublished.json()["steps"]]
    assert stack.state()["cores"][core_id]["published"] is False
    assert stack.count(UNPUBLISH) == 1
    again = alice.deploy(flow, {"publish_as_model": False})
    assert again.status_code == 201
    assert stack.count(UNPUBLISH) == 1


def test_core_deleted_upstream_is_created_anew(stack, alice, make_flow):
    flow = make_flow(SIMPLE_FLOW)
    first = alice.deploy(flow).json()
    stack.reset()  # devstack forgets every Core
    second = alice.deploy(flow)
    assert second.status_code == 201, second.text
    body = second.json()
    assert body["core_action"] == "created"
    assert body["core_id"] != first["core_id"]
    (update,) = [c for c in stack.calls() if c["method"] == "PUT"]
    assert update["status"] == 404
    assert body["core_id"] in stack.state()["cores"]


def test_idempotent_replays(stack, alice, make_flow):
    flow = make_flow(SIMPLE_FLOW)
    key = uuid.uuid4().hex
    first = alice.deploy(flow, {"publish_as_model": False}, **{"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    calls_before = len(stack.calls())
    replay = alice.deploy(flow, {"publish_as_model": False}, **{"Idempotency-Key": key})
    assert replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    assert len(stack.calls()) == calls_before
    other = alice.deploy(flow, {"publish_as_model": True}, **{"Idempotency-Key": key})
    error_of(other, 422, "idempotency_key_reused")
    # Another tenant's identical key is its own key.
    bob = Api(alice.base_url.removesuffix("/api/v1"), stack.mint_token(tenant="globex"))
    assert bob.deploy(flow, {}, **{"Idempotency-Key": key}).status_code == 404
    assert Deployment.objects.filter(flow=flow).count() == 1


def test_legacy_dev_deploy(stack, live_server, settings):
    settings.SCAIGRID_API_KEY = stack.api_key
    response = requests.post(
        f"{live_server.url}/api/v1/dev/deploy",
        json={"content": SIMPLE_FLOW, "publish_as_model": True},
        headers={"Authorization": f"Bearer {settings.SCAIFLOW_API_TOKEN}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert response.headers["Deprecation"].startswith("@")
    assert response.headers["Sunset"].endswith("GMT")
    assert 'rel="successor-version"' in response.headers["Link"]
    (create,) = core_calls(stack, "POST")
    key = stack.api_key
    assert create["auth"] == {"kind": "api_key", "subject": f"{key[:4]}…{key[-4:]}", "tenant": None}
    core = stack.state()["cores"][body["core_id"]]
    assert core["published"] is True
    record = Deployment.objects.get(pk=body["deployment_id"])
    assert (record.flow, record.tenant.slug, record.status) == (None, "default", "succeeded")
