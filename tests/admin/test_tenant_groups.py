"""Out of the box: a staff user whose only grant is a membership can use the admin, as its
role allows (groups "Tenant admins" and "Tenant members", tenants/groups.py)."""

from __future__ import annotations

import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.test import Client

from deployments.models import Deployment, Status
from tenants.groups import GROUP_PERMISSIONS, TENANT_ADMINS, TENANT_MEMBERS
from tenants.models import Role, TenantCredential, TenantMembership
from tenants.services import scaigrid_credential_set
from tests.admin.conftest import EVENTS, KEY, change_url, grid_accepts, make_deployment

pytestmark = pytest.mark.django_db


def staff(username: str):
    return get_user_model().objects.create_user(username, password="pw-Xy7-long", is_staff=True)


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def groups_of(user) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


@pytest.fixture
def tina(acme):
    """Staff, tenant admin of acme; no permission given by hand."""
    user = staff("tina")
    TenantMembership.objects.create(user=user, tenant=acme, role=Role.TENANT_ADMIN)
    return user


@pytest.fixture
def mo(acme):
    """Staff, member of acme; no permission given by hand."""
    user = staff("mo")
    TenantMembership.objects.create(user=user, tenant=acme, role=Role.MEMBER)
    return user


def act(client, url, action, pk):
    return client.post(url, {"action": action, "_selected_action": [str(pk)]}, follow=True)


def test_the_groups_exist_with_exactly_their_permissions():
    for name, wanted in GROUP_PERMISSIONS.items():
        group = Group.objects.get(name=name)
        have = {(p.content_type.app_label, p.codename) for p in group.permissions.all()}
        assert have == set(wanted)


def test_migrate_puts_lost_permissions_back():
    Group.objects.get(name=TENANT_ADMINS).permissions.clear()
    call_command("migrate", verbosity=0)
    assert Group.objects.get(name=TENANT_ADMINS).permissions.count() == len(
        GROUP_PERMISSIONS[TENANT_ADMINS]
    )


def test_the_role_decides_the_group(acme, globex):
    user = staff("rolf")
    membership = TenantMembership.objects.create(user=user, tenant=acme, role=Role.MEMBER)
    assert groups_of(user) == {TENANT_MEMBERS}
    membership.role = Role.TENANT_ADMIN
    membership.save()
    assert groups_of(user) == {TENANT_ADMINS}
    TenantMembership.objects.create(user=user, tenant=globex, role=Role.MEMBER)
    assert groups_of(user) == {TENANT_ADMINS, TENANT_MEMBERS}
    TenantMembership.objects.filter(user=user).delete()
    assert groups_of(user) == set()


def test_a_tenant_admin_sees_their_tenant_flows_deployments_and_audit(tina, acme_flow, globex):
    client = logged_in(tina)
    make_deployment(acme_flow)
    index = client.get("/admin/").content.decode()
    assert "have permission to view or edit anything" not in index
    for url in (
        "/admin/tenants/tenant/",
        "/admin/flows/flow/",
        "/admin/deployments/deployment/",
        "/admin/tenants/auditentry/",
        change_url(acme_flow.tenant),
        change_url(acme_flow),
    ):
        assert client.get(url).status_code == 200, url
    tenants = client.get("/admin/tenants/tenant/").content.decode()
    assert "acme" in tenants and "globex" not in tenants


def test_a_tenant_admin_sets_tests_and_clears_the_key(tina, acme, upstream):
    client = logged_in(tina)
    form = {"name": "Acme", "scaigrid_api_key": KEY, "scaigrid_base_url": ""}
    response = client.post(change_url(acme), form)
    assert response.status_code == 302
    assert TenantCredential.objects.get(tenant=acme).updated_by == "admin:tina"
    acme.refresh_from_db()
    assert acme.slug == "acme"  # the slug is read-only for them

    upstream.get(EVENTS, status=404, json={"error": "not_found"})
    page = act(client, "/admin/tenants/tenant/", "test_scaigrid_credentials", acme.pk)
    assert "accepted the tenant_key credentials" in page.content.decode()

    client.post(change_url(acme), {"name": "Acme", "clear_scaigrid_credentials": "on"})
    assert not TenantCredential.objects.filter(tenant=acme).exists()


def test_a_tenant_admin_cannot_rename_the_slug(tina, acme):
    client = logged_in(tina)
    client.post(change_url(acme), {"slug": "stolen", "name": "Acme"})
    acme.refresh_from_db()
    assert acme.slug == "acme"


def test_a_tenant_admin_deploys(tina, acme, acme_flow, upstream):
    scaigrid_credential_set(tenant=acme, api_key=KEY, actor="test")
    grid_accepts(upstream)
    upstream.get(EVENTS, status=404, json={"error": "not_found"})
    act(logged_in(tina), "/admin/flows/flow/", "deploy", acme_flow.pk)
    assert Deployment.objects.get().actor == "admin:tina"


def test_a_member_sees_everything_read_only(mo, acme, acme_flow, upstream):
    client = logged_in(mo)
    failed = make_deployment(acme_flow, status=Status.PUBLISH_FAILED, core_id="core_1")
    for url in ("/admin/tenants/tenant/", "/admin/tenants/auditentry/", change_url(failed)):
        assert client.get(url).status_code == 200, url
    tenant_page = client.get(change_url(acme)).content.decode()
    assert 'name="scaigrid_api_key"' not in tenant_page
    assert 'name="_save"' not in tenant_page
    assert 'value="test_scaigrid_credentials"' not in tenant_page
    flow_page = client.get(change_url(acme_flow)).content.decode()
    assert 'value="deploy"' not in flow_page and 'value="compile"' in flow_page
    deployment_page = client.get(change_url(failed)).content.decode()
    assert 'value="retry_publish"' not in deployment_page
    assert 'value="redeploy"' not in deployment_page

    client.post(change_url(acme), {"name": "Acme", "scaigrid_api_key": KEY})
    act(client, "/admin/flows/flow/", "deploy", acme_flow.pk)
    assert not TenantCredential.objects.exists()
    assert list(Deployment.objects.all()) == [failed]
    assert len(upstream.calls) == 0


