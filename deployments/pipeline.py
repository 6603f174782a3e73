"""The deploy pipeline's steps (SPEC §4): read → compile → credentials → provision → Core →
publish, each recorded on the Deployment as it ends.

`deployments.services` holds the entry points (deploy, rollback, retry, legacy deploy) that
start a record and run these steps. A `Deployment` record is written first (`pending`) and
every step's outcome and timing goes onto it as it happens, so an attempt is never lost
whatever fails. Failures are raised as the ApiError of the SPEC's error matrix, carrying
`deployment_id`, after the record is closed.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from deployments import errors
from deployments.clients.http import UpstreamError, upstream_timer
from deployments.clients.scaigrid import ScaiGridClient
from deployments.clients.scaiqueue import ProvisionError, ScaiQueueClient
from deployments.models import CoreAction, Deployment, Status
from flows.models import Flow
from flows.services import flow_compile, flow_compile_content
from scaiflow.core.database import UNAVAILABLE, wait_for_database
from scaiflow.core.database import is_unavailable as is_database_unavailable
from scaiflow.core.errors import ApiError, database_unavailable, internal_error
from scaiflow.identity.principal import Principal
from scaiflow.observability import metrics, tracing
from scaiflow.observability.context import current_request_id, log_context
from tenants.audit import audit_record
from tenants.credentials import ResolvedCredential, scaigrid_credential_resolve
from tenants.models import AuditKind, Tenant

logger = logging.getLogger("scaiflow.deploy")

# How long a record write waits for an unreachable database before the deploy gives up on it.
RECORD_WAIT_SECONDS = 15.0


def abandoned_after() -> timedelta:
    """Past this age a pending record can only belong to a worker that died.

    A deploy makes a bounded number of upstream calls, each bounded by the timeouts and at most
    two retries: SCAIFLOW_DEPLOY_ABANDONED_SECONDS (default 15 minutes) must exceed that.
    """
    return timedelta(seconds=settings.SCAIFLOW_DEPLOY_ABANDONED_SECONDS)


def unrecorded_core_key(deployment_id: str) -> str:
    """Where a Core id waits whose record could not be written (its database was away)."""
    return f"deploy:unrecorded-core:{deployment_id}"


def unrecorded_core_recover(flow: Flow) -> Deployment | None:
    """The latest record of `flow` whose Core id was kept in the cache because the database
    was away when the Core was made, with that Core id now written; None when there is none.

    Only asked when the flow has no record with a Core id, so a redeploy updates the Core its
    cut first deploy made instead of creating a second one.
    """
    candidates = list(
        Deployment.objects.filter(flow=flow, core_id="")
        .order_by("-created_at")
        .values_list("pk", flat=True)[:20]
    )
    if not candidates:
        return None
    kept = cache.get_many([unrecorded_core_key(pk) for pk in candidates])
    for pk in candidates:
        core_id = kept.get(unrecorded_core_key(pk))
        if core_id:
            Deployment.objects.filter(pk=pk, core_id="").update(core_id=core_id)
            cache.delete(unrecorded_core_key(pk))
            return Deployment.objects.only("core_id", "published_slug").get(pk=pk)
    return None


def abandoned_deployments_close(*, flow: Flow | None = None) -> int:
    """Close pending records older than any deploy can take as failed `deploy_abandoned`.

    The Core id they hold is kept, so the next deploy updates that Core.
    """
    stale = Deployment.objects.filter(
        status=Status.PENDING, created_at__lt=timezone.now() - abandoned_after()
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


@dataclass(frozen=True)
class Read:
    """What the read step found: the content, and for a saved flow its version and hash."""

    content: Any
    version: int | None = None
    sha256: str = ""


class Run:
    """One attempt in progress: records each step on the Deployment as it ends."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.steps: list[dict[str, Any]] = []
        self._fields: dict[str, Any] = {}
        self._unsaved: dict[str, Any] = {}  # fields a save could not write (database down)

    def record(self, **fields: Any) -> None:
        """Fields of the record that the running step found out: written (committed) in the
        same update as the step itself when it ends, one write per step."""
        self._fields.update(fields)

    @contextmanager
    def step(self, name: str) -> Iterator[dict[str, Any]]:
        entry: dict[str, Any] = {"name": name, "started_at": timezone.now().isoformat()}
        started = time.perf_counter()
        span = tracing.span(f"deploy {name}", **{"scaiflow.deployment_id": self.deployment.pk})
        with span, upstream_timer() as waited:
            try:
                yield entry
            except BaseException:
                entry["status"] = "failed"
                raise
            else:
                entry["status"] = "succeeded"
            finally:
                seconds = time.perf_counter() - started
                metrics.DEPLOY_STEP_DURATION.labels(name).observe(seconds)
                entry["duration_ms"] = round(seconds * 1000, 1)
                if waited[0]:
                    # The part of the duration spent waiting on upstream services.
                    entry["upstream_ms"] = round(waited[0] * 1000, 1)
                self.steps.append(dict(sorted(entry.items())))
                fields, self._fields = self._fields, {}
                self.save(**fields)

    def save(self, **fields: Any) -> None:
        """Write the steps (and `fields`) while the record is still pending; while the database
        is out of reach, wait for it (bounded): a step may have changed a Core upstream."""
        for name, value in fields.items():
            setattr(self.deployment, name, value)
        self._unsaved.update(fields)
        pending = Deployment.objects.filter(pk=self.deployment.pk, status=Status.PENDING)
        wait_for_database(
            lambda: pending.update(steps=self.steps, **self._unsaved), seconds=RECORD_WAIT_SECONDS
        )
        self._unsaved = {}

    def finish(self, status: str, error: dict[str, Any] | None = None) -> None:
        fields = {
            **self._unsaved,  # a Core id whose save failed is written with the outcome
            "status": status,
            "error": error,
            "error_code": error["error"] if error else "",
            "finished_at": timezone.now(),
            "steps": self.steps,
        }
        pending = Deployment.objects.filter(pk=self.deployment.pk, status=Status.PENDING)
        updated = wait_for_database(lambda: pending.update(**fields), seconds=RECORD_WAIT_SECONDS)
        if not updated:
            logger.warning("deployment %s was closed by someone else", self.deployment.pk)
            return
        metrics.DEPLOYS.labels(status, fields["error_code"]).inc()
        for name, value in fields.items():
            setattr(self.deployment, name, value)
        deployment = self.deployment
        wait_for_database(
            lambda: audit_record(tenant=deployment.tenant, kind=AuditKind.DEPLOY_FINISHED,
                                 actor=deployment.actor, target=deployment.pk, status=status,
                                 error=fields["error_code"] or None,
                                 core_id=deployment.core_id or None,
                                 flow_version=deployment.flow_version),
            seconds=RECORD_WAIT_SECONDS,
        )  # fmt: skip


