"""Rollback through a live server and devstack: the Core ends up with the old version's manifest."""

from __future__ import annotations

import pytest

from flows.services import flow_update
from tests.deployments.conftest import SIMPLE_FLOW
from tests.e2e.conftest import error_of

pytestmark = pytest.mark.e2e


def test_rollback_puts_the_old_manifest_back_on_the_same_core(stack, alice, make_flow):
    flow = make_flow(SIMPLE_FLOW)
    first = alice.deploy(flow, {"publish_as_model": True}).json()
    core_id = first["core_id"]
    v1_manifest = stack.state()["cores"][core_id]["manifest"]
    flow_update(flow=flow, actor="e2e", content={**SIMPLE_FLOW, "name": "Echo bot v2"})
    second = alice.deploy(flow, {"publish_as_model": False}).json()
    assert second["core_id"] == core_id
    assert stack.state()["cores"][core_id]["manifest"] != v1_manifest

    response = alice.post(f"/deployments/{first['id']}/rollback")
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["rollback_of"], body["flow_version"], body["core_id"]) == (first["id"], 1, core_id)
    core = stack.state()["cores"][core_id]
    assert core["manifest"] == v1_manifest
    assert core["published"] is True  # publish settings rolled back too


def test_rollback_failure_is_recorded(stack, alice, make_flow):
    flow = make_flow(SIMPLE_FLOW)
    first = alice.deploy(flow).json()
    stack.fault("PUT", "/v1/modules/scaicore/cores/*", status=503, times=10)
    detail = error_of(alice.post(f"/deployments/{first['id']}/rollback"), 502,
                      "scaicore_create_failed")  # fmt: skip
    record = alice.get(f"/deployments/{detail['deployment_id']}").json()
    assert (record["status"], record["rollback_of"]) == ("failed", first["id"])
    stack.clear_faults()
    assert alice.post(f"/deployments/{first['id']}/rollback").status_code == 201
