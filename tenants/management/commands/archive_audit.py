from datetime import UTC, datetime, time

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime

from deployments.management.cli import cli_actor
from tenants.archive import ArchiveVerifyError, audit_archive


def moment(raw: str) -> datetime:
    """A date (midnight UTC) or an ISO 8601 date-time with its offset."""
    day = parse_date(raw)
    if day is not None:
        return datetime.combine(day, time.min, tzinfo=UTC)
    try:
        value = parse_datetime(raw)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise ValueError(f"{raw!r} is not a date (2026-01-31) or a date-time with an offset")
    return value


class Command(BaseCommand):
    help = (
        "Move the audit entries created before --before to one gzip JSON Lines object in the "
        "flow storage (local or S3), verify it reads back, then delete exactly those entries, "
        "in batches. Each tenant concerned gets an audit.archived entry naming the object. "
        "The only way an audit entry ever leaves the database."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--before",
            required=True,
            help="archive entries created before this date (UTC midnight) or date-time",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="count what it would archive; change nothing"
        )

    def handle(self, *args, before, dry_run, **options):
        try:
            cutoff = moment(before)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if cutoff.date() >= datetime.now(UTC).date():
            raise CommandError("--before must be a day before today")

        def on_progress(what: str, count: int) -> None:
            self.stderr.write(f"{count} entries {what}", style_func=str)

        try:
            result = audit_archive(
                before=cutoff,
                actor=cli_actor(),
                dry_run=dry_run,
                on_progress=on_progress,
            )
        except ArchiveVerifyError as exc:
            raise CommandError(str(exc)) from None
        except OSError as exc:
            raise CommandError(f"flow storage failed: {exc}") from None
        tenants = ", ".join(f"{slug} {n}" for slug, n in sorted(result.per_tenant.items()))
        if dry_run:
            self.stdout.write(
                f"dry run: would archive {result.count} entries ({tenants or 'none'})"
            )
        elif result.key is None:
            self.stdout.write(f"no audit entries before {cutoff.isoformat()}")
        else:
            self.stdout.write(
                f"archived {result.count} entries ({tenants}) to {result.key} "
                f"(sha256 {result.sha256}), verified, deleted"
            )
