"""The audit log in the admin: read-only, scoped to the tenant admin's tenants."""

from tenants.models import AuditEntry

URL = "/admin/tenants/auditentry/"


def test_lists_only_the_tenant_admins_entries(ada_client, acme_flow, globex_flow):
    page = ada_client.get(URL).content.decode()
    assert acme_flow.public_id in page
    assert globex_flow.public_id not in page
    theirs = AuditEntry.objects.get(target=globex_flow.public_id)
    assert ada_client.get(f"{URL}{theirs.pk}/change/").status_code in (302, 404)


def test_nothing_can_be_added_changed_or_deleted(admin_client, acme_flow):
    entry = AuditEntry.objects.get(target=acme_flow.public_id)
    assert admin_client.get(f"{URL}add/").status_code == 403
    assert admin_client.post(f"{URL}{entry.pk}/change/", {"actor": "x"}).status_code == 403
    assert admin_client.post(f"{URL}{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert b'name="action" value="delete_selected"' not in admin_client.get(URL).content
    entry.refresh_from_db()
    assert entry.actor != "x"
