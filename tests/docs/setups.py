"""The states the docs' troubleshooting examples need, by the names their annotations use.

Each set-up is a context manager: it puts ScaiFlow or devstack into the state for the one block
annotated `<!-- docs-test: setup=NAME -->`, and undoes it afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.utils import timezone

from deployments.models import Deployment, Status
from flows.models import Flow
from tenants.models import TenantCredential

CORES = "/v1/modules/scaicore/cores"


@dataclass
class Context:
    devstack: Any  # devstack.pytest_plugin.DevstackHandle
    settings: Any  # pytest-django's settings fixture
    flow: Flow
    tmp_path: Path


@contextmanager
def _fault(ctx: Context, method: str, path: str, status: int, body: Any) -> Iterator[None]:
    ctx.devstack.fault(method, path, status=status, body=body)
    try:
        yield
    finally:
        ctx.devstack.clear_faults()


@contextmanager
def _override(ctx: Context, **values: Any) -> Iterator[None]:
    before = {name: getattr(ctx.settings, name) for name in values}
    for name, value in values.items():
        setattr(ctx.settings, name, value)
    try:
        yield
    finally:
        for name, value in before.items():
            setattr(ctx.settings, name, value)


@contextmanager
def scaicore_create_fails(ctx: Context) -> Iterator[None]:
    """ScaiGrid refuses new Cores and updates alike (a first deploy creates, a redeploy updates)."""
    body = {"error": "unavailable", "message": "scaicore is restarting"}
    with _fault(ctx, "POST", CORES, 503, body):
        ctx.devstack.fault("PUT", f"{CORES}/*", status=503, body=body)
        yield


def scaicore_publish_fails(ctx: Context):
    body = {"error": "conflict", "message": "group grp_support does not exist"}
    return _fault(ctx, "POST", f"{CORES}/*/publish", 409, body)


def scaicore_unpublish_fails(ctx: Context):
    body = {"error": "unavailable", "message": "publishing is paused"}
    return _fault(ctx, "DELETE", f"{CORES}/*/publish", 503, body)


def scaiqueue_forbidden(ctx: Context):
    body = {"error": "permission_denied", "message": "need scaiqueue:manage"}
    return _fault(ctx, "GET", "/v1/scopes", 403, body)


def scaiqueue_queue_differs(ctx: Context):
    """Someone changed the review queue's SLA in ScaiQueue; the flow still declares 60."""
    queue = {"slug": "review", "name": "Human review", "config": {"sla_minutes": 30}}
    return _fault(ctx, "GET", "/v1/scopes/*/queues", 200, {"items": [queue]})


def scaicore_events_forbidden(ctx: Context):
    body = {"error": "permission_denied", "message": "need scaigrid:events"}
    return _fault(ctx, "GET", "/v1/modules/scaicore/events", 403, body)


def deploy_auth_api_key(ctx: Context):
    """SCAIFLOW_DEPLOY_AUTH=api_key: the caller's JWT is never forwarded."""
    return _override(ctx, SCAIFLOW_DEPLOY_AUTH="api_key")


@contextmanager
def scaivault_down(ctx: Context) -> Iterator[None]:
    """The tenant's key is kept in ScaiVault (the deploy not forwarding JWTs), which answers 503."""
    TenantCredential.objects.filter(tenant=ctx.flow.tenant).delete()
    env = ctx.devstack.env(vault=True)
    values = {
        "SCAIFLOW_DEPLOY_AUTH": "api_key",
        "SCAIVAULT_URL": env["SCAIVAULT_URL"],
        "SCAIVAULT_TOKEN": env["SCAIVAULT_TOKEN"],
    }
    body = {"error": "unavailable", "message": "sealed"}
    with _override(ctx, **values), _fault(ctx, "GET", "/v1/secrets/*", 503, body):
        yield


def flow_storage_down(ctx: Context):
    """Flow storage answers nothing: an empty location stands in for an unreachable bucket."""
    empty = ctx.tmp_path / "unreachable-storage"
    empty.mkdir(exist_ok=True)
    storages = {
        **ctx.settings.STORAGES,
        "flows": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": empty},
        },
    }
    return _override(ctx, STORAGES=storages)


@contextmanager
def deploy_running(ctx: Context) -> Iterator[None]:
    """Another deploy of $FLOW is running (its pending record holds the flow's lock)."""
    running = Deployment.objects.create(
        tenant=ctx.flow.tenant,
        flow=ctx.flow,
        flow_name=ctx.flow.name,
        flow_version=ctx.flow.version,
        status=Status.PENDING,
        actor="scaikey:bob",
    )
    try:
        yield
    finally:
        Deployment.objects.filter(pk=running.pk, status=Status.PENDING).update(
            status=Status.SUCCEEDED
        )


@contextmanager
def deploy_abandoned_earlier(ctx: Context) -> Iterator[None]:
    """A deploy of $FLOW started an hour ago and its worker died: the record is still pending."""
    stale = Deployment.objects.create(
        tenant=ctx.flow.tenant,
        flow=ctx.flow,
        flow_name=ctx.flow.name,
        flow_version=ctx.flow.version,
        status=Status.PENDING,
        actor="scaikey:bob",
    )
    Deployment.objects.filter(pk=stale.pk).update(created_at=timezone.now() - timedelta(hours=1))
    yield


def dev_scaigrid_api_key(ctx: Context):
    """`make run`'s development fallback: SCAIGRID_API_KEY holds devstack's key."""
    return _override(ctx, SCAIGRID_API_KEY=ctx.devstack.api_key)


@contextmanager
def deploy_rate_one_per_minute(ctx: Context) -> Iterator[None]:
    with _override(ctx, SCAIFLOW_DEPLOY_RATE="1/min"):
        yield


SETUPS: dict[str, Callable[[Context], Any]] = {
    function.__name__: function
    for function in (
        scaicore_create_fails,
        scaicore_publish_fails,
        scaicore_unpublish_fails,
        scaiqueue_forbidden,
        scaiqueue_queue_differs,
        scaicore_events_forbidden,
        deploy_auth_api_key,
        scaivault_down,
        flow_storage_down,
        deploy_running,
        deploy_abandoned_earlier,
        deploy_rate_one_per_minute,
        dev_scaigrid_api_key,
    )
}
