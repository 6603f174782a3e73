"""Writes on flows. Every change of a flow goes through these functions.

The order is always: write the content object, then commit the rows that name it; when the
rows do not commit, the object is removed again. A storage failure therefore leaves nothing in
the database, and a database failure leaves no object behind (best effort; an object that does
stay is unreferenced and harmless) — except a lost connection, which may have committed: its
object stays. The one exception is an outer transaction rolled back after
a service returned: its objects stay, unreferenced.

Version numbers move by conditional updates (`UPDATE … WHERE version = <the one we read>`): of
two concurrent writers one wins and the other either gets `VersionConflict` (it sent If-Match)
or retries on top of the winner's version, so no version is ever lost or overwritten.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from flows.compiler import (
    Catalog,
    CompileResult,
    Diagnostic,
    Labels,
    compile_fingerprint,
    compile_flow,
    ir_from_dict,
    load_catalog,
)
from flows.models import Flow, FlowVersion, new_flow_public_id
from flows.storage import (
    ContentNotEncodable,
    EncodedContent,
    content_delete,
    content_write,
    encode_content,
)
from scaiflow.core.database import is_unavailable as is_database_unavailable
from scaiflow.core.errors import FlowTooLarge, InvalidRequest, NotFound, VersionConflict
from scaiflow.observability import metrics
from tenants.audit import audit_record
from tenants.models import AuditKind, Tenant

# Compile results are kept a day (see `flow_compile`). Entries are keyed by everything a result
# depends on, so age never makes one wrong; the limit only lets unused ones go.
COMPILE_CACHE_SECONDS = 24 * 3600

# A writer without If-Match that keeps losing the race gives up after this many tries.
MAX_UPDATE_ATTEMPTS = 5


class _LostRace(Exception):
    """Another writer changed the flow between our read and our conditional update."""


def _encode(content: Any) -> EncodedContent:
    if not isinstance(content, dict):
        raise InvalidRequest(
            "The request has invalid fields.", fields={"content": ["Must be a JSON object."]}
        )
    try:
        encoded = encode_content(content)
    except ContentNotEncodable as exc:
        raise InvalidRequest(
            "The request has invalid fields.", fields={"content": [f"Cannot be stored: {exc}"]}
        ) from exc
    limit = settings.SCAIFLOW_MAX_FLOW_BYTES
    if encoded.size > limit:
        raise FlowTooLarge(
            f"The flow content is larger than the limit of {limit} bytes.",
            fix="Split the flow into smaller flows.",
            limit=limit,
        )
    return encoded


def _version_conflict(flow: Flow) -> VersionConflict:
    return VersionConflict(current_version=flow.version)


def _forget_object(key: str, exc: Exception) -> None:
    """Remove the object of rows that did not commit. Not when the database connection was
    lost: the commit may have landed before it, and a row without its object is a lost
    version, while an object without a row is only unreferenced."""
    if not is_database_unavailable(exc):
        content_delete(keys=[key])


def flow_create(
    *, tenant: Tenant, name: str, content: dict[str, Any], actor: str, description: str = ""
) -> Flow:
    """Create a flow at version 1 with `content`, authored by `actor`.

    The content is not compiled: a draft that does not compile can be saved. Raises
    FlowStorageError when the content cannot be stored (then no row exists), FlowTooLarge and
    InvalidRequest for content that cannot be a flow's.
    """
    encoded = _encode(content)
    public_id = new_flow_public_id()
    key = content_write(
        tenant_slug=tenant.slug, flow_public_id=public_id, number=1, encoded=encoded
    )
    now = timezone.now()
    try:
        with transaction.atomic():
            flow = Flow.objects.create(
                public_id=public_id,
                tenant=tenant,
                name=name,
                description=description,
                version=1,
                content_sha256=encoded.sha256,
                created_by=actor,
                updated_by=actor,
                created_at=now,
                updated_at=now,
            )
            FlowVersion.objects.create(
                flow=flow,
                number=1,
                storage_key=key,
                sha256=encoded.sha256,
                size=encoded.size,
                author=actor,
                created_at=now,
            )
            audit_record(tenant=tenant, kind=AuditKind.FLOW_CREATED, actor=actor,
                         target=public_id, name=name, version=1)  # fmt: skip
    except Exception as exc:
        _forget_object(key, exc)
        raise
    return flow


def flow_update(
    *,
    flow: Flow,
    actor: str,
    name: str | None = None,
    description: str | None = None,
    content: dict[str, Any] | None = None,
    if_match: Collection[int] | None = None,
) -> Flow:
    """Change a flow; `None` leaves a field as it is. Returns the flow as stored afterwards.

    Only a change of content makes a new version (number + 1, a new object in storage); content
    equal to the current one (by canonical hash), a new name or a new description do not. A
    request that changes nothing writes nothing. With `if_match`, the flow's current version
    must be one of those numbers, else VersionConflict (412); without it, a concurrent change
    is built upon, not overwritten. Raises FlowStorageError (nothing changed), NotFound when
    the flow was deleted meanwhile.
    """
    encoded = _encode(content) if content is not None else None
    for _ in range(MAX_UPDATE_ATTEMPTS):
        if if_match is not None and flow.version not in if_match:
            raise _version_conflict(flow)
        try:
            fields = _update_once(
                flow=flow, actor=actor, name=name, description=description, encoded=encoded
            )
        except _LostRace:
            # Another writer got there first: start again from its version (which If-Match,
            # when sent, no longer names).
            flow = _reload(flow)
            continue
        flow = _reload(flow)
        if fields:
            audit_record(tenant=flow.tenant, kind=AuditKind.FLOW_UPDATED, actor=actor,
                         target=flow.public_id, fields=fields, version=flow.version)  # fmt: skip
        return flow
    raise _version_conflict(flow)


def _reload(flow: Flow) -> Flow:
    try:
        return Flow.objects.select_related("tenant").get(pk=flow.pk)
    except Flow.DoesNotExist:
        raise NotFound() from None


def _update_once(
    *,
    flow: Flow,
    actor: str,
    name: str | None,
    description: str | None,
    encoded: EncodedContent | None,
) -> list[str]:
    """Apply the change on top of `flow` as read and name the fields it changed; _LostRace
    when the flow is no longer at that version."""
    changes: dict[str, Any] = {}
    if name is not None and name != flow.name:
        changes["name"] = name
    if description is not None and description != flow.description:
        changes["description"] = description
    changed = encoded is not None and encoded.sha256 != flow.content_sha256
    new_content = encoded if changed else None
    if not changes and new_content is None:
        return []
    now = timezone.now()
    current = Flow.objects.filter(pk=flow.pk, version=flow.version)
    if new_content is None:
        if not current.update(updated_at=now, updated_by=actor, **changes):
            raise _LostRace
        return sorted(changes)
    number = flow.version + 1
    key = content_write(
        tenant_slug=flow.tenant.slug,
        flow_public_id=flow.public_id,
        number=number,
        encoded=new_content,
    )
    try:
        with transaction.atomic():
            moved = current.update(
                version=number,
                content_sha256=new_content.sha256,
                updated_at=now,
                updated_by=actor,
                **changes,
            )
            if not moved:
                raise _LostRace
            FlowVersion.objects.create(
                flow_id=flow.pk,
                number=number,
                storage_key=key,
                sha256=new_content.sha256,
                size=new_content.size,
                author=actor,
                created_at=now,
            )
    except Exception as exc:
        _forget_object(key, exc)
        raise
    return sorted([*changes, "content"])


def flow_delete(*, flow: Flow, actor: str, if_match: Collection[int] | None = None) -> None:
    """Delete a flow and its versions; their content objects are removed once that commits.

    Deployment records keep their own copy of the flow's name (SPEC §3) and outlive it. With
    `if_match`, the current version must be one of those numbers, else VersionConflict.
    Deleting a flow that is already gone is not an error.
    """
    with transaction.atomic():
        # Lock the row so no version is added between listing the keys and deleting the rows.
        current = Flow.objects.select_for_update().filter(pk=flow.pk).first()
        if current is None:
            return
        if if_match is not None and current.version not in if_match:
            raise _version_conflict(current)
        keys = list(FlowVersion.objects.filter(flow=current).values_list("storage_key", flat=True))
        current.delete()
        audit_record(tenant=current.tenant, kind=AuditKind.FLOW_DELETED, actor=actor,
                     target=current.public_id, name=current.name,
                     version=current.version)  # fmt: skip
        transaction.on_commit(lambda: content_delete(keys=keys), robust=True)


def _catalog() -> Catalog:
    # load_catalog re-reads the operator's file only when it changed.
    return load_catalog(settings.SCAIFLOW_PLUGIN_CATALOG or None)


def flow_compile_content(content: Any, *, labels: Labels | None = None) -> CompileResult:
    """Compile FlowGraph `content` with the shipped catalog plus the operator's
    (SCAIFLOW_PLUGIN_CATALOG), the verifier on."""
    return compile_flow(
        content, catalog=_catalog(), labels=labels, max_bytes=settings.SCAIFLOW_MAX_FLOW_BYTES
    )


def flow_compile(
    *, flow: Flow, content: Any, version: int, content_sha256: str | None = None
) -> CompileResult:
    """Compile one version of `flow` with the labels of SPEC §6 (tenant, flow id, version).

    Content saved without a `name` takes the flow's name, as the manifest needs one. Results
    are kept in Django's cache: the admin page, the API's compile and diff and the deploy
    compile the same versions again and again. `content_sha256`, the stored version's checked
    hash of `content`, spares hashing it again."""
    named = isinstance(content, dict) and "name" not in content
    if named:
        content = {**content, "name": flow.name}
    labels = Labels(tenant=flow.tenant.slug, flow_id=flow.public_id, flow_version=version)
    key = _compile_cache_key(content, labels, content_sha256, flow.name if named else None)
    cached = cache.get(key) if key else None
    if isinstance(cached, dict):
        metrics.COMPILE_CACHE.labels("hit").inc()
        return CompileResult(
            ok=cached["ok"],
            diagnostics=tuple(Diagnostic(**d) for d in cached["diagnostics"]),
            manifest=cached["manifest"],
            ir=ir_from_dict(cached["ir"]) if cached["ir"] is not None else None,
        )
    metrics.COMPILE_CACHE.labels("miss").inc()
    result = flow_compile_content(content, labels=labels)
    if key:
        # The JSON forms: the IR's read-only mappings do not pickle.
        entry = {
            "ok": result.ok,
            "diagnostics": [d.as_dict() for d in result.diagnostics],
            "manifest": result.manifest,
            "ir": result.ir_dict(),
        }
        cache.set(key, entry, COMPILE_CACHE_SECONDS)
    return result


def _compile_cache_key(
    content: Any, labels: Labels, content_sha256: str | None, fallback_name: str | None
) -> str | None:
    """Everything a compile's result depends on: the content (the stored hash and the name it
    was given, or the canonical hash of what is compiled), the labels, and the compiler with
    its plugin catalog. None for content that has no canonical JSON (not cached)."""
    if content_sha256 is None:
        try:
            content_sha256 = encode_content(content).sha256
        except ContentNotEncodable:
            return None
    parts = [compile_fingerprint(_catalog()), content_sha256, fallback_name, *labels.items()]
    return "scaiflow:compile:" + hashlib.sha256(json.dumps(parts).encode()).hexdigest()
