"""The one (created_at, id) keyset condition, as the lists and the batch jobs use it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from scaiflow.core.keyset import keyset_beyond
from tenants.models import AuditEntry, Tenant

pytestmark = pytest.mark.django_db

START = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
def rows() -> list[tuple[datetime, int]]:
    """Six entries, two per second: (created_at, id), oldest first."""
    tenant = Tenant.objects.create(slug="acme")
    made = AuditEntry.objects.bulk_create(AuditEntry(tenant=tenant, kind="k") for _ in range(6))
    for n, entry in enumerate(made):
        AuditEntry.objects.filter(pk=entry.pk).update(created_at=START + timedelta(seconds=n // 2))
    return list(AuditEntry.objects.order_by("created_at", "id").values_list("created_at", "id"))


def beyond(row, **options) -> list[int]:
    chosen = AuditEntry.objects.filter(keyset_beyond(*row, **options))
    return list(chosen.order_by("created_at", "id").values_list("id", flat=True))


def test_older_and_newer_split_a_moment_shared_by_two_rows(rows):
    ids = [pk for _, pk in rows]
    assert beyond(rows[2], older=True) == ids[:2]
    assert beyond(rows[2], older=False) == ids[3:]
    assert beyond(rows[3], older=True) == ids[:3]


def test_inclusive_keeps_the_row_itself(rows):
    ids = [pk for _, pk in rows]
    assert beyond(rows[2], older=True, inclusive=True) == ids[:3]
    assert beyond(rows[2], older=False, inclusive=True) == ids[2:]
