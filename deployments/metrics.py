"""Deployment metrics read at scrape time (docs/operators.md, Monitoring)."""

from __future__ import annotations

import logging

from django.db import DatabaseError
from prometheus_client.core import GaugeMetricFamily

from deployments.models import Deployment, Status
from scaiflow.core import database

logger = logging.getLogger("scaiflow.metrics")


class PendingDeployments:
    """`scaiflow_deployments_pending`: read from the database at scrape time (one indexed
    count), so every worker answers the same and nothing needs keeping up to date.

    While the database is down the metric is left out and `/metrics` still answers. The
    outage is logged once, when the first scrape meets it, as one line (a scrape comes every
    few seconds; a traceback each would bury the log), and its end once too."""

    def __init__(self) -> None:
        self.database_down = False

    def collect(self):
        try:
            pending = Deployment.objects.filter(status=Status.PENDING).count()
        except DatabaseError as exc:
            if not self.database_down:
                self.database_down = True
                logger.warning(
                    "scaiflow_deployments_pending left out while the database is unavailable: %s",
                    database.describe(exc),
                )
            return []
        if self.database_down:
            self.database_down = False
            logger.info("scaiflow_deployments_pending: the database answers again")
        gauge = GaugeMetricFamily(
            "scaiflow_deployments_pending", "Deployment records still pending (running)."
        )
        gauge.add_metric([], pending)
        return [gauge]

    def describe(self):
        return []


PENDING = PendingDeployments()