def record_start(*, tenant: Tenant, flow: Flow | None, flow_name: str, actor: str,
                 **fields: Any) -> Deployment:  # fmt: skip
    """Write the pending record; a second pending deploy of the same flow is refused (409),
    and that refused attempt is recorded too."""
    common = {"tenant": tenant, "flow": flow, "flow_name": flow_name, "actor": actor,
              "request_id": current_request_id(), **fields}  # fmt: skip
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                deployment = Deployment.objects.create(status=Status.PENDING, **common)
            break
        except IntegrityError:
            # The flow has a pending record. One abandoned by a worker that died is closed and
            # this deploy goes ahead (looked for only now: a deploy that is not blocked does
            # not pay for it); a running one refuses it.
            if attempt == 1 and abandoned_deployments_close(flow=flow):
                continue
            running = Deployment.objects.filter(flow=flow, status=Status.PENDING).first()
            error = errors.DeployInProgress(deployment_id=running.pk if running else None)
            detail = error.as_detail()
            Deployment.objects.create(
                status=Status.FAILED, error=detail, error_code=detail["error"],
                finished_at=timezone.now(), **common,
            )  # fmt: skip
            metrics.DEPLOYS.labels(Status.FAILED, detail["error"]).inc()
            raise error from None
    log_context(deployment_id=deployment.pk, flow_id=flow.public_id if flow else None)
    # The pending record holds the flow's deploy lock: do not leave it for a lost audit line.
    wait_for_database(
        lambda: audit_record(tenant=tenant, kind=AuditKind.DEPLOY_STARTED, actor=actor,
                             target=deployment.pk, flow_id=flow.public_id if flow else None,
                             flow_name=flow_name),
        seconds=RECORD_WAIT_SECONDS,
    )  # fmt: skip
    return deployment


