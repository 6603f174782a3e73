"""The tenant admin: credential status, and the write-only form that sets or clears the key."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from tenants.credentials import tenant_key_get
from tenants.models import Role, Tenant, TenantCredential, TenantMembership
from tenants.services import scaigrid_credential_set
from tests.tenants.conftest import CANARY, OTHER_KEY


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-123")


@pytest.fixture
def admin_client(superuser) -> Client:
    client = Client()
    client.force_login(superuser)
    return client


def change_url(tenant) -> str:
    return f"/admin/tenants/tenant/{tenant.pk}/change/"


def form(tenant, **fields) -> dict:
    return {"slug": tenant.slug, "name": tenant.name, "_save": "Save", **fields}


def test_change_page_shows_the_status_not_the_key(admin_client, acme):
    scaigrid_credential_set(tenant=acme, api_key=CANARY, actor="test:ops")

    page = admin_client.get(change_url(acme)).content.decode()

    assert "sgk_…4k8m" in page
    assert "https://scaigrid.scailabs.ai" in page
    assert "test:ops" in page
    assert 'name="scaigrid_api_key"' in page
    assert 'type="password"' in page
    assert CANARY not in page


def test_changelist_shows_the_hint(admin_client, acme):
    scaigrid_credential_set(tenant=acme, api_key=CANARY, actor="test")
    page = admin_client.get("/admin/tenants/tenant/").content.decode()
    assert "sgk_…4k8m" in page


def test_admin_sets_the_key_through_the_service(admin_client, acme, settings):
    settings.SCAIGRID_ALLOWED_HOSTS = ["grid.scailabs.ai"]
    response = admin_client.post(
        change_url(acme),
        form(acme, scaigrid_api_key=CANARY, scaigrid_base_url="https://grid.scailabs.ai/"),
    )

    assert response.status_code == 302, response.content.decode()
    stored = tenant_key_get(tenant=acme)
    assert (stored.api_key, stored.base_url) == (CANARY, "https://grid.scailabs.ai")
    assert TenantCredential.objects.get(tenant=acme).updated_by == "admin:root"


def test_admin_adds_a_tenant_with_a_key(admin_client, db):
    response = admin_client.post(
        "/admin/tenants/tenant/add/",
        {"slug": "initech", "name": "Initech", "scaigrid_api_key": CANARY, "_save": "Save"},
    )
    assert response.status_code == 302, response.content.decode()
    assert TenantCredential.objects.get(tenant__slug="initech").api_key_hint == "sgk_…4k8m"


def test_saving_without_a_key_keeps_the_current_one(admin_client, acme):
    scaigrid_credential_set(tenant=acme, api_key=CANARY, actor="test")
    response = admin_client.post(change_url(acme), form(acme, name="Acme Inc"))
    assert response.status_code == 302
    assert tenant_key_get(tenant=acme).api_key == CANARY


def test_admin_clears_the_key(admin_client, acme):
    scaigrid_credential_set(tenant=acme, api_key=CANARY, actor="test")
    response = admin_client.post(change_url(acme), form(acme, clear_scaigrid_credentials="on"))
    assert response.status_code == 302
    assert not TenantCredential.objects.filter(tenant=acme).exists()


@pytest.mark.parametrize(
    ("fields", "error_field"),
    [
        ({"scaigrid_api_key": CANARY + " tail"}, "scaigrid_api_key"),
        ({"scaigrid_api_key": "x" * 513}, "scaigrid_api_key"),
        (
            {"scaigrid_api_key": CANARY, "scaigrid_base_url": "https://evil.example"},
            "scaigrid_base_url",
        ),
        (
            {
                "scaigrid_api_key": CANARY,
                "scaigrid_base_url": "https://scaigrid.scailabs.ai@evil.example",
            },
            "scaigrid_base_url",
        ),
        ({"scaigrid_base_url": "https://scaigrid.scailabs.ai"}, "scaigrid_base_url"),
        (
            {"scaigrid_api_key": CANARY, "clear_scaigrid_credentials": "on"},
            "clear_scaigrid_credentials",
        ),
    ],
)
def test_admin_form_validates_like_the_api(admin_client, acme, fields, error_field):
    scaigrid_credential_set(tenant=acme, api_key=OTHER_KEY, actor="test")
    response = admin_client.post(change_url(acme), form(acme, **fields))

    assert response.status_code == 200  # the form again, with errors
    assert error_field in response.context["adminform"].form.errors
    assert CANARY not in response.content.decode()
    assert tenant_key_get(tenant=acme).api_key == OTHER_KEY


def test_scaivault_down_in_the_admin_is_a_message_not_a_crash(admin_client, acme, vault):
    vault.down_status = 503
    response = admin_client.post(change_url(acme), form(acme, scaigrid_api_key=CANARY), follow=True)

    assert response.status_code == 200
    messages = [str(message) for message in response.context["messages"]]
    assert any("not changed" in message for message in messages)
    assert not TenantCredential.objects.filter(tenant=acme).exists()


def test_admin_marks_the_key_sensitive_for_error_reports(admin_client, acme):
    response = admin_client.post(change_url(acme), form(acme, scaigrid_api_key=CANARY))
    assert list(response.wsgi_request.sensitive_post_parameters) == ["scaigrid_api_key"]


def test_membership_admin_lists_memberships(admin_client, acme, superuser):
    TenantMembership.objects.create(user=superuser, tenant=acme, role=Role.TENANT_ADMIN)
    response = admin_client.get("/admin/tenants/tenantmembership/")
    assert response.status_code == 200
    assert "acme" in response.content.decode()


def test_staff_tenant_admin_changes_only_its_tenants(acme, globex, db):
    """Admin of acme, member of globex: globex is there read-only, a third tenant not at all."""
    other = Tenant.objects.create(slug="initech")
    user = get_user_model().objects.create_user("ada", password="pw-ada-123", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="tenants", codename__endswith="tenant")
    )
    TenantMembership.objects.create(user=user, tenant=acme, role=Role.TENANT_ADMIN)
    TenantMembership.objects.create(user=user, tenant=globex, role=Role.MEMBER)
    client = Client()
    client.force_login(user)

    page = client.get("/admin/tenants/tenant/").content.decode()

    assert change_url(acme) in page and change_url(globex) in page
    assert change_url(other) not in page
    assert client.get(change_url(other)).status_code in (302, 404)
    assert 'name="scaigrid_api_key"' not in client.get(change_url(globex)).content.decode()
    refused = client.post(change_url(globex), form(globex, scaigrid_api_key=CANARY))
    assert refused.status_code == 403
    assert not TenantCredential.objects.filter(tenant=globex).exists()


def test_staff_tenant_admin_cannot_join_another_tenant(acme, globex):
    user = get_user_model().objects.create_user("ada", password="pw-ada-123", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="tenants", codename__endswith="tenantmembership"
        )
    )
    TenantMembership.objects.create(user=user, tenant=acme, role=Role.TENANT_ADMIN)
    client = Client()
    client.force_login(user)

    response = client.post(
        "/admin/tenants/tenantmembership/add/",
        {"user": user.pk, "tenant": globex.pk, "role": Role.TENANT_ADMIN, "_save": "Save"},
    )

    assert response.status_code == 200  # the form again: globex is not a choice
    assert "tenant" in response.context["adminform"].form.errors
    assert not TenantMembership.objects.filter(user=user, tenant=globex).exists()