def test_admin_of_one_tenant_and_member_of_another(tina, acme, globex, acme_flow, upstream):
    """Their groups allow deploying; the globex rows are still view-only for them."""
    from tests.admin.conftest import make_flow

    TenantMembership.objects.create(user=tina, tenant=globex, role=Role.MEMBER)
    globex_flow = make_flow(globex, "Globex flow")
    scaigrid_credential_set(tenant=globex, api_key=KEY, actor="test")
    client = logged_in(tina)
    page = client.get(change_url(globex_flow)).content.decode()
    assert 'value="compile"' in page and 'value="deploy"' not in page
    assert 'name="scaigrid_api_key"' not in client.get(change_url(globex)).content.decode()
    act(client, "/admin/flows/flow/", "deploy", globex_flow.pk)
    assert not Deployment.objects.exists()
    assert len(upstream.calls) == 0


def test_create_tenant_admin_with_a_password_from_stdin(acme, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("Long-enough-pw-42\n"))
    out = io.StringIO()
    call_command("create_tenant_admin", "acme", "newt", "--password-stdin", stdout=out)
    assert "created 'newt', tenant admin of 'acme'" in out.getvalue()
    user = get_user_model().objects.get(username="newt")
    assert user.is_staff and not user.is_superuser
    assert groups_of(user) == {TENANT_ADMINS}
    client = Client()
    # Through the login form (the lockout backend wants a request).
    client.post("/admin/login/", {"username": "newt", "password": "Long-enough-pw-42"})
    assert client.get("/admin/tenants/tenant/").status_code == 200


def test_create_tenant_admin_prints_a_one_time_link(acme):
    out = io.StringIO()
    call_command("create_tenant_admin", "acme", "newt", stdout=out)
    link = re.search(r"http://127\.0\.0\.1:8000(/admin/password-set/\S+)", out.getvalue())
    assert link, out.getvalue()
    user = get_user_model().objects.get(username="newt")
    assert not user.has_usable_password()

    client = Client()
    form_page = client.get(link.group(1), follow=True)
    assert form_page.status_code == 200
    password = "Long-enough-pw-42"
    done = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": password, "new_password2": password},
        follow=True,
    )
    assert done.status_code == 200
    signed_in = Client().post("/admin/login/", {"username": "newt", "password": password})
    assert signed_in.status_code == 302
    # Used once: the link no longer offers the form.
    again = Client().get(link.group(1), follow=True).content.decode()
    assert 'name="new_password1"' not in again


def test_create_tenant_admin_refuses_what_it_cannot_do(acme, monkeypatch):
    with pytest.raises(CommandError, match="no tenant 'nope'"):
        call_command("create_tenant_admin", "nope", "newt", stdout=io.StringIO())
    monkeypatch.setattr("sys.stdin", io.StringIO("123\n"))
    with pytest.raises(CommandError, match="too short"):
        call_command("create_tenant_admin", "acme", "newt", "--password-stdin")
    assert not get_user_model().objects.filter(username="newt").exists()


def test_create_tenant_admin_refuses_an_existing_user_without_existing(acme):
    vera = staff("vera")
    TenantMembership.objects.create(user=vera, tenant=acme, role=Role.MEMBER)
    with pytest.raises(CommandError, match=r"already exists.*--existing"):
        call_command("create_tenant_admin", "acme", "vera", stdout=io.StringIO())
    assert TenantMembership.objects.get(user=vera).role == Role.MEMBER
    assert vera.check_password("pw-Xy7-long")


def test_create_tenant_admin_promotes_an_existing_user_when_told(acme):
    vera = get_user_model().objects.create_user("vera", password="pw-Xy7-long")
    TenantMembership.objects.create(user=vera, tenant=acme, role=Role.MEMBER)
    out = io.StringIO()
    call_command("create_tenant_admin", "acme", "vera", "--existing", stdout=out)
    said = out.getvalue()
    assert "updated existing user 'vera'" in said and "was member" in said
    assert "made staff" in said and "password unchanged" in said
    assert "Set the password" not in said
    vera.refresh_from_db()
    assert vera.is_staff and vera.check_password("pw-Xy7-long")
    assert TenantMembership.objects.get(user=vera).role == Role.TENANT_ADMIN


def test_a_scaikey_sign_in_keeps_a_promotion_made_by_the_command(acme):
    from tenants.services import admin_user_from_scaikey

    claims = {"sub": "ada", "tenant": "acme", "roles": []}
    user = admin_user_from_scaikey(issuer="https://scaikey.test", claims=claims)
    assert TenantMembership.objects.get(user=user).from_scaikey

    out = io.StringIO()
    call_command("create_tenant_admin", "acme", "scaikey:ada", "--existing", stdout=out)
    assert "was member from a ScaiKey sign-in" in out.getvalue()

    admin_user_from_scaikey(issuer="https://scaikey.test", claims=claims)  # still a member there
    (membership,) = TenantMembership.objects.filter(user=user)
    assert (membership.role, membership.from_scaikey) == (Role.TENANT_ADMIN, False)
    assert groups_of(user) == {TENANT_ADMINS}
