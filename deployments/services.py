"""Deploying (SPEC §4): deploy a flow, roll back, retry a publish, the legacy deploy.

Each entry point writes a `pending` Deployment record and runs the pipeline's steps
(`deployments.pipeline`), which record every step on it as it ends; failures are raised as the
ApiError of the SPEC's error matrix, carrying `deployment_id`, after the record is closed.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from deployments import errors
from deployments.models import Deployment, Status
from deployments.pipeline import (  # noqa: F401 - the abandoned ones are imported from here
    Read,
    Run,
    abandoned_after,
    abandoned_deployments_close,
    execute,
    record_start,
    unrecorded_core_recover,
)
from flows.models import Flow
from flows.selectors import flow_version_content
from flows.storage import FlowStorageError
from scaiflow.core.errors import (
    FlowStorageUnavailable,
    InvalidRequest,
    VersionConflict,
    without_nul,
)
from scaiflow.identity.principal import Principal
from tenants.audit import audit_record
from tenants.models import AuditKind, Tenant


def flow_deploy(
    *,
    flow: Flow,
    actor: str,
    principal: Principal | None = None,
    version: int | None = None,
    publish_as_model: bool | None = None,
    group_ids: list[str] | None = None,
    rollback_of: Deployment | None = None,
    if_match: Collection[int] | None = None,
) -> Deployment:
    """Deploy a version of `flow` (default: its current one) through SPEC §4's steps.

    `publish_as_model` and `group_ids` default to the flow's `config`. With `if_match`, the
    flow's current version must be one of those (else 412 `version_conflict`, nothing
    recorded): deploy what the caller saw, not what someone saved a second later. Returns the
    succeeded record; raises the matrix's ApiError (with `deployment_id`) otherwise.
    """
    if if_match is not None and flow.version not in if_match:
        raise VersionConflict(current_version=flow.version)
    # Read before the record is written: a database that fails here leaves no pending record.
    previous = (
        Deployment.objects.filter(flow=flow)
        .exclude(core_id="")
        .order_by("-created_at")
        # Only what the pipeline reads: not its manifest and steps.
        .only("core_id", "published_slug")
        .first()
    ) or unrecorded_core_recover(flow)
    deployment = record_start(
        tenant=flow.tenant, flow=flow, flow_name=flow.name, actor=actor,
        flow_version=version or flow.version, rollback_of=rollback_of,
    )  # fmt: skip

    def read() -> Read:
        try:
            found = flow_version_content(tenant=flow.tenant, flow=flow, number=version)
        except FlowStorageError as exc:
            raise FlowStorageUnavailable() from exc
        return Read(found.content, found.version.number, found.version.sha256)

    return execute(
        Run(deployment),
        read=read,
        principal=principal,
        publish_as_model=publish_as_model,
        group_ids=group_ids,
        previous=previous,
    )


def deployment_rollback(
    *, deployment: Deployment, actor: str, principal: Principal | None = None
) -> Deployment:
    """Redeploy exactly `deployment`'s flow version and publish settings to the flow's
    current Core, through the same pipeline; the new record names what it rolled back to."""
    if deployment.flow is None or deployment.flow_version is None:
        raise InvalidRequest(
            "This deployment has no saved flow to roll back to (legacy deploy, or flow deleted)."
        )
    audit_record(tenant=deployment.tenant, kind=AuditKind.ROLLBACK, actor=actor,
                 target=deployment.pk, flow_id=deployment.flow.public_id,
                 flow_version=deployment.flow_version)  # fmt: skip
    return flow_deploy(
        flow=deployment.flow,
        actor=actor,
        principal=principal,
        version=deployment.flow_version,
        publish_as_model=deployment.publish_as_model,
        group_ids=list(deployment.group_ids),
        rollback_of=deployment,
    )


def legacy_deploy(
    *,
    tenant: Tenant,
    content: dict[str, Any],
    actor: str,
    principal: Principal | None = None,
    publish_as_model: bool | None = None,
) -> Deployment:
    """The deprecated `/dev/deploy`: compile and deploy `content` without saving a flow.

    Each call creates a new Core (there is no flow to remember one by); a record is written.
    """
    name = content.get("name") if isinstance(content.get("name"), str) else ""
    name = without_nul(name)  # any string: the record must still save on PostgreSQL
    deployment = record_start(
        tenant=tenant, flow=None, flow_name=name[:200] or "(unsaved flow)", actor=actor
    )
    return execute(
        Run(deployment),
        read=lambda: Read(content),
        principal=principal,
        publish_as_model=publish_as_model,
        group_ids=None,
        previous=None,
    )


def retry_publish_refusal(deployment: Deployment) -> str:
    """Why `deployment`'s publish cannot be retried; empty when it can."""
    if deployment.status != Status.PUBLISH_FAILED:
        return f"the deployment is {deployment.status}, not publish_failed"
    if deployment.flow_id is None:
        return "the deployment's flow was deleted"
    newer = (
        Deployment.objects.filter(flow_id=deployment.flow_id, created_at__gt=deployment.created_at)
        .exclude(core_id="")
        .order_by("-created_at")
        .first()
    )
    if newer is not None:
        return (
            f"a later deployment of this flow ({newer.pk}, {newer.status}) changed the Core; "
            "deploy the flow instead"
        )
    return ""


def deployment_retry_publish(*, deployment: Deployment, actor: str) -> Deployment:
    """Redeploy a `publish_failed` deployment's flow version with publish on (a new record).

    The publish goes to the same Core (the redeploy updates it) with the same `group_ids`.
    Refused (409 `retry_publish_refused`) unless the deployment is `publish_failed`, its flow
    still exists, and no later deployment of the flow has changed a Core since: retrying then
    would roll the Core back to an older version.
    """
    reason = retry_publish_refusal(deployment)
    if reason:
        raise errors.RetryPublishRefused(reason, deployment_id=deployment.pk)
    return flow_deploy(
        flow=deployment.flow,
        actor=actor,
        version=deployment.flow_version,
        publish_as_model=True,
        group_ids=list(deployment.group_ids or []),
    )


class NotRetryable(ValueError):
    """The deployment cannot be deployed again (its message says why)."""
