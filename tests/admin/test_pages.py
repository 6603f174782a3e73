"""What the flow and deployment pages show, and that no secret reaches the admin's HTML."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tenants.services import scaigrid_credential_set
from tests.admin.conftest import KEY, change_url, make_deployment, make_flow

pytestmark = pytest.mark.django_db


def test_flow_list_has_a_coloured_last_deploy_badge(admin_client, acme_flow):
    make_deployment(acme_flow, status="publish_failed")
    page = admin_client.get("/admin/flows/flow/").content.decode()
    assert 'class="status-badge status-publish_failed"' in page


def test_flow_page_shows_graph_versions_and_manifest(admin_client, acme_flow):
    page = admin_client.get(f"/admin/flows/flow/{acme_flow.pk}/change/").content.decode()
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="flow-graph"' in page
    assert 'data-node-id="answer"' in page
    assert "Version history" in page
    assert 'class="manifest"' in page


def test_flow_page_shows_diagnostics_and_marks_the_node(admin_client, acme):
    broken = {
        "name": "Broken",
        "nodes": [
            {"id": "start", "kind": "trigger", "data": {"type": "chat"}},
            {"id": "lost", "kind": "output", "data": {"value": "{{nowhere.text}}"}},
        ],
        "edges": [],
    }
    flow = make_flow(acme, "Broken", broken)
    page = admin_client.get(f"/admin/flows/flow/{flow.pk}/change/").content.decode()
    assert 'class="diagnostics"' in page
    assert "has-diagnostics" in page


def test_deployment_page_shows_error_fix_timeline_manifest(admin_client, acme_flow):
    deployment = make_deployment(acme_flow, status="publish_failed")
    page = admin_client.get(change_url(deployment)).content.decode()
    assert "do the scaicore_publish_failed fix" in page
    assert 'class="steps-timeline"' in page
    assert "80.0 ms" in page
    assert "kind: Core" in page
    assert "scaikey:alice" in page
    assert 'name="_save"' not in page


def test_the_list_links_open_deployments_whose_id_looks_escaped(admin_client, acme_flow):
    # The admin reads "_25" in a URL as an escaped "%"; its own links must still open the row.
    deployment = make_deployment(acme_flow, id="dep_25" + "a" * 22)
    page = admin_client.get("/admin/deployments/deployment/").content.decode()
    link = re.search(r'href="(/admin/deployments/deployment/dep_[^"]+/change/)"', page)
    assert link is not None
    assert deployment.pk in admin_client.get(link.group(1)).content.decode()


def test_deployment_list_filters(admin_client, acme_flow, globex_flow):
    make_deployment(acme_flow, status="failed", error_code="scaicore_create_failed")
    make_deployment(globex_flow, status="succeeded")
    page = admin_client.get("/admin/deployments/deployment/").content.decode()
    for needle in (
        "status__exact=",
        "error_code=scaicore_create_failed",
        "tenant__id__exact",
        "created_at",
    ):
        assert needle in page


def test_no_secret_in_any_admin_page(admin_client, acme_flow):
    scaigrid_credential_set(tenant=acme_flow.tenant, api_key=KEY, actor="test")
    deployment = make_deployment(acme_flow)
    for url in (
        "/admin/",
        "/admin/tenants/tenant/",
        f"/admin/tenants/tenant/{acme_flow.tenant.pk}/change/",
        "/admin/flows/flow/",
        f"/admin/flows/flow/{acme_flow.pk}/change/",
        "/admin/deployments/deployment/",
        change_url(deployment),
    ):
        assert KEY.encode() not in admin_client.get(url).content, url


def test_change_pages_have_their_action_buttons(ada_client, acme_flow):
    deployment = make_deployment(acme_flow, status="publish_failed")
    pages = {
        f"/admin/flows/flow/{acme_flow.pk}/change/": ["compile", "deploy"],
        change_url(deployment): ["retry_publish", "redeploy"],
        f"/admin/tenants/tenant/{acme_flow.tenant.pk}/change/": ["test_scaigrid_credentials"],
    }
    for url, actions in pages.items():
        page = ada_client.get(url).content.decode()
        for action in actions:
            assert f'name="action" value="{action}"' in page, (url, action)


def test_the_admin_is_scaiflows(admin_client):
    page = admin_client.get("/admin/").content.decode()
    assert "<title>Tenants, flows and deployments | ScaiFlow admin</title>" in page
    assert "ScaiFlow admin</a>" in page and "Django administration" not in page
    login = Client().get("/admin/login/").content.decode()
    assert "ScaiFlow admin" in login and "Django administration" not in login


def test_the_auth_source_reads_as_words(admin_client, acme_flow):
    page = admin_client.get(change_url(make_deployment(acme_flow, auth_source="jwt")))
    text = page.content.decode()
    assert "ScaiKey JWT" in text and ">Jwt<" not in text
