"""A staff tenant admin sees and changes only its tenant's rows; a superuser sees all."""

from __future__ import annotations

import pytest

from tenants.models import Role, TenantMembership
from tests.admin.conftest import change_url, make_deployment

pytestmark = pytest.mark.django_db


def test_lists_hold_only_the_own_tenant(ada_client, acme_flow, globex_flow):
    make_deployment(acme_flow)
    make_deployment(globex_flow)

    tenants = ada_client.get("/admin/tenants/tenant/").content.decode()
    flows = ada_client.get("/admin/flows/flow/").content.decode()
    deployments = ada_client.get("/admin/deployments/deployment/").content.decode()

    assert "acme" in tenants and "globex" not in tenants
    assert "Acme echo" in flows and "Globex secret plan" not in flows
    assert "Acme echo" in deployments and "Globex secret plan" not in deployments


def test_the_tenant_filters_offer_only_the_own_tenant(ada_client, acme_flow, globex_flow):
    make_deployment(acme_flow)
    make_deployment(globex_flow)
    for url in ("/admin/flows/flow/", "/admin/deployments/deployment/"):
        page = ada_client.get(url).content.decode()
        assert f"tenant__id__exact={globex_flow.tenant.pk}" not in page


def test_guessed_change_urls_of_another_tenant_are_not_found(ada_client, globex_flow):
    other = make_deployment(globex_flow)
    urls = [
        f"/admin/tenants/tenant/{globex_flow.tenant.pk}/change/",
        f"/admin/flows/flow/{globex_flow.pk}/change/",
        change_url(other),
    ]
    for url in urls:
        response = ada_client.get(url)
        # Django's admin answers an unknown id with a redirect to the index and a message.
        assert response.status_code in (302, 404), url
        if response.status_code == 302:
            assert response["Location"] == "/admin/"
        assert b"Globex" not in response.content


def test_a_filter_in_the_url_does_not_widen_the_scope(ada_client, acme_flow, globex_flow):
    make_deployment(globex_flow)
    page = ada_client.get(
        f"/admin/deployments/deployment/?tenant__id__exact={globex_flow.tenant.pk}"
    ).content.decode()
    assert "Globex secret plan" not in page


def test_own_rows_open(ada_client, acme_flow):
    own = make_deployment(acme_flow)
    assert ada_client.get(f"/admin/tenants/tenant/{acme_flow.tenant.pk}/change/").status_code == 200
    assert ada_client.get(f"/admin/flows/flow/{acme_flow.pk}/change/").status_code == 200
    assert ada_client.get(change_url(own)).status_code == 200


def test_autocomplete_offers_only_the_own_tenant(ada_client, acme, globex):
    response = ada_client.get(
        "/admin/autocomplete/",
        {
            "app_label": "tenants",
            "model_name": "tenantmembership",
            "field_name": "tenant",
            "term": "",
        },
    )
    assert response.status_code == 200
    ids = {row["id"] for row in response.json()["results"]}
    assert ids == {str(acme.pk)}


def test_foreign_key_choices_are_scoped(ada_client, acme, globex):
    page = ada_client.get("/admin/tenants/tenantmembership/add/").content.decode()
    assert "globex" not in page.lower()


def test_superuser_sees_every_tenant(admin_client, acme_flow, globex_flow):
    make_deployment(globex_flow)
    assert b"Globex secret plan" in admin_client.get("/admin/flows/flow/").content
    assert b"Globex secret plan" in admin_client.get("/admin/deployments/deployment/").content


def test_the_index_links_to_failed_deploys(ada_client):
    page = ada_client.get("/admin/").content.decode()
    assert "/admin/deployments/deployment/?status__in=failed,publish_failed" in page


def test_the_failed_deploys_link_lists_failures_only(admin_client, acme_flow):
    make_deployment(acme_flow, status="failed", flow_name="broken-one")
    make_deployment(acme_flow, status="succeeded", flow_name="fine-one")
    page = admin_client.get(
        "/admin/deployments/deployment/?status__in=failed,publish_failed"
    ).content.decode()
    assert "broken-one" in page and "fine-one" not in page


def test_the_tenant_filter_offers_every_tenant_the_user_is_a_member_of(
    ada, ada_client, acme_flow, globex_flow
):
    # Tenant admin of acme and member of globex: the lists hold rows of both, so does the filter.
    TenantMembership.objects.create(user=ada, tenant=globex_flow.tenant, role=Role.MEMBER)
    for url in (
        "/admin/flows/flow/",
        "/admin/deployments/deployment/",
        "/admin/tenants/auditentry/",
    ):
        page = ada_client.get(url).content.decode()
        for tenant in (acme_flow.tenant, globex_flow.tenant):
            assert f"?tenant__id__exact={tenant.pk}" in page, (url, tenant.slug)


def test_a_member_gets_the_tenant_filter_too(viewer_client, acme_flow, globex_flow):
    for url in (
        "/admin/flows/flow/",
        "/admin/deployments/deployment/",
        "/admin/tenants/auditentry/",
    ):
        page = viewer_client.get(url).content.decode()
        assert f"?tenant__id__exact={acme_flow.tenant.pk}" in page, url
        assert f"tenant__id__exact={globex_flow.tenant.pk}" not in page, url
