"""The audit log: one entry per audited action, tenant-scoped, append-only, no secrets."""

import pytest

from flows.services import flow_create, flow_delete, flow_update
from tenants.credentials import secrets_key_rotate
from tenants.models import AppendOnlyError, AuditEntry, Tenant
from tenants.services import scaigrid_credential_delete, scaigrid_credential_set
from tests.deployments.conftest import CORES, GRID, SIMPLE_FLOW, grid_accepts

CANARY = "sgk_canary_AUDIT_9f8e7d6c"


@pytest.fixture(autouse=True)
def _grid(settings):
    settings.SCAIGRID_BASE_URL = GRID
    settings.SCAIGRID_ALLOWED_HOSTS = ["scaigrid.test"]


@pytest.fixture
def acme(db):
    return Tenant.objects.get_or_create(slug="acme")[0]


def kinds(tenant):
    return list(
        AuditEntry.objects.filter(tenant=tenant).order_by("id").values_list("kind", flat=True)
    )


def test_flow_changes_write_one_entry_each(acme):
    flow = flow_create(tenant=acme, name="Echo", content=SIMPLE_FLOW, actor="scaikey:alice")
    flow_update(flow=flow, actor="scaikey:alice", content={**SIMPLE_FLOW, "name": "v2"})
    flow_update(flow=flow, actor="scaikey:alice", content={**SIMPLE_FLOW, "name": "v2"})  # no-op
    flow_update(flow=flow, actor="scaikey:bob", name="Renamed")
    flow_delete(flow=flow, actor="scaikey:bob")
    assert kinds(acme) == ["flow.created", "flow.updated", "flow.updated", "flow.deleted"]
    updates = AuditEntry.objects.filter(kind="flow.updated").order_by("id")
    assert [u.data["fields"] for u in updates] == [["content"], ["name"]]
    assert [u.actor for u in updates] == ["scaikey:alice", "scaikey:bob"]


def test_credentials_set_cleared_rotated_never_hold_the_key(acme, settings):
    scaigrid_credential_set(tenant=acme, api_key=CANARY, actor="scaikey:ada")
    from cryptography.fernet import Fernet

    settings.SCAIFLOW_SECRETS_KEYS = [
        Fernet.generate_key().decode(),
        *settings.SCAIFLOW_SECRETS_KEYS,
    ]
    assert secrets_key_rotate(actor="cli:ops") == 1
    scaigrid_credential_delete(tenant=acme, actor="scaikey:ada")
    assert kinds(acme) == ["credentials.set", "credentials.rotated", "credentials.cleared"]
    assert all(CANARY not in str(entry.data) for entry in AuditEntry.objects.all())
    assert AuditEntry.objects.get(kind="credentials.set").data["api_key_hint"].endswith("7d6c")


def test_deploy_publish_unpublish_and_rollback(acme_user, acme, responses_mock):
    grid_accepts(responses_mock)
    flow = flow_create(tenant=acme, name="Echo", content=SIMPLE_FLOW, actor="scaikey:alice")
    url = f"/api/v1/flows/{flow.public_id}/deploy"
    first = acme_user.post(url, {"publish_as_model": True}, format="json").json()
    acme_user.post(url, {"publish_as_model": False}, format="json")
    acme_user.post(f"/api/v1/deployments/{first['id']}/rollback")
    assert kinds(acme) == [
        "flow.created",
        "deploy.started", "deploy.published", "deploy.finished",
        "deploy.started", "deploy.unpublished", "deploy.finished",
        "deploy.rollback", "deploy.started", "deploy.published", "deploy.finished",
    ]  # fmt: skip
    finished = AuditEntry.objects.filter(kind="deploy.finished").first()
    assert finished.data["status"] == "succeeded"
    assert finished.request_id


def test_failed_deploy_is_started_and_finished(acme_user, acme, responses_mock):
    responses_mock.post(CORES, status=500)
    flow = flow_create(tenant=acme, name="Echo", content=SIMPLE_FLOW, actor="t")
    acme_user.post(f"/api/v1/flows/{flow.public_id}/deploy", {}, format="json")
    finished = AuditEntry.objects.get(kind="deploy.finished")
    assert (finished.data["status"], finished.data["error"]) == ("failed", "scaicore_create_failed")


def test_entries_cannot_be_changed_or_deleted(acme):
    flow_create(tenant=acme, name="Echo", content=SIMPLE_FLOW, actor="t")
    entry = AuditEntry.objects.get()
    entry.actor = "someone else"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()


def test_api_lists_own_tenant_only_with_filters(acme_user, globex_user, acme):
    globex = Tenant.objects.get_or_create(slug="globex")[0]
    flow = flow_create(tenant=acme, name="Echo", content=SIMPLE_FLOW, actor="scaikey:alice")
    flow_update(flow=flow, actor="scaikey:bob", name="Renamed")
    flow_create(tenant=globex, name="Theirs", content=SIMPLE_FLOW, actor="scaikey:gus")
    body = acme_user.get("/api/v1/audit").json()
    assert [e["kind"] for e in body["results"]] == ["flow.updated", "flow.created"]
    assert acme_user.get("/api/v1/audit?actor=scaikey:bob").json()["count"] == 1
    assert acme_user.get("/api/v1/audit?kind=flow.created").json()["count"] == 1
    assert acme_user.get(f"/api/v1/audit?target={flow.public_id}").json()["count"] == 2
    assert acme_user.get("/api/v1/audit?since=2999-01-01T00:00:00Z").json()["count"] == 0
    assert globex_user.get("/api/v1/audit").json()["count"] == 1
    bad = acme_user.get("/api/v1/audit?kind=nonsense")
    assert (bad.status_code, bad.json()["detail"]["error"]) == (400, "invalid_request")


def test_api_is_read_only(acme_user, acme):
    for method in ("post", "put", "patch", "delete"):
        assert getattr(acme_user, method)("/api/v1/audit").status_code == 405
