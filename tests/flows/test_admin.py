"""The flows admin shows flows and their versions and changes nothing."""

from __future__ import annotations

from flows.services import flow_update
from tests.flows.conftest import graph_variant


def test_the_flow_list_shows_name_tenant_and_version(admin_client, make_flow):
    make_flow(name="Support triage")
    response = admin_client.get("/admin/flows/flow/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Support triage" in page
    assert "acme" in page


def test_a_flow_page_lists_its_versions_read_only(admin_client, make_flow):
    flow = make_flow(name="Support triage")
    flow_update(flow=flow, actor="scaikey:bob", content=graph_variant("2"))
    response = admin_client.get(f"/admin/flows/flow/{flow.pk}/change/")
    assert response.status_code == 200
    page = response.content.decode()
    assert flow.public_id in page
    assert "scaikey:bob" in page
    assert 'name="_save"' not in page


def test_the_admin_cannot_add_or_delete_flows(admin_client, make_flow):
    flow = make_flow()
    assert admin_client.get("/admin/flows/flow/add/").status_code == 403
    assert admin_client.post(f"/admin/flows/flow/{flow.pk}/delete/").status_code == 403