def execute(
    run: Run,
    *,
    read: Callable[[], Read],
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
    except UNAVAILABLE as exc:
        if not is_database_unavailable(exc):
            # A deadlock or a statement timeout: a failure of its own, not an outage.
            raise _failed_unexpectedly(run) from None
        # The database went away mid-deploy (and did not come back within the record's wait).
        # Close the record if it can be written now; else it stays pending and is closed as
        # `deploy_abandoned` later, with the Core id it holds, so no Core is made twice.
        error = database_unavailable(exc)
        error.extra["deployment_id"] = deployment.pk
        with contextlib.suppress(*UNAVAILABLE):
            run.finish(Status.FAILED, error.as_detail())
        if deployment.core_id and deployment.status == Status.PENDING:
            # Kept where the next deploy of the flow finds it, should the record never get it.
            cache.set(
                unrecorded_core_key(deployment.pk),
                deployment.core_id,
                timeout=max(86400, 4 * settings.SCAIFLOW_DEPLOY_ABANDONED_SECONDS),
            )
            logger.warning(
                "deployment %s made or updated Core %s; its record stays pending",
                deployment.pk,
                deployment.core_id,
            )
        raise error from None
    except Exception:
        raise _failed_unexpectedly(run) from None
    run.finish(Status.SUCCEEDED)
    return deployment


def _failed_unexpectedly(run: Run) -> ApiError:
    """The record of a deploy that met a bug closed as failed, its traceback logged."""
    logger.exception("deployment %s failed unexpectedly", run.deployment.pk)
    error = internal_error()
    error.extra["deployment_id"] = run.deployment.pk
    run.finish(Status.FAILED, error.as_detail())
    return error


def _publish_settings(
    config: dict[str, Any], publish_as_model: bool | None, group_ids: list[str] | None
) -> tuple[bool, list[str]]:
    """What the caller asked for, else what the flow's `config` says."""
    if publish_as_model is None:
        publish_as_model = config.get("publish_as_model") is True
    if group_ids is None:
        configured = config.get("group_ids")
        group_ids = (
            [g for g in configured if isinstance(g, str)] if isinstance(configured, list) else []
        )
    return publish_as_model, group_ids


def _steps(run: Run, read: Callable[[], Read], principal, publish_as_model, group_ids,
           previous) -> None:  # fmt: skip
    deployment = run.deployment
    tenant = deployment.tenant

    with run.step("read"):
        found = read()
        content = found.content
        config = content.get("config") if isinstance(content.get("config"), dict) else {}
        publish_as_model, group_ids = _publish_settings(config, publish_as_model, group_ids)
        run.record(publish_as_model=publish_as_model, group_ids=group_ids,
                   flow_version=found.version)  # fmt: skip

    with run.step("compile") as step:
        if deployment.flow is not None:
            result = flow_compile(
                flow=deployment.flow,
                content=content,
                version=found.version,
                content_sha256=found.sha256,
            )
        else:
            result = flow_compile_content(content)
        step["detail"] = f"{len(result.diagnostics)} diagnostics"
        if not result.ok:
            raise errors.CompileError(messages=[d.as_dict() for d in result.diagnostics])
        manifest = result.manifest
        run.record(manifest=manifest,
                   manifest_sha256=hashlib.sha256(manifest.encode()).hexdigest())  # fmt: skip

    with run.step("credentials") as step:
        credential: ResolvedCredential = scaigrid_credential_resolve(
            tenant=tenant, principal=principal
        )
        step["detail"] = credential.source
        run.record(auth_source=credential.source)

    scaiqueue = config.get("scaiqueue")
    if isinstance(scaiqueue, dict) and scaiqueue:
        with run.step("provision"):
            _provision(scaiqueue, credential)

    grid = ScaiGridClient(base_url=credential.base_url, credential=credential.secret)
    with run.step("core") as step:
        core_id, action = _create_or_update(grid, manifest, deployment, previous)
        step["detail"] = f"{action} {core_id}"
        run.record(core_id=core_id, core_action=action)

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
            run.record(published_slug=slug)
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
            run.record(published_slug="")
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
