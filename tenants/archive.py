"""Audit retention: the one way an audit entry may leave the database (`archive_audit`).

Entries older than a date are written, oldest first, to one gzip JSON Lines object in the
configured object storage (the flow storage: local files or S3), under `_audit-archive/`
(no tenant slug starts with `_`, so it never meets a flow's key). The object is read back and
checked (line count and SHA-256 of its content) before anything is deleted; then exactly the
entries it holds are deleted, by the ids read back from it, in batches. Each tenant whose
entries left gets an `audit.archived` entry naming the object.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import secrets
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from django.core.files import File
from django.core.files.storage import storages
from django.db.models import Count

from scaiflow.core.keyset import keyset_beyond
from tenants.audit import audit_record
from tenants.models import AuditEntry, AuditKind, Tenant

ARCHIVE_PREFIX = "_audit-archive"
_BATCH = 5000


class ArchiveVerifyError(Exception):
    """The object read back is not what was written: nothing was deleted."""


@dataclass
class ArchiveResult:
    key: str | None  # None on a dry run or when nothing was old enough
    count: int
    sha256: str = ""
    per_tenant: Counter = field(default_factory=Counter)


def _entries_before(before: datetime) -> Iterator[dict]:
    """The entries created before `before`, oldest first, read by keyset in batches."""
    old = (
        AuditEntry.objects.filter(created_at__lt=before)
        .order_by("created_at", "id")
        .values("id", "tenant_id", "tenant__slug", "kind", "actor", "target", "request_id",
                "data", "created_at")
    )  # fmt: skip
    after = None
    while True:
        batch = old
        if after is not None:
            batch = old.filter(keyset_beyond(*after, older=False))
        rows = list(batch[:_BATCH])
        if not rows:
            return
        yield from rows
        after = rows[-1]["created_at"], rows[-1]["id"]


def _line(row: dict) -> bytes:
    entry = {
        "id": row["id"],
        "tenant": row["tenant__slug"],
        "kind": row["kind"],
        "actor": row["actor"],
        "target": row["target"],
        "request_id": row["request_id"],
        "data": row["data"],
        "created_at": row["created_at"].isoformat(),
    }
    return json.dumps(entry, sort_keys=True).encode() + b"\n"


def _read_back(storage, key: str) -> Iterator[bytes]:
    with storage.open(key, "rb") as stored, gzip.open(stored, "rb") as lines:
        yield from lines


def _delete(ids: list[int]) -> int:
    # A queryset delete, not AuditEntry.delete() (which refuses): this module is the one place.
    return AuditEntry.objects.filter(id__in=ids).delete()[0]


def _verify(storage, key: str, *, count: int, sha256: str) -> None:
    """The object holds every line, byte for byte, before a single row goes."""
    check, lines = hashlib.sha256(), 0
    for line in _read_back(storage, key):
        check.update(line)
        lines += 1
    if lines != count or check.hexdigest() != sha256:
        raise ArchiveVerifyError(
            f"{key} read back {lines} entries, not the {count} written; nothing was deleted"
        )


def _delete_archived(storage, key: str, on_progress: Callable[[str, int], None] | None) -> int:
    """Delete exactly the entries the object holds, by the ids read back from it, in batches."""
    deleted, ids = 0, []
    for line in _read_back(storage, key):
        ids.append(json.loads(line)["id"])
        if len(ids) == _BATCH:
            deleted += _delete(ids)
            ids = []
            if on_progress is not None:
                on_progress("deleted", deleted)
    if ids:
        deleted += _delete(ids)
    return deleted


def audit_archive(
    *,
    before: datetime,
    actor: str,
    dry_run: bool = False,
    on_progress: Callable[[str, int], None] | None = None,
) -> ArchiveResult:
    """Archive and then delete the audit entries created before `before` (see the module)."""
    storage = storages["flows"]
    if dry_run:
        old = AuditEntry.objects.filter(created_at__lt=before)
        per_tenant = Counter(
            dict(old.values_list("tenant__slug").annotate(n=Count("id")).order_by())
        )
        return ArchiveResult(key=None, count=sum(per_tenant.values()), per_tenant=per_tenant)

    digest, per_tenant, tenant_ids = hashlib.sha256(), Counter(), {}
    count = 0  # one running count: summing `per_tenant` on every row costs rows times tenants
    with tempfile.TemporaryFile() as spool:
        with gzip.GzipFile(fileobj=spool, mode="wb") as archive:
            for row in _entries_before(before):
                line = _line(row)
                archive.write(line)
                digest.update(line)
                count += 1
                per_tenant[row["tenant__slug"]] += 1
                tenant_ids[row["tenant__slug"]] = row["tenant_id"]
                if on_progress is not None and count % _BATCH == 0:
                    on_progress("written", count)
        if count == 0:
            return ArchiveResult(key=None, count=0)
        spool.seek(0)
        stamp = before.strftime("%Y%m%dT%H%M%SZ")
        wanted = f"{ARCHIVE_PREFIX}/before-{stamp}-{secrets.token_hex(4)}.jsonl.gz"
        key = storage.save(wanted, File(spool))

    _verify(storage, key, count=count, sha256=digest.hexdigest())
    deleted = _delete_archived(storage, key, on_progress)
    for tenant in Tenant.objects.filter(pk__in=tenant_ids.values()).order_by("slug"):
        audit_record(
            tenant=tenant,
            kind=AuditKind.ARCHIVED,
            actor=actor,
            object=key,
            entries=per_tenant[tenant.slug],
            before=before.isoformat(),
            sha256=digest.hexdigest(),
        )
    return ArchiveResult(key=key, count=deleted, sha256=digest.hexdigest(), per_tenant=per_tenant)
