"""Reads of flows, always within one tenant: another tenant's flow is simply not found."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from flows.models import Flow, FlowVersion
from flows.storage import content_read
from scaiflow.core.errors import NotFound
from tenants.models import Tenant

# Version numbers are stored as 32-bit integers; larger ones cannot exist (and some databases
# refuse to compare an integer column with them).
MAX_VERSION_NUMBER = 2**31 - 1


@dataclass(frozen=True)
class FlowVersionContent:
    """One version of a flow together with its content, as read from storage."""

    flow: Flow
    version: FlowVersion
    content: dict[str, Any]


def flows_for_tenant(*, tenant: Tenant, search: str = "") -> QuerySet[Flow]:
    """The tenant's flows, most recently changed first; `search` narrows by name (any case)."""
    flows = Flow.objects.filter(tenant=tenant).order_by("-updated_at", "-id")
    if search:
        flows = flows.filter(name__icontains=search)
    return flows


def flow_get(*, tenant: Tenant, flow_id: str) -> Flow:
    """The tenant's flow with public id `flow_id`; NotFound otherwise."""
    try:
        return Flow.objects.select_related("tenant").get(tenant=tenant, public_id=flow_id)
    except Flow.DoesNotExist:
        raise NotFound("No such flow.") from None


def _ensure_tenant(flow: Flow, tenant: Tenant) -> None:
    if flow.tenant_id != tenant.pk:
        raise NotFound("No such flow.")


def flow_versions(*, tenant: Tenant, flow: Flow) -> QuerySet[FlowVersion]:
    """The versions of `flow`, newest first."""
    _ensure_tenant(flow, tenant)
    return FlowVersion.objects.filter(flow=flow).order_by("-number")


def flow_version_get(*, tenant: Tenant, flow: Flow, number: int | None = None) -> FlowVersion:
    """Version `number` of `flow` (its current version when None); NotFound otherwise."""
    _ensure_tenant(flow, tenant)
    if number is None:
        number = flow.version
    if not 1 <= number <= MAX_VERSION_NUMBER:
        raise NotFound("No such flow version.")
    try:
        return FlowVersion.objects.get(flow=flow, number=number)
    except FlowVersion.DoesNotExist:
        raise NotFound("No such flow version.") from None


def flow_version_content(
    *, tenant: Tenant, flow: Flow, number: int | None = None
) -> FlowVersionContent:
    """Version `number` of `flow` (default: current) with its content read from storage.

    The content is checked against the version's recorded hash. Raises NotFound, and
    FlowStorageError when storage cannot give the content back.
    """
    version = flow_version_get(tenant=tenant, flow=flow, number=number)
    content = content_read(key=version.storage_key, sha256=version.sha256)
    return FlowVersionContent(flow=flow, version=version, content=content)


def flow_content_read(*, tenant: Tenant, flow: Flow, number: int | None = None) -> dict[str, Any]:
    """The parsed content (a FlowGraph object) of version `number` of `flow` (default: current):
    what the compiler and the deploy work on. Raises NotFound and FlowStorageError."""
    return flow_version_content(tenant=tenant, flow=flow, number=number).content
