import json
from datetime import UTC

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from deployments.api import DeploymentOutput
from deployments.management.cli import DURATION_HELP, duration, one_line, positive_int
from deployments.models import Status
from deployments.selectors import FAILED_STATUSES, deployments_search
from tenants.models import Tenant

COLUMNS = ("ID", "TENANT", "FLOW", "VER", "STATUS", "ERROR", "CORE", "CREATED (UTC)")
FLOW_WIDTH = 32


class Command(BaseCommand):
    help = (
        "List deployment records, newest first, of every tenant or one: a table by default, "
        "JSON (the API's deployment objects plus `tenant`) with --format json."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--failed", action="store_true", help="only failed and publish_failed deployments"
        )
        parser.add_argument(
            "--status", choices=Status.values, default=None, help="only deployments in this status"
        )
        parser.add_argument(
            "--since", type=duration, default=None, help=f"only those this recent: {DURATION_HELP}"
        )
        parser.add_argument("--tenant", default=None, help="only this tenant's (its slug)")
        parser.add_argument(
            "--format",
            choices=("table", "json"),
            default="table",
            help="table (for people, the default) or json (for scripts)",
        )
        parser.add_argument(
            "--limit", type=positive_int, default=50, help="at most this many (default 50)"
        )

    def handle(self, *args, failed, status, since, tenant, format, limit, **options):
        if failed and status and status not in FAILED_STATUSES:
            raise CommandError(f"--failed and --status {status} exclude each other")
        record = None
        if tenant is not None:
            record = Tenant.objects.filter(slug=tenant).first()
            if record is None:
                raise CommandError(f"tenant '{tenant}' does not exist")
        statuses = [status] if status else list(FAILED_STATUSES) if failed else []
        deployments = list(
            deployments_search(
                tenant=record,
                statuses=statuses,
                since=timezone.now() - since if since else None,
            )[:limit]
        )
        if format == "json":
            rows = [
                {"tenant": deployment.tenant.slug, **DeploymentOutput(deployment).data}
                for deployment in deployments
            ]
            self.stdout.write(json.dumps(rows, indent=2))
            return
        if not deployments:
            self.stdout.write("no deployments match")
            return
        self._table([self._row(deployment) for deployment in deployments])

    def _row(self, deployment) -> tuple[str, ...]:
        flow = one_line(deployment.flow_name)
        if len(flow) > FLOW_WIDTH:
            flow = flow[: FLOW_WIDTH - 1] + "…"
        return (
            deployment.pk,
            deployment.tenant.slug,
            flow,
            str(deployment.flow_version or "-"),
            deployment.status,
            deployment.error_code or "-",
            deployment.core_id or "-",
            deployment.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
        )

    def _table(self, rows: list[tuple[str, ...]]) -> None:
        widths = [max(len(row[i]) for row in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
        for row in [COLUMNS, *rows]:
            cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            self.stdout.write("  ".join(cells).rstrip())
