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
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from deployments.models import Deployment, Status
from deployments.services import abandoned_after, abandoned_deployments_close, flow_deploy
from flows.models import Flow
from scaiflow.errors import ApiError, internal_error

logger = logging.getLogger("scaiflow.deploy")

# Pruning younger records would race deploys still being looked at; a day is a floor, not a
# policy (operators choose e.g. 90d).
MIN_PRUNE_AGE = timedelta(days=1)
_PRUNE_BATCH = 500


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


def _newest(*, keep_last: int = 1, **conditions) -> Subquery:
    """The `keep_last`-th newest deployment of the outer flow meeting `conditions`: one probe
    of the (flow, created_at, id) index per flow."""
    newest = Deployment.objects.filter(flow=OuterRef("pk"), **conditions).order_by(
        "-created_at", "-pk"
    )
    return newest[keep_last - 1 : keep_last]


def _keepers(flow_ids: set[int], keep_last: int) -> tuple[set[str], dict[int, tuple]]:
    """Of `flow_ids`: each one's latest successful deployment and latest one holding a Core id
    (what the next deploy updates); and, with `keep_last`, the (created_at, id) of its
    `keep_last`-th most recent one, from which on everything is kept. One query."""
    columns = {
        "succeeded": Subquery(_newest(status=Status.SUCCEEDED).values("pk")),
        "core": Subquery(_newest(core_id__gt="").values("pk")),
    }
    if keep_last > 0:
        columns["last_at"] = Subquery(_newest(keep_last=keep_last).values("created_at"))
        columns["last_pk"] = Subquery(_newest(keep_last=keep_last).values("pk"))
    kept, recent_from = set(), {}
    for row in Flow.objects.filter(pk__in=flow_ids).values("pk", **columns):
        kept |= {row["succeeded"], row["core"]} - {None}
        if keep_last > 0:
            # None: the flow has fewer than keep_last records, all of them recent.
            recent_from[row["pk"]] = (row["last_at"], row["last_pk"])
    return kept, recent_from


def deployments_prune(
    *,
    older_than: timedelta,
    keep_last: int = 0,
    dry_run: bool = False,
    batch_size: int = _PRUNE_BATCH,
    on_batch: Callable[[int, int], None] | None = None,
) -> PruneResult:
    """Close abandoned pending records, then delete finished records older than `older_than`.

    Never deleted: a flow's latest successful deployment, its latest deployment holding a Core
    id (the Core id redeploys update), its `keep_last` most recent ones, and pending records.
    Records of deleted flows and of the legacy deploy go by age alone.

    Flows are taken `batch_size` at a time: one query finds their keep rules (a few index
    probes per flow), one reads their old records (the (flow, created_at) index), and the
    doomed ones go in one statement; then the records without a flow, `batch_size` at a time.
    Time grows with the records, memory only with a batch. `on_batch(seen, deleted)` is told
    the running totals after each batch.
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
    old = (
        Deployment.objects.filter(created_at__lt=timezone.now() - older_than)
        .exclude(status=Status.PENDING)
        .values_list("pk", "flow_id", "created_at")
    )
    seen = deleted = 0

    def batch_done(rows: list, doomed: list[str]) -> None:
        nonlocal seen, deleted
        if doomed and not dry_run:
            # Two statements, where Django's delete() would load the rows and delete them 100
            # at a time: rollbacks of a doomed record forget it (SET_NULL), then it goes.
            Deployment.objects.filter(rollback_of__in=doomed).update(rollback_of=None)
            doomed_rows = Deployment.objects.filter(pk__in=doomed).exclude(status=Status.PENDING)
            doomed_rows._raw_delete(doomed_rows.db)
        seen += len(rows)
        deleted += len(doomed)
        if on_batch is not None:
            on_batch(seen, deleted)

    flows = Flow.objects.order_by("pk").values_list("pk", flat=True)
    after = 0
    while flow_ids := list(flows.filter(pk__gt=after)[:batch_size]):
        after = flow_ids[-1]
        rows = list(old.filter(flow_id__in=flow_ids))
        if not rows:
            continue
        kept, recent_from = _keepers({flow for _, flow, _ in rows}, keep_last)
        batch_done(
            rows,
            [
                pk
                for pk, flow, created_at in rows
                if pk not in kept and not _recent(recent_from.get(flow), created_at, pk)
            ],
        )

    # Legacy records and those of deleted flows: by age alone, oldest first.
    flowless = old.filter(flow=None).order_by("created_at", "pk")
    edge = None
    while True:
        batch = flowless
        if edge is not None:
            at, pk = edge
            later = Q(created_at__gt=at) | Q(created_at=at, pk__gt=pk)
            batch = flowless.filter(later, created_at__gte=at)
        rows = list(batch[:batch_size])
        if not rows:
            break
        edge = rows[-1][2], rows[-1][0]
        batch_done(rows, [pk for pk, _, _ in rows])
    return PruneResult(closed=closed, deleted=deleted, kept=seen - deleted)


def _recent(threshold: tuple | None, created_at, pk) -> bool:
    """Among its flow's `keep_last` most recent: at or after the keep_last-th newest."""
    if threshold is None:
        return False
    last_at, last_pk = threshold
    return last_at is None or (created_at, pk) >= (last_at, last_pk)
