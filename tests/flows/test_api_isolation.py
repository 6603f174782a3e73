"""Tenant isolation: another tenant's flow is not found, on every flow endpoint."""

from __future__ import annotations

import pytest

from flows.models import Flow, FlowVersion
from tests.flows.conftest import graph_variant

FLOWS = "/api/v1/flows"

BODY = {"name": "Hijacked", "content": {"evil": True}}
ENDPOINTS = [
    ("get", "{flow}"),
    ("put", "{flow}"),
    ("patch", "{flow}"),
    ("delete", "{flow}"),
    ("get", "{flow}/versions"),
    ("get", "{flow}/versions/1"),
]


@pytest.fixture
def acme_flow(make_flow):
    return make_flow(name="Acme secret", content=graph_variant("acme"))


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize("outsider", ["globex_user", "service_client"])
def test_another_tenants_flow_is_not_found(request, acme_flow, method, path, outsider):
    client = request.getfixturevalue(outsider)
    url = f"{FLOWS}/" + path.format(flow=acme_flow.public_id)
    response = getattr(client, method)(url, BODY, format="json", HTTP_IF_MATCH="1")
    assert response.status_code == 404, response.content
    assert response.json()["detail"]["error"] == "not_found"
    # Nothing about it changed.
    flow = Flow.objects.get(pk=acme_flow.pk)
    assert (flow.name, flow.version) == ("Acme secret", 1)
    assert FlowVersion.objects.filter(flow=flow).count() == 1


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_the_owner_reaches_every_endpoint(acme_user, acme_flow, method, path):
    url = f"{FLOWS}/" + path.format(flow=acme_flow.public_id)
    response = getattr(acme_user, method)(url, BODY, format="json", HTTP_IF_MATCH="1")
    assert response.status_code in (200, 204), response.content


def test_the_list_shows_only_the_callers_tenant(
    acme_user, globex_user, acme_flow, make_flow, globex
):
    make_flow(tenant=globex, name="Globex flow")
    assert [f["name"] for f in acme_user.get(FLOWS).json()["results"]] == ["Acme secret"]
    assert [f["name"] for f in globex_user.get(FLOWS).json()["results"]] == ["Globex flow"]
    assert globex_user.get(FLOWS, {"search": "Acme"}).json()["count"] == 0


def test_flows_of_two_tenants_never_share_a_storage_key(make_flow, globex, graph):
    acme_flow = make_flow(content=graph)
    globex_flow = make_flow(tenant=globex, content=graph)
    acme_key = acme_flow.versions.get().storage_key
    globex_key = globex_flow.versions.get().storage_key
    assert acme_key.startswith(f"acme/{acme_flow.public_id}/")
    assert globex_key.startswith(f"globex/{globex_flow.public_id}/")
    assert acme_flow.content_sha256 == globex_flow.content_sha256
