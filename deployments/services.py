"""The deploy pipeline (SPEC §4): read → compile → credentials → provision → Core → publish.

A `Deployment` record is written first (`pending`) and every step's outcome and timing goes
onto it as it happens, so an attempt is never lost whatever fails. Failures are raised as the
ApiError of the SPEC's error matrix, carrying `deployment_id`, after the record is closed.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from deployments import errors
from deployments.clients.http import UpstreamError, upstream_timer
from deployments.clients.scaigrid import ScaiGridClient
from deployments.clients.scaiqueue import ProvisionError, ScaiQueueClient
from deployments.models import CoreAction, Deployment, Status
from flows.models import Flow
from flows.selectors import flow_version_content
from flows.services import flow_compile, flow_compile_content
from flows.storage import FlowStorageError
from scaiflow.auth import Principal
from scaiflow.errors import (
    ApiError,
    FlowStorageUnavailable,
    InvalidRequest,
    VersionConflict,
    internal_error,
    without_nul,
)
from scaiflow.middleware import current_request_id
from tenants.audit import audit_record
from tenants.credentials import ResolvedCredential, scaigrid_credential_resolve
from tenants.models import AuditKind, Tenant

logger = logging.getLogger("scaiflow.deploy")

# A deploy makes a bounded number of upstream calls, each bounded by the timeouts and at most
# two retries; past this age a pending record can only belong to a worker that died.
ABANDONED_AFTER = timedelta(minutes=15)


def abandoned_deployments_close(*, flow: Flow | None = None) -> int:
    """Close pending records older than any deploy can take as failed `deploy_abandoned`.

    The Core id they hold is kept, so the next deploy updates that Core.
    """
    stale = Deployment.objects.filter(
        status=Status.PENDING, created_at__lt=timezone.now() - ABANDONED_AFTER
    )
    if flow is not None:
        stale = stale.filter(flow=flow)
    error = errors.DeployAbandoned().as_detail()
    return stale.update(
        status=Status.FAILED,
        error=error,
        error_code=error["error"],
        finished_at=timezone.now(),
    )


class _Run:
    """One attempt in progress: records each step on the Deployment as it ends."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.steps: list[dict[str, Any]] = []

    @contextmanager
    def step(self, name: str) -> Iterator[dict[str, Any]]:
        entry: dict[str, Any] = {"name": name, "started_at": timezone.now().isoformat()}
        started = time.perf_counter()
        with upstream_timer() as waited:
            try:
                yield entry
            except BaseException:
                entry["status"] = "failed"
                raise
            else:
                entry["status"] = "succeeded"
            finally:
                entry["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
                if waited[0]:
                    # The part of the duration spent waiting on upstream services.
                    entry["upstream_ms"] = round(waited[0] * 1000, 1)
                self.steps.append(dict(sorted(entry.items())))
                self.save()

    def save(self, **fields: Any) -> None:
        """Write the steps (and `fields`) while the record is still pending."""
        for name, value in fields.items():
            setattr(self.deployment, name, value)
        Deployment.objects.filter(pk=self.deployment.pk, status=Status.PENDING).update(
            steps=self.steps, **fields
        )

    def finish(self, status: str, error: dict[str, Any] | None = None) -> None:
        fields = {
            "status": status,
            "error": error,
            "error_code": error["error"] if error else "",
            "finished_at": timezone.now(),
            "steps": self.steps,
        }
        updated = Deployment.objects.filter(pk=self.deployment.pk, status=Status.PENDING).update(
            **fields
        )
        if not updated:
            logger.warning("deployment %s was closed by someone else", self.deployment.pk)
            return
        for name, value in fields.items():
            setattr(self.deployment, name, value)
        deployment = self.deployment
        audit_record(tenant=deployment.tenant, kind=AuditKind.DEPLOY_FINISHED,
                     actor=deployment.actor, target=deployment.pk, status=status,
                     error=fields["error_code"] or None, core_id=deployment.core_id or None,
                     flow_version=deployment.flow_version)  # fmt: skip


def _record_start(*, tenant: Tenant, flow: Flow | None, flow_name: str, actor: str,
                  **fields: Any) -> Deployment:  # fmt: skip
    """Write the pending record; a second pending deploy of the same flow is refused (409),
    and that refused attempt is recorded too."""
    common = {"tenant": tenant, "flow": flow, "flow_name": flow_name, "actor": actor,
              "request_id": current_request_id(), **fields}  # fmt: skip
    try:
        with transaction.atomic():
            deployment = Deployment.objects.create(status=Status.PENDING, **common)
    except IntegrityError:
        running = Deployment.objects.filter(flow=flow, status=Status.PENDING).first()
        error = errors.DeployInProgress(deployment_id=running.pk if running else None)
        detail = error.as_detail()
        Deployment.objects.create(
            status=Status.FAILED, error=detail, error_code=detail["error"],
            finished_at=timezone.now(), **common,
        )  # fmt: skip
        raise error from None
    audit_record(tenant=tenant, kind=AuditKind.DEPLOY_STARTED, actor=actor, target=deployment.pk,
                 flow_id=flow.public_id if flow else None, flow_name=flow_name)  # fmt: skip
    return deployment


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
    abandoned_deployments_close(flow=flow)
    deployment = _record_start(
        tenant=flow.tenant, flow=flow, flow_name=flow.name, actor=actor,
        flow_version=version or flow.version, rollback_of=rollback_of,
    )  # fmt: skip
    run = _Run(deployment)

    def read() -> tuple[dict[str, Any], int]:
        try:
            found = flow_version_content(tenant=flow.tenant, flow=flow, number=version)
        except FlowStorageError as exc:
            raise FlowStorageUnavailable() from exc
        return found.content, found.version.number

    previous = (
        Deployment.objects.filter(flow=flow)
        .exclude(pk=deployment.pk)
        .exclude(core_id="")
        .order_by("-created_at")
        .first()
    )
    return _execute(
        run,
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
    deployment = _record_start(
        tenant=tenant, flow=None, flow_name=name[:200] or "(unsaved flow)", actor=actor
    )
    return _execute(
        _Run(deployment),
        read=lambda: (content, None),
        principal=principal,
        publish_as_model=publish_as_model,
        group_ids=None,
        previous=None,
    )


def _execute(
    run: _Run,
    *,
    read,
    principal: Principal | None,
    publish_as_model: bool | None,
    group_ids: list[str] | None,
    previous: Deployment | None,
) -> Deployment:
    deployment = run.deployment
    try:
        _steps(run, read, principal, publish_as_model, group_ids, previous)
    except ApiError as error:
        error.extra["deployment_id"] = deployment.pk
        status = (
            Status.PUBLISH_FAILED
            if isinstance(error, errors.ScaicorePublishFailed)
            else Status.FAILED
        )
        run.finish(status, error.as_detail())
        raise
    except Exception:
        logger.exception("deployment %s failed unexpectedly", deployment.pk)
        error = internal_error()
        error.extra["deployment_id"] = deployment.pk
        run.finish(Status.FAILED, error.as_detail())
        raise error from None
    run.finish(Status.SUCCEEDED)
    return deployment


def _steps(run, read, principal, publish_as_model, group_ids, previous) -> None:
    deployment = run.deployment
    tenant = deployment.tenant

    with run.step("read"):
        content, version_number = read()
    config = content.get("config") if isinstance(content.get("config"), dict) else {}
    if publish_as_model is None:
        publish_as_model = config.get("publish_as_model") is True
    if group_ids is None:
        configured = config.get("group_ids")
        group_ids = (
            [g for g in configured if isinstance(g, str)] if isinstance(configured, list) else []
        )
    run.save(publish_as_model=publish_as_model, group_ids=group_ids, flow_version=version_number)

    with run.step("compile") as step:
        if deployment.flow is not None:
            result = flow_compile(flow=deployment.flow, content=content, version=version_number)
        else:
            result = flow_compile_content(content)
        step["detail"] = f"{len(result.diagnostics)} diagnostics"
        if not result.ok:
            raise errors.CompileError(messages=[d.as_dict() for d in result.diagnostics])
    manifest = result.manifest
    run.save(manifest=manifest, manifest_sha256=hashlib.sha256(manifest.encode()).hexdigest())

    with run.step("credentials") as step:
        credential: ResolvedCredential = scaigrid_credential_resolve(
            tenant=tenant, principal=principal
        )
        step["detail"] = credential.source
    run.save(auth_source=credential.source)

    scaiqueue = config.get("scaiqueue")
    if isinstance(scaiqueue, dict) and scaiqueue:
        with run.step("provision"):
            _provision(scaiqueue, credential)

    grid = ScaiGridClient(base_url=credential.base_url, credential=credential.secret)
    with run.step("core") as step:
        core_id, action = _create_or_update(grid, manifest, deployment, previous)
        step["detail"] = f"{action} {core_id}"
    run.save(core_id=core_id, core_action=action)

    was_published = bool(previous and previous.published_slug)
    if publish_as_model:
        with run.step("publish"):
            try:
                slug = grid.publish(core_id=core_id, group_ids=group_ids)
            except UpstreamError as exc:
                raise errors.ScaicorePublishFailed(
                    f"ScaiGrid did not publish the Core: {exc.message}",
                    core_id=core_id, status=exc.status,
                ) from None  # fmt: skip
        run.save(published_slug=slug)
        audit_record(tenant=tenant, kind=AuditKind.PUBLISHED, actor=deployment.actor,
                     target=deployment.pk, core_id=core_id, slug=slug,
                     group_ids=group_ids)  # fmt: skip
    elif was_published:
        run.save(published_slug=previous.published_slug)
        with run.step("unpublish"):
            try:
                grid.unpublish(core_id=core_id)
            except UpstreamError as exc:
                raise errors.ScaicoreUnpublishFailed(
                    f"ScaiGrid did not unpublish the Core: {exc.message}",
                    core_id=core_id, status=exc.status,
                ) from None  # fmt: skip
        run.save(published_slug="")
        audit_record(tenant=tenant, kind=AuditKind.UNPUBLISHED, actor=deployment.actor,
                     target=deployment.pk, core_id=core_id)  # fmt: skip


def _provision(scaiqueue: dict[str, Any], credential: ResolvedCredential) -> None:
    client = ScaiQueueClient(base_url=settings.SCAIQUEUE_BASE_URL, credential=credential.secret)
    scope = scaiqueue.get("scope") or {}
    scope_slug = scope.get("slug", "")
    queue_slug = None
    try:
        client.ensure_scope(scope)
        for queue in scaiqueue.get("queues") or []:
            queue_slug = queue.get("slug")
            client.ensure_queue(scope_slug, queue)
    except ProvisionError as exc:
        raise errors.ScaiqueueProvisionFailed(
            exc.message, scope=exc.scope, queue=exc.queue
        ) from None
    except UpstreamError as exc:
        if exc.status in (401, 403):
            message = (
                f"{exc.code}: {exc.message}"
                if exc.code and exc.code != exc.message
                else exc.message
            )
            raise errors.ScaiqueueAuth(message, status=exc.status) from None
        raise errors.ScaiqueueProvisionFailed(
            f"ScaiQueue failed: {exc.message}",
            scope=scope_slug,
            queue=queue_slug,
            status=exc.status,
        ) from None


def _create_or_update(
    grid: ScaiGridClient, manifest: str, deployment: Deployment, previous: Deployment | None
) -> tuple[str, str]:
    try:
        if previous is not None:
            core_id = grid.update_core(core_id=previous.core_id, manifest=manifest)
            if core_id is not None:
                return core_id, CoreAction.UPDATED
        core_id = grid.create_core(manifest=manifest, idempotency_key=deployment.pk)
        return core_id, CoreAction.CREATED
    except UpstreamError as exc:
        raise errors.ScaicoreCreateFailed(
            f"ScaiGrid did not accept the Core: {exc.message}", status=exc.status
        ) from None


def deployment_retry_publish(*, deployment: Deployment, actor: str) -> Deployment:
    """Redeploy a `publish_failed` deployment's flow version with publish on (a new record).

    The publish goes to the same Core (the redeploy updates it) with the same `group_ids`.
    Refused (409 `retry_publish_refused`) unless the deployment is `publish_failed`, its flow
    still exists, and no later deployment of the flow has changed a Core since: retrying then
    would roll the Core back to an older version.
    """
    if deployment.status != Status.PUBLISH_FAILED:
        raise errors.RetryPublishRefused(
            f"the deployment is {deployment.status}, not publish_failed",
            deployment_id=deployment.pk,
        )
    if deployment.flow_id is None:
        raise errors.RetryPublishRefused(
            "the deployment's flow was deleted", deployment_id=deployment.pk
        )
    newer = (
        Deployment.objects.filter(flow_id=deployment.flow_id, created_at__gt=deployment.created_at)
        .exclude(core_id="")
        .order_by("-created_at")
        .first()
    )
    if newer is not None:
        raise errors.RetryPublishRefused(
            f"a later deployment of this flow ({newer.pk}, {newer.status}) changed the Core; "
            "deploy the flow instead",
            deployment_id=deployment.pk,
        )
    return flow_deploy(
        flow=deployment.flow,
        actor=actor,
        version=deployment.flow_version,
        publish_as_model=True,
        group_ids=list(deployment.group_ids or []),
    )


class NotRetryable(ValueError):
    """The deployment cannot be deployed again (its message says why)."""
