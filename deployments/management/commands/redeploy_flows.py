from django.core.management.base import BaseCommand, CommandError

from deployments.maintenance import RedeployOutcome, flows_redeploy
from deployments.management.cli import cli_actor, error_line, one_line, positive_int
from deployments.selectors import flows_for_redeploy
from tenants.models import Tenant

MAX_CONCURRENCY = 32
BAR_WIDTH = 30
# The shell's convention for "stopped by Ctrl-C" (128 + SIGINT).
INTERRUPTED_EXIT = 130


class Progress:
    """A progress bar redrawn in place on a terminal; one plain line per flow otherwise."""

    def __init__(self, out, total: int) -> None:
        self.out = out
        self.total = total
        self.tty = out.isatty()
        self.done = 0
        self.failed = 0

    def outcome(self, outcome: RedeployOutcome) -> None:
        self.done += 1
        self.failed += not outcome.ok
        if not self.tty:
            self.out.write(f"[{self.done}/{self.total}] {describe(outcome)}")
            return
        if not outcome.ok:
            self.out.write("\r\033[K" + describe(outcome))
        self._draw()

    def message(self, text: str) -> None:
        """A line of its own; on a terminal, printed above the bar."""
        if self.tty:
            self.out.write("\r\033[K" + text)
            self._draw()
        else:
            self.out.write(text)

    def start(self) -> None:
        if self.tty:
            self._draw()

    def end(self) -> None:
        if self.tty:
            self.out.write("")

    def _draw(self) -> None:
        filled = BAR_WIDTH * self.done // self.total if self.total else BAR_WIDTH
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        self.out.write(
            f"\r\033[K[{bar}] {self.done}/{self.total}  ok {self.done - self.failed}  "
            f"failed {self.failed}",
            ending="",
        )
        self.out.flush()


def describe(outcome: RedeployOutcome) -> str:
    flow = f"{outcome.flow.public_id} ({one_line(outcome.flow.name)})"
    if outcome.ok:
        deployment = outcome.deployment
        return f"ok     {flow}: {deployment.pk} {deployment.core_action} {deployment.core_id}"
    return f"FAILED {flow}: {error_line(outcome.error)}"


class Command(BaseCommand):
    help = (
        "Redeploy the current version of every flow deployed at least once (e.g. after a "
        "ScaiGrid migration), keeping each flow's last publish settings. Continues past "
        "failures, summarises them, and exits 1 if any failed. Ctrl-C stops starting new "
        "deploys, lets the running ones finish, and exits 130."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", default=None, help="only this tenant's flows (its slug)")
        parser.add_argument(
            "--only-failed",
            action="store_true",
            help="only flows whose latest deployment failed or failed to publish",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="list the flows it would redeploy; deploy none"
        )
        parser.add_argument(
            "--concurrency",
            type=positive_int,
            default=4,
            help=f"deploys running at once (default 4, at most {MAX_CONCURRENCY})",
        )

    def handle(self, *args, tenant, only_failed, dry_run, concurrency, **options):
        if concurrency > MAX_CONCURRENCY:
            raise CommandError(f"--concurrency is at most {MAX_CONCURRENCY}")
        record = None
        if tenant is not None:
            record = Tenant.objects.filter(slug=tenant).first()
            if record is None:
                raise CommandError(f"tenant '{tenant}' does not exist")
        flows = flows_for_redeploy(tenant=record, only_failed=only_failed)
        if not flows:
            self.stdout.write("no flows to redeploy")
            return
        if dry_run:
            self.stdout.write(f"would redeploy {len(flows)} flow(s):")
            for flow in flows:
                where = f"{flow.public_id}  {flow.tenant.slug}  v{flow.version}"
                self.stdout.write(f"  {where}  {one_line(flow.name)}")
            return

        self.stdout.write(f"redeploying {len(flows)} flow(s), {concurrency} at a time")
        progress = Progress(self.stdout, len(flows))
        progress.start()
        report = flows_redeploy(
            flows=flows,
            actor=cli_actor(),
            concurrency=concurrency,
            on_outcome=progress.outcome,
            on_interrupt=lambda running: progress.message(
                f"interrupted: starting no more; waiting for {running} running deploy(s)"
            ),
        )
        progress.end()

        failed = report.failed
        self.stdout.write(
            f"{len(report.outcomes)} of {report.total} flow(s) redeployed: "
            f"{len(report.succeeded)} succeeded, {len(failed)} failed"
            + (f", {report.not_started} not started" if report.not_started else "")
        )
        for outcome in failed:
            self.stdout.write(f"  {describe(outcome)}")
        if report.interrupted:
            raise CommandError(
                f"interrupted: {report.not_started} flow(s) not started",
                returncode=INTERRUPTED_EXIT,
            )
        if failed:
            raise CommandError(f"{len(failed)} of {report.total} redeploy(s) failed")
