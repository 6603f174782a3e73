"""`archive_audit --before DATE`: old entries to one gzip JSON Lines object, verified, then
deleted (exactly those), and an `audit.archived` entry per tenant."""

from __future__ import annotations

import gzip
import io
import json
from collections import Counter
from datetime import UTC, datetime

import pytest
from django.core.files.storage import storages
from django.core.management import CommandError, call_command

from tenants import archive
from tenants.models import AuditEntry, Tenant

OLD = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
NEW = datetime(2025, 9, 1, 12, 0, tzinfo=UTC)


def run(*args) -> str:
    out = io.StringIO()
    call_command("archive_audit", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def entry(tenant, at, **fields) -> AuditEntry:
    fields = {"kind": "flow.updated", "actor": "scaikey:alice", **fields}
    made = AuditEntry.objects.create(tenant=tenant, **fields)
    AuditEntry.objects.filter(pk=made.pk).update(created_at=at)
    return made


@pytest.fixture
def entries(db):
    acme, _ = Tenant.objects.get_or_create(slug="acme")
    globex, _ = Tenant.objects.get_or_create(slug="globex")
    old = [entry(acme, OLD, target=f"flw_{n}", data={"n": n, "ü": "ß"}) for n in range(3)]
    old.append(entry(globex, OLD, kind="deploy.finished", target="dep_1"))
    new = [entry(acme, NEW, target="flw_new")]
    return old, new


def stored_lines(key: str) -> list[dict]:
    with storages["flows"].open(key, "rb") as stored:
        return [json.loads(line) for line in gzip.decompress(stored.read()).splitlines()]


def test_archives_verifies_and_deletes_exactly_the_old_entries(entries):
    old, new = entries
    output = run("--before", "2025-06-01")
    key = output.split(" to ")[1].split(" ")[0]
    assert output.startswith("archived 4 entries (acme 3, globex 1) to _audit-archive/")
    lines = stored_lines(key)
    assert [line["id"] for line in lines] == [e.pk for e in old]
    assert lines[0] == {
        "id": old[0].pk,
        "tenant": "acme",
        "kind": "flow.updated",
        "actor": "scaikey:alice",
        "target": "flw_0",
        "request_id": "",
        "data": {"n": 0, "ü": "ß"},
        "created_at": "2025-03-01T12:00:00+00:00",
    }
    left = AuditEntry.objects.exclude(kind="audit.archived")
    assert list(left.values_list("pk", flat=True)) == [new[0].pk]
    records = AuditEntry.objects.filter(kind="audit.archived").order_by("tenant__slug")
    assert [(r.tenant.slug, r.data["entries"], r.data["object"]) for r in records] == [
        ("acme", 3, key),
        ("globex", 1, key),
    ]
    assert records[0].actor.startswith("cli:")


def test_a_failed_read_back_deletes_nothing(entries, monkeypatch):
    monkeypatch.setattr(archive, "_read_back", lambda storage, key: iter([b"{}\n"]))
    with pytest.raises(CommandError, match="nothing was deleted"):
        run("--before", "2025-06-01")
    assert AuditEntry.objects.count() == 5


def test_batches_delete_every_archived_entry(entries, monkeypatch):
    monkeypatch.setattr(archive, "_BATCH", 2)
    assert run("--before", "2025-06-01").startswith("archived 4 entries")
    assert AuditEntry.objects.exclude(kind="audit.archived").count() == 1


def test_the_entries_written_are_counted_once_not_summed_on_every_row(entries, monkeypatch):
    # Summing the per-tenant tally on every row costs rows times tenants on a large archive.
    summed = []

    class Tally(Counter):
        def values(self):
            summed.append(1)
            return super().values()

    monkeypatch.setattr(archive, "Counter", Tally)
    monkeypatch.setattr(archive, "_BATCH", 2)
    out, progress = io.StringIO(), io.StringIO()
    call_command("archive_audit", "--before", "2025-06-01", stdout=out, stderr=progress)
    assert out.getvalue().startswith("archived 4 entries (acme 3, globex 1) to ")
    assert progress.getvalue().splitlines() == [
        "2 entries written",
        "4 entries written",
        "2 entries deleted",
        "4 entries deleted",
    ]
    assert len(summed) <= 1


def test_dry_run_and_nothing_to_archive(entries):
    assert run("--before", "2025-06-01", "--dry-run") == (
        "dry run: would archive 4 entries (acme 3, globex 1)\n"
    )
    assert AuditEntry.objects.count() == 5
    assert run("--before", "2025-01-01") == "no audit entries before 2025-01-01T00:00:00+00:00\n"


@pytest.mark.parametrize("before", ["soon", "2025-13-01", "2025-06-01T00:00:00", "2999-01-01"])
def test_refuses_a_bad_or_future_date(db, before):
    with pytest.raises(CommandError):
        run("--before", before)


def test_an_entry_still_cannot_be_deleted_one_by_one(entries):
    with pytest.raises(Exception, match="cannot be deleted"):
        entries[0][0].delete()
