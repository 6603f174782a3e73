"""What a deploy costs the backend: compiles, queries, writes — without losing its guarantees."""

from __future__ import annotations

import copy
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deployments.models import Deployment
from flows import services as flow_services
from flows.services import flow_update
from tests.deployments.conftest import CORES, SIMPLE_FLOW, grid_accepts

# Authentication (the tenant), the flow, closing abandoned records, the pending record (begin,
# insert, commit) and its audit entry, the previous deployment, the version, one write per
# step (read, compile, credentials, core), the tenant's credential, the closing write and its
# audit entry.
DEPLOY_QUERIES = 15


def deploy(client, flow):
    response = client.post(f"/api/v1/flows/{flow.public_id}/deploy", {}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def big_flow(size: int) -> dict:
    content = copy.deepcopy(SIMPLE_FLOW)
    nodes, edges = content["nodes"], content["edges"]
    reply = nodes.pop()
    edges.pop()
    previous = "answer"
    for number in range(size):
        node_id = f"step{number}"
        nodes.append({"id": node_id, "kind": "llm",
                      "data": {"role": "main", "prompt": f"{{{{{previous}.text}}}}"}})  # fmt: skip
        edges.append({"source": previous, "target": node_id})
        previous = node_id
    reply["data"]["value"] = f"{{{{{previous}.text}}}}"
    nodes.append(reply)
    edges.append({"source": previous, "target": "reply"})
    return content


@pytest.fixture
def compiles(monkeypatch):
    count = [0]
    real = flow_services.compile_flow

    def counted(*args, **kwargs):
        count[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(flow_services, "compile_flow", counted)
    return count


def test_a_redeploy_of_the_same_version_does_not_compile_again(acme_user, flow, upstream, compiles):
    grid_accepts(upstream)
    first = deploy(acme_user, flow)
    second = deploy(acme_user, flow)
    assert compiles[0] == 1
    assert second["manifest_sha256"] == first["manifest_sha256"]
    records = Deployment.objects.filter(flow=flow)
    assert len({record.manifest for record in records}) == 1


def test_a_new_version_compiles_and_deploys_its_own_manifest(acme_user, flow, upstream, compiles):
    grid_accepts(upstream)
    first = deploy(acme_user, flow)
    content = copy.deepcopy(SIMPLE_FLOW)
    content["nodes"][1]["data"]["prompt"] = "Changed: {{start.message}}"
    flow = flow_update(flow=flow, actor="test", content=content)
    second = deploy(acme_user, flow)
    assert compiles[0] == 2
    assert second["manifest_sha256"] != first["manifest_sha256"]
    put = [c for c in upstream.calls if c.request.method == "PUT"][-1]
    assert b"Changed: " in put.request.body


def test_queries_per_deploy_are_few_and_do_not_grow_with_the_flow(acme_user, make_flow, upstream):
    grid_accepts(upstream)
    counts = []
    for content in (SIMPLE_FLOW, big_flow(150)):
        flow = make_flow(content)
        deploy(acme_user, flow)  # the first deploy creates the Core
        with CaptureQueriesContext(connection) as captured:
            deploy(acme_user, flow)
        counts.append(len(captured))
    assert counts == [DEPLOY_QUERIES, DEPLOY_QUERIES]


def test_each_step_is_committed_with_what_it_found_before_the_next_ends(acme_user, flow, upstream):
    """While ScaiGrid is being asked for the Core, the record already holds the steps before
    it and what they found (a crash there loses nothing)."""
    seen = {}

    def create(request):
        seen["record"] = Deployment.objects.get(flow=flow)
        return 201, {}, json.dumps({"id": "core_1"})

    upstream.add_callback("POST", CORES, callback=create, content_type="application/json")
    deploy(acme_user, flow)
    record = seen["record"]
    assert record.status == "pending"
    assert [step["name"] for step in record.steps] == ["read", "compile", "credentials"]
    assert (record.flow_version, record.auth_source) == (1, "jwt")
    assert record.manifest.startswith("apiVersion: scaicore/v1")
    assert len(record.manifest_sha256) == 64
    assert record.core_id == ""
    final = Deployment.objects.get(flow=flow)
    assert (final.core_id, final.core_action, final.status) == ("core_1", "created", "succeeded")
