"""Operator services on many deployments at once: bulk redeploy and pruning (SPEC §8).

Kept out of `services.py`, which holds the deploy pipeline itself; these only call it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import connection
from django.db.models import F, OuterRef, QuerySet, Subquery
from django.db.models.expressions import Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from deployments.models import Deployment, Status
from deployments.services import abandoned_after, abandoned_deployments_close, flow_deploy
from flows.models import Flow
from scaiflow.errors import ApiError, internal_error

logger = logging.getLogger("scaiflow.deploy")

# Pruning younger records would race deploys still being looked at; a day is a floor, not a
# policy (operators choose e.g. 90d).
MIN_PRUNE_AGE = timedelta(days=1)
_DELETE_BATCH = 500


@dataclass(frozen=True)
class RedeployOutcome:
    """One flow's redeploy: the record it left (when the pipeline got that far) or the error."""

    flow: Flow
    deployment: Deployment | None
    error: ApiError | None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def deployment_id(self) -> str | None:
        if self.deployment is not None:
            return self.deployment.pk
        return self.error.extra.get("deployment_id") if self.error else None


@dataclass
class RedeployReport:
    total: int
    outcomes: list[RedeployOutcome] = field(default_factory=list)
    interrupted: bool = False

    @property
    def succeeded(self) -> list[RedeployOutcome]:
        return [outcome for outcome in self.outcomes if outcome.ok]

    @property
    def failed(self) -> list[RedeployOutcome]:
        return [outcome for outcome in self.outcomes if not outcome.ok]

    @property
    def not_started(self) -> int:
        return self.total - len(self.outcomes)


def _publish_settings(flow: Flow) -> tuple[bool | None, list[str] | None]:
    """The publish settings of the flow's last deploy that reached ScaiGrid, so a bulk
    redeploy neither unpublishes a model published through the API nor publishes one that
    was not; None (the flow's config) when there is none."""
    last = (
        Deployment.objects.filter(flow=flow, status__in=[Status.SUCCEEDED, Status.PUBLISH_FAILED])
        .order_by("-created_at")
        .first()
    )
    if last is None:
        return None, None
    return last.publish_as_model, list(last.group_ids or [])


def flow_redeploy(*, flow: Flow, actor: str) -> RedeployOutcome:
    """Redeploy `flow`'s current version with its last publish settings; never raises."""
    try:
        publish_as_model, group_ids = _publish_settings(flow)
        deployment = flow_deploy(
            flow=flow, actor=actor, publish_as_model=publish_as_model, group_ids=group_ids
        )
        return RedeployOutcome(flow=flow, deployment=deployment, error=None)
    except ApiError as error:
        return RedeployOutcome(flow=flow, deployment=None, error=error)
    except Exception:
        logger.exception("redeploy of flow %s failed unexpectedly", flow.public_id)
        return RedeployOutcome(flow=flow, deployment=None, error=internal_error())
    finally:
        # Worker threads each hold their own connection; give it back when done.
        connection.close()


def flows_redeploy(
    *,
    flows: Sequence[Flow],
    actor: str,
    concurrency: int = 4,
    on_outcome: Callable[[RedeployOutcome], None] | None = None,
    on_interrupt: Callable[[int], None] | None = None,
) -> RedeployReport:
    """Redeploy each of `flows` (current version), `concurrency` at a time, past failures.

    `on_outcome` is called in the calling thread as each one ends. A KeyboardInterrupt stops
    the submitting (`on_interrupt` is told how many are still running): the deploys already
    running finish (their records close), the rest are not started, and the report says
    `interrupted`.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    report = RedeployReport(total=len(flows))
    waiting = iter(flows)
    running: dict[Future[RedeployOutcome], Flow] = {}

    def collect(done: set[Future[RedeployOutcome]]) -> None:
        for future in done:
            running.pop(future)
            outcome = future.result()
            report.outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="redeploy") as pool:
        try:
            while True:
                while len(running) < concurrency and (flow := next(waiting, None)) is not None:
                    running[pool.submit(flow_redeploy, flow=flow, actor=actor)] = flow
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                collect(done)
        except KeyboardInterrupt:
            report.interrupted = True
            if on_interrupt is not None:
                on_interrupt(len(running))
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                collect(done)
    return report


@dataclass(frozen=True)
class PruneResult:
    closed: int  # abandoned pending records closed as failed (would be, on a dry run)
    deleted: int  # records deleted (would be, on a dry run)
    kept: int  # records old enough but kept by the keep rules


def _kept_ids(old: QuerySet[Deployment], keep_last: int) -> set[str]:
    """Of the flows that have old records: each one's latest successful deployment, its
    latest deployment holding a Core id (what the next deploy updates) and its `keep_last`
    most recent ones."""
    flows = old.exclude(flow=None).values("flow_id")
    of_flows = Deployment.objects.filter(flow_id__in=flows)

    def newest(**conditions) -> set[str]:
        latest = (
            Deployment.objects.filter(flow=OuterRef("flow"), **conditions)
            .order_by("-created_at")
            .values("pk")[:1]
        )
        return set(of_flows.filter(pk=Subquery(latest)).values_list("pk", flat=True))

    kept = newest(status=Status.SUCCEEDED) | newest(core_id__gt="")
    if keep_last > 0:
        ranked = of_flows.annotate(
            rank=Window(RowNumber(), partition_by=[F("flow")], order_by=F("created_at").desc())
        ).filter(rank__lte=keep_last)
        kept |= set(ranked.values_list("pk", flat=True))
    return kept


def deployments_prune(
    *, older_than: timedelta, keep_last: int = 0, dry_run: bool = False
) -> PruneResult:
    """Close abandoned pending records, then delete finished records older than `older_than`.

    Never deleted: a flow's latest successful deployment, its latest deployment holding a Core
    id (the Core id redeploys update), its `keep_last` most recent ones, and pending records.
    Records of deleted flows and of the legacy deploy go by age alone.
    """
    if older_than < MIN_PRUNE_AGE:
        raise ValueError(f"older_than must be at least {MIN_PRUNE_AGE.days} day")
    if keep_last < 0:
        raise ValueError("keep_last must not be negative")
    if dry_run:
        closed = Deployment.objects.filter(
            status=Status.PENDING, created_at__lt=timezone.now() - abandoned_after()
        ).count()
    else:
        closed = abandoned_deployments_close()
    old = Deployment.objects.filter(created_at__lt=timezone.now() - older_than).exclude(
        status=Status.PENDING
    )
    old_ids = list(old.values_list("pk", flat=True).iterator())
    kept = _kept_ids(old, keep_last)
    doomed = [pk for pk in old_ids if pk not in kept]
    if not dry_run:
        for start in range(0, len(doomed), _DELETE_BATCH):
            batch = doomed[start : start + _DELETE_BATCH]
            Deployment.objects.filter(pk__in=batch).exclude(status=Status.PENDING).delete()
    return PruneResult(closed=closed, deleted=len(doomed), kept=len(old_ids) - len(doomed))
