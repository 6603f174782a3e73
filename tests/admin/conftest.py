"""Admin fixtures: two tenants with a flow and deploy records each, a superuser, a staff
tenant admin of acme only, and a member who may only view."""

from __future__ import annotations

import copy

import pytest
import responses
from django.contrib.admin.utils import quote
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from deployments.models import Deployment, Status
from flows.services import flow_create
from tenants.models import Role, Tenant, TenantMembership

GRID = "https://scaigrid.test"
CORES = f"{GRID}/v1/modules/scaicore/cores"
EVENTS = f"{GRID}/v1/modules/scaicore/events"
KEY = "sgk_live_" + "k3y" * 8

GRAPH = {
    "name": "Echo bot",
    "config": {"llm_roles": {"main": {"model": "scai-large"}}},
    "nodes": [
        {"id": "start", "kind": "trigger", "data": {"type": "chat"},
         "position": {"x": 0, "y": 0}},
        {"id": "answer", "kind": "llm", "data": {"role": "main", "prompt": "{{start.message}}"},
         "position": {"x": 240, "y": 0}},
        {"id": "reply", "kind": "output", "data": {"value": "{{answer.text}}"},
         "position": {"x": 480, "y": 0}},
    ],
    "edges": [{"source": "start", "target": "answer"}, {"source": "answer", "target": "reply"}],
}  # fmt: skip


@pytest.fixture(autouse=True)
def _upstreams(settings):
    settings.SCAIGRID_BASE_URL = GRID
    settings.SCAIGRID_ALLOWED_HOSTS = ["scaigrid.test"]
    settings.SCAIGRID_API_KEY = ""
    settings.SCAIVAULT_URL = ""


@pytest.fixture
def upstream():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def grid_accepts(mock, core_id="core_1"):
    mock.post(CORES, json={"id": core_id}, status=201)
    mock.put(f"{CORES}/{core_id}", json={"id": core_id})
    mock.post(f"{CORES}/{core_id}/publish", json={"slug": "echo-bot"})
    mock.delete(f"{CORES}/{core_id}/publish", status=204)


@pytest.fixture
def acme(db):
    return Tenant.objects.get_or_create(slug="acme", defaults={"name": "Acme"})[0]


@pytest.fixture
def globex(db):
    return Tenant.objects.get_or_create(slug="globex", defaults={"name": "Globex"})[0]


def make_flow(tenant, name="Echo bot", content=GRAPH):
    content = copy.deepcopy(content)
    return flow_create(tenant=tenant, name=name, content=content, actor="test")


@pytest.fixture
def acme_flow(acme):
    return make_flow(acme, "Acme echo")


@pytest.fixture
def globex_flow(globex):
    return make_flow(globex, "Globex secret plan")


def make_deployment(flow, status=Status.FAILED, **fields):
    error = None
    if status in (Status.FAILED, Status.PUBLISH_FAILED):
        code = "scaicore_publish_failed" if status == Status.PUBLISH_FAILED else "scaigrid_error"
        error = {"error": code, "message": f"{code} happened", "fix": f"do the {code} fix"}
    defaults = {
        "tenant": flow.tenant,
        "flow": flow,
        "flow_name": flow.name,
        "flow_version": flow.version,
        "status": status,
        "error": error,
        "error_code": error["error"] if error else "",
        "actor": "scaikey:alice",
        "auth_source": "tenant_key",
        "manifest": "kind: Core\nname: echo\n",
        "steps": [
            {"name": "read", "status": "succeeded", "duration_ms": 1.5},
            {"name": "compile", "status": "succeeded", "duration_ms": 12.0},
            {"name": "core", "status": "succeeded", "duration_ms": 80.0},
            {"name": "publish", "status": "failed", "duration_ms": 40.0},
        ],
    }
    defaults.update(fields)
    return Deployment.objects.create(**defaults)


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-123")


@pytest.fixture
def admin_client(superuser) -> Client:
    client = Client()
    client.force_login(superuser)
    return client


@pytest.fixture
def ada(acme):
    """Staff, tenant admin of acme only, with the model permissions a tenant admin gets."""
    user = get_user_model().objects.create_user("ada", password="pw-ada-123", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label__in=["tenants", "flows", "deployments"],
        ).exclude(codename__in=["add_tenant", "delete_tenant"])
    )
    TenantMembership.objects.create(user=user, tenant=acme, role=Role.TENANT_ADMIN)
    return user


@pytest.fixture
def ada_client(ada) -> Client:
    client = Client()
    client.force_login(ada)
    return client


@pytest.fixture
def viewer_client(acme) -> Client:
    """Staff, member of acme, with only the view permissions."""
    user = get_user_model().objects.create_user("vera", password="pw-vera-123", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label__in=["tenants", "flows", "deployments"],
            codename__startswith="view_",
        )
    )
    TenantMembership.objects.create(user=user, tenant=acme, role=Role.MEMBER)
    client = Client()
    client.force_login(user)
    return client


def change_url(obj) -> str:
    """The admin's change page of obj. Ids like dep_25… must go through the admin's quote():
    it reads "_25" in a URL as an escaped "%"."""
    meta = obj._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[quote(obj.pk)])
