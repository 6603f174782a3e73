"""POST /api/v1/flows/{id}/compile: a dry run on the stored content."""

import copy

import pytest
import yaml

from flows.services import flow_create, flow_update
from tenants.models import Tenant
from tests.flows.test_diff import BASE


@pytest.fixture
def acme(db):
    return Tenant.objects.get_or_create(slug="acme")[0]


def compile_(client, flow, body=None):
    return client.post(f"/api/v1/flows/{flow.public_id}/compile", body or {}, format="json")


def test_a_good_flow_compiles_with_its_labels(acme_user, acme):
    flow = flow_create(tenant=acme, name="Echo", content=copy.deepcopy(BASE), actor="t")
    response = compile_(acme_user, flow)
    assert response.status_code == 200
    body = response.json()
    assert (body["ok"], body["messages"]) == (True, [])
    labels = yaml.safe_load(body["manifest"])["metadata"]["labels"]
    assert labels == {
        "scaiflow/tenant": "acme",
        "scaiflow/flow-id": flow.public_id,
        "scaiflow/flow-version": "1",
    }
    assert body["ir"]["blocks"][0]["id"] == "start"


def test_a_bad_flow_is_200_with_diagnostics(acme_user, acme):
    content = copy.deepcopy(BASE)
    content["nodes"][1]["data"]["role"] = "undeclared"
    flow = flow_create(tenant=acme, name="Broken", content=content, actor="t")
    body = compile_(acme_user, flow).json()
    assert (body["ok"], body["manifest"], body["ir"]) == (False, None, None)
    assert [m["code"] for m in body["messages"]] == ["undeclared_llm_role"]
    assert body["messages"][0]["node_id"] == "answer"


def test_an_older_version(acme_user, acme):
    flow = flow_create(tenant=acme, name="Echo", content=copy.deepcopy(BASE), actor="t")
    flow_update(flow=flow, actor="t", content={"name": "broken", "nodes": [], "edges": []})
    assert compile_(acme_user, flow).json()["ok"] is False
    assert compile_(acme_user, flow, {"version": 1}).json()["ok"] is True
    assert compile_(acme_user, flow, {"version": 7}).status_code == 404


def test_content_without_a_name_compiles_under_the_flows_name(acme_user, acme):
    content = {key: value for key, value in BASE.items() if key != "name"}
    flow = flow_create(tenant=acme, name="Named by the API", content=content, actor="t")
    body = compile_(acme_user, flow).json()
    assert body["ok"], body["messages"]
    assert yaml.safe_load(body["manifest"])["metadata"]["name"] == "Named by the API"


def test_another_tenants_flow_is_404(globex_user, acme):
    flow = flow_create(tenant=acme, name="Echo", content=copy.deepcopy(BASE), actor="t")
    response = compile_(globex_user, flow)
    assert (response.status_code, response.json()["detail"]["error"]) == (404, "not_found")
