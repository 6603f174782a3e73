"""The audit log: one append-only entry per change that matters (flows, deploys, publish
state, credentials, rollbacks). Services call `audit_record`; nothing edits or deletes."""

from __future__ import annotations

from typing import Any

from scaiflow.observability.context import current_request_id
from tenants.models import AuditEntry, AuditKind, Tenant


def audit_record(
    *, tenant: Tenant, kind: AuditKind, actor: str, target: str = "", **data: Any
) -> AuditEntry:
    """Append an entry; `data` is a small JSON of the change and must never hold a secret."""
    request_id = current_request_id()
    return AuditEntry.objects.create(
        tenant=tenant,
        kind=kind,
        actor=actor,
        target=target,
        request_id="" if request_id == "-" else request_id,
        data=data,
    )
