"""Reads on deployments."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime

from django.db.models import OuterRef, QuerySet, Subquery

from deployments.models import Deployment, Status
from flows.models import Flow
from tenants.models import Tenant

# What an operator means by "failed": the Core is missing or stale, or it was not published.
FAILED_STATUSES = (Status.FAILED, Status.PUBLISH_FAILED)


def latest_deployments(*, flows: Iterable[Flow]) -> dict[int, Deployment]:
    """Each flow's newest deployment, keyed by the flow's pk, in one query for any number.

    The newest is looked up once per flow (one probe of the (flow, created_at, id) index), so
    the cost does not grow with a flow's history.
    """
    pks = [flow.pk for flow in flows]
    if not pks:
        return {}
    newest = (
        Deployment.objects.filter(flow=OuterRef("pk"))
        .order_by("-created_at", "-pk")
        .values("pk")[:1]
    )
    wanted = Flow.objects.filter(pk__in=pks).values(latest=Subquery(newest))
    deployments = Deployment.objects.filter(pk__in=wanted)
    return {deployment.flow_id: deployment for deployment in deployments}


def deployments_search(
    *,
    tenant: Tenant | None,
    statuses: Collection[str] = (),
    since: datetime | None = None,
) -> QuerySet[Deployment]:
    """Deployments newest first, of `tenant` or (None: operators only) of every tenant."""
    deployments = Deployment.objects.select_related("tenant", "flow").order_by("-created_at", "-pk")
    if tenant is not None:
        deployments = deployments.filter(tenant=tenant)
    if statuses:
        deployments = deployments.filter(status__in=list(statuses))
    if since is not None:
        deployments = deployments.filter(created_at__gte=since)
    return deployments


def flows_for_redeploy(*, tenant: Tenant | None, only_failed: bool = False) -> list[Flow]:
    """The flows a bulk redeploy covers: those deployed at least once (drafts never deployed
    are left alone), of `tenant` or of every tenant; with `only_failed`, only those whose
    latest deployment failed or failed to publish. Oldest flow first, for a stable order."""
    flows = (
        Flow.objects.select_related("tenant")
        .filter(deployments__isnull=False)
        .distinct()
        .order_by("pk")
    )
    if tenant is not None:
        flows = flows.filter(tenant=tenant)
    flows = list(flows)
    if only_failed:
        latest = latest_deployments(flows=flows)
        flows = [f for f in flows if f.pk in latest and latest[f.pk].status in FAILED_STATUSES]
    return flows
