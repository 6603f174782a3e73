from django.core.management.base import BaseCommand, CommandError

from deployments.maintenance import deployments_prune
from deployments.management.cli import DURATION_HELP, duration, non_negative_int


class Command(BaseCommand):
    help = (
        "Delete finished deployment records older than --older-than, and close pending ones "
        "whose worker died (as failed deploy_abandoned). Never deleted: a flow's latest "
        "successful deployment, its latest one holding a Core id (the Core redeploys update), "
        "its --keep-last most recent ones, and pending records."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            type=duration,
            required=True,
            help=f"delete records older than this, at least 1d: {DURATION_HELP}",
        )
        parser.add_argument(
            "--keep-last",
            type=non_negative_int,
            default=5,
            help="always keep each flow's this many most recent records (default 5)",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="count what it would do; change nothing"
        )

    def handle(self, *args, older_than, keep_last, dry_run, **options):
        # Progress on stderr, redrawn in place on a terminal: stdout keeps the one summary line.
        redraw = "\r\033[K" if self.stderr.isatty() else ""

        def on_batch(seen: int, deleted: int) -> None:
            verb = "would delete" if dry_run else "deleted"
            line = f"{redraw}{seen} old record(s) read, {deleted} {verb}"
            self.stderr.write(line, style_func=str, ending="" if redraw else "\n")
            self.stderr.flush()

        try:
            result = deployments_prune(
                older_than=older_than, keep_last=keep_last, dry_run=dry_run, on_batch=on_batch
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if redraw:
            self.stderr.write("")
        if dry_run:
            self.stdout.write(
                f"dry run: would close {result.closed} abandoned pending deployment(s), "
                f"delete {result.deleted}, keep {result.kept} old one(s) by the keep rules"
            )
            return
        self.stdout.write(
            f"closed {result.closed} abandoned pending deployment(s), deleted {result.deleted}, "
            f"kept {result.kept} old one(s) by the keep rules"
        )
