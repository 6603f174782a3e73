"""Operator services on many deployments at once: bulk redeploy and pruning (SPEC §8).

Kept out of `services.py`, which holds the deploy pipeline itself; these only call it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from deployments.models import Deployment, Status
from deployments.services import abandoned_after, abandoned_deployments_close, flow_deploy
from flows.models import Flow
from scaiflow.core.errors import ApiError, internal_error
from scaiflow.core.keyset import keyset_beyond

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


# One rule row per flow of a range (`first`..`last`): its latest successful record, its latest
# one holding a Core id (what the next deploy updates) and its `keep_last`-th most recent one,
# from which on all are kept (NULL: it has fewer) - each one probe of the (flow, created_at,
# id) index. MATERIALIZED: once per flow, not once per record. The statements that follow
# judge each old record (`_OLD`, alias d) against its flow's row (`_DOOMED`, alias r) in the
# database: no record travels to Python. Plain SQL that PostgreSQL and SQLite share.
_RULES = """
WITH rules AS MATERIALIZED (
    SELECT f.id AS flow_id,
        (SELECT k.id FROM {deployments} k WHERE k.flow_id = f.id AND k.status = %(succeeded)s
         ORDER BY k.created_at DESC, k.id DESC LIMIT 1) AS succeeded_id,
        (SELECT k.id FROM {deployments} k WHERE k.flow_id = f.id AND k.core_id <> ''
         ORDER BY k.created_at DESC, k.id DESC LIMIT 1) AS core_holder_id,
        (SELECT k.created_at FROM {deployments} k WHERE k.flow_id = f.id
         ORDER BY k.created_at DESC, k.id DESC LIMIT 1 OFFSET %(skip)s) AS recent_at,
        (SELECT k.id FROM {deployments} k WHERE k.flow_id = f.id
         ORDER BY k.created_at DESC, k.id DESC LIMIT 1 OFFSET %(skip)s) AS recent_id
    FROM {flows} f WHERE f.id >= %(first)s AND f.id <= %(last)s
)"""
_OLD = """d.flow_id >= %(first)s AND d.flow_id <= %(last)s
    AND d.created_at < %(before)s AND d.status <> %(pending)s"""
_DOOMED = """d.id <> COALESCE(r.succeeded_id, '') AND d.id <> COALESCE(r.core_holder_id, '')
    AND (%(keep_none)s OR d.created_at < r.recent_at
         OR (d.created_at = r.recent_at AND d.id < r.recent_id))"""

# How many old records of the range there are, and how many of them the rules let go.
_COUNT_SQL = """{rules}
SELECT COUNT(*), COALESCE(SUM(CASE WHEN {doomed} THEN 1 ELSE 0 END), 0)
FROM {{deployments}} d JOIN rules r ON r.flow_id = d.flow_id WHERE {old}"""

# Delete them; rollbacks of a deleted record forget it (SET_NULL, which the database does not
# do itself: see the model). PostgreSQL in one statement, the rules applied once; SQLite in
# two. The last statement reads, as the count does, how many old records there were (on
# PostgreSQL the statement's snapshot still holds them all) and how many went.
_DELETE_SQL = {
    "postgresql": [
        """{rules}, gone AS (
    DELETE FROM {{deployments}} AS d
    WHERE {old} AND EXISTS (SELECT 1 FROM rules r WHERE r.flow_id = d.flow_id AND {doomed})
    RETURNING d.id
), forgot AS (
    UPDATE {{deployments}} SET rollback_of_id = NULL
    WHERE rollback_of_id IN (SELECT id FROM gone) AND NOT id IN (SELECT id FROM gone)
)
SELECT (SELECT COUNT(*) FROM {{deployments}} d WHERE {old}), (SELECT COUNT(*) FROM gone)"""
    ],
    "sqlite": [
        """{rules}
UPDATE {{deployments}} SET rollback_of_id = NULL WHERE rollback_of_id IN (
    SELECT d.id FROM {{deployments}} AS d WHERE {old}
    AND EXISTS (SELECT 1 FROM rules r WHERE r.flow_id = d.flow_id AND {doomed}))""",
        """{rules}
DELETE FROM {{deployments}} AS d
WHERE {old} AND EXISTS (SELECT 1 FROM rules r WHERE r.flow_id = d.flow_id AND {doomed})""",
        "SELECT (SELECT COUNT(*) FROM {{deployments}} d WHERE {old}) + changes(), changes()",
    ],
}


def _sql(template: str) -> str:
    sql = template.format(rules=_RULES, old=_OLD, doomed=_DOOMED)
    return sql.format(deployments=Deployment._meta.db_table, flows=Flow._meta.db_table)


def _params(*, before: datetime, keep_last: int) -> dict:
    """The statements' parameters but the batch's flow range (`first`, `last`)."""
    return {
        "succeeded": Status.SUCCEEDED,
        "pending": Status.PENDING,
        "skip": max(keep_last - 1, 0),
        "keep_none": keep_last == 0,
        "before": connection.ops.adapt_datetimefield_value(before),
    }


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

    Set-based, in batches: flows are taken `batch_size` at a time and SQL statements apply the
    keep rules to their old records (`_RULES`); then the records without a flow go,
    `batch_size` at a time, oldest first. No record is read into Python: time grows with the
    records, memory does not. Each batch is its own transaction. `on_batch(seen, deleted)` is
    told the running totals after each batch.
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
    before = timezone.now() - older_than
    params = _params(before=before, keep_last=keep_last)
    seen = deleted = 0

    def batch_done(read: int, doomed: int) -> None:
        nonlocal seen, deleted
        seen += read
        deleted += doomed
        if on_batch is not None:
            on_batch(seen, deleted)

    flows = Flow.objects.order_by("pk").values_list("pk", flat=True)
    after = 0
    while flow_ids := list(flows.filter(pk__gt=after)[:batch_size]):
        after = flow_ids[-1]
        batch = {**params, "first": flow_ids[0], "last": flow_ids[-1]}
        with transaction.atomic(), connection.cursor() as cursor:
            for sql in [_COUNT_SQL] if dry_run else _DELETE_SQL[connection.vendor]:
                cursor.execute(_sql(sql), batch)
            read, doomed = cursor.fetchone()
        if read:
            batch_done(read, doomed)

    # Legacy records and those of deleted flows: by age alone, oldest first, a batch at a time
    # up to a (created_at, id) edge: only each batch's last record is read.
    flowless = Deployment.objects.filter(flow=None, created_at__lt=before).exclude(
        status=Status.PENDING
    )
    rest = flowless
    while True:
        edge = (
            rest.order_by("created_at", "pk")
            .values_list("created_at", "pk")[batch_size - 1 : batch_size]
            .first()
        )
        batch = rest
        if edge is not None:
            batch = rest.filter(keyset_beyond(*edge, older=True, inclusive=True))
        with transaction.atomic():
            count = batch.count()
            if count and not dry_run:
                Deployment.objects.filter(rollback_of__in=batch.values("pk")).update(
                    rollback_of=None
                )
                batch.order_by()._raw_delete(batch.db)
        if count:
            batch_done(count, count)
        if edge is None:
            break
        rest = flowless.filter(keyset_beyond(*edge, older=False))
    return PruneResult(closed=closed, deleted=deleted, kept=seen - deleted)
