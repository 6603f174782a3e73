"""The ScaiGrid stand-in: ScaiCore's cores, publish and events endpoints (SPEC §5).

- `POST /v1/modules/scaicore/cores` — YAML manifest → 201 Core. The same `Idempotency-Key`
  (per tenant) answers the Core it created the first time, without a second one; the same key
  with a different manifest → 422 `idempotency_key_reused`.
- `GET|PUT /v1/modules/scaicore/cores/{id}` — read, or replace the manifest (200; 404 unknown).
- `POST|DELETE /v1/modules/scaicore/cores/{id}/publish` — publish as a chat model with
  `{"group_ids": [...]}` → 200 `{"slug"}` (the manifest's `metadata.slug`); unpublish → 204,
  404 when not published.
- `GET /v1/modules/scaicore/events?core_id=…[&since=…][&limit=…]` → `{"events", "cursor"}`.

A manifest the verifier refuses answers 400 `{"error": "verifier_error", "message":
"verifier error: …", "problems": [...]}`. Each create and update runs the Core once, which
leaves a few events (run.started, block.completed per block up to three, run.finished);
`POST /_devstack/cores/{id}/runs` adds another run. A cursor is opaque to callers: it encodes
the position of the last event answered, so `since` gives only what came after it.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from typing import TYPE_CHECKING, Any

from devstack.auth import PERM_SCAIGRID_DEPLOY, PERM_SCAIGRID_EVENTS
from devstack.http import (
    ApiError,
    Request,
    Response,
    Route,
    empty_response,
    error_response,
    json_response,
)
from devstack.state import Core, State, now_iso
from devstack.verifier import VerifierError, verify_manifest

if TYPE_CHECKING:
    from devstack.auth import Caller
    from devstack.server import Devstack

PREFIX = "/v1/modules/scaicore"
YAML_MEDIA_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"})
BLOCK_EVENTS_PER_RUN = 3
DEFAULT_EVENTS_LIMIT = 100


def _manifest_from(request: Request) -> tuple[str, dict[str, Any]]:
    media_type = request.header("content-type").split(";")[0].strip().lower()
    if media_type not in YAML_MEDIA_TYPES:
        raise ApiError(
            "unsupported_media_type",
            f"send the manifest as application/yaml, not {media_type or 'no Content-Type'!r}",
            status=415,
        )
    try:
        parsed = verify_manifest(request.body)
    except VerifierError as exc:
        raise ApiError("verifier_error", str(exc), problems=exc.problems) from exc
    return request.body.decode("utf-8"), parsed


def _core_for(state: State, caller: Caller, core_id: str) -> Core:
    core = state.cores.get(core_id)
    if core is None or not caller.can_see(core.tenant):
        raise ApiError("not_found", f"core {core_id!r} not found", status=404)
    return core


def emit_run(state: State, core: Core) -> str:
    """Record one run of `core`: run.started, a few block.completed, run.finished."""
    run_id = f"run_{secrets.token_hex(6)}"
    blocks = core.parsed.get("spec", {}).get("blocks", [])
    steps: list[tuple[str, dict[str, Any]]] = [("run.started", {"version": core.version})]
    steps += [
        ("block.completed", {"block_id": block.get("id"), "kind": block.get("kind")})
        for block in blocks[:BLOCK_EVENTS_PER_RUN]
    ]
    steps.append(("run.finished", {"status": "succeeded"}))
    with state.lock:
        for event_type, extra in steps:
            state.event_seq += 1
            state.events.append(
                {
                    "seq": state.event_seq,
                    "id": f"evt_{state.event_seq:08d}",
                    "core_id": core.id,
                    "run_id": run_id,
                    "type": event_type,
                    "timestamp": state.next_event_time(),
                    **extra,
                }
            )
    return run_id


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"evt:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, seq = text.partition(":")
        if prefix != "evt" or not seq.isdigit():
            raise ValueError(cursor)
        return int(seq)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ApiError("invalid_cursor", f"since {cursor!r} is not a cursor this API gave") from exc


def create_core(stack: Devstack, request: Request, caller: Caller) -> Response:
    state = stack.state
    key = request.header("idempotency-key") or None
    with state.lock:
        if key is not None and (caller.tenant, key) in state.idempotency:
            core_id, manifest = state.idempotency[(caller.tenant, key)]
            if manifest != request.body.decode("utf-8", "replace"):
                raise ApiError(
                    "idempotency_key_reused",
                    "this Idempotency-Key was used with a different manifest",
                    status=422,
                )
            core = state.cores[core_id]
            return json_response(201, core.public(), {"Idempotent-Replayed": "true"})
        manifest, parsed = _manifest_from(request)
        stamp = now_iso()
        core = Core(
            id=f"core_{secrets.token_hex(8)}",
            tenant=caller.tenant,
            manifest=manifest,
            parsed=parsed,
            version=1,
            created_at=stamp,
            updated_at=stamp,
            created_by=f"{caller.kind}:{caller.subject}",
        )
        state.cores[core.id] = core
        if key is not None:
            state.idempotency[(caller.tenant, key)] = (core.id, manifest)
        emit_run(state, core)
        return json_response(201, core.public(), {"Location": f"{PREFIX}/cores/{core.id}"})


def get_core(stack: Devstack, request: Request, caller: Caller, id: str) -> Response:
    with stack.state.lock:
        return json_response(200, _core_for(stack.state, caller, id).public())


def update_core(stack: Devstack, request: Request, caller: Caller, id: str) -> Response:
    state = stack.state
    with state.lock:
        core = _core_for(state, caller, id)
        core.manifest, core.parsed = _manifest_from(request)
        core.version += 1
        core.updated_at = now_iso()
        emit_run(state, core)
        return json_response(200, core.public())


def publish_core(stack: Devstack, request: Request, caller: Caller, id: str) -> Response:
    body = request.json() if request.body else {}
    group_ids = body.get("group_ids", []) if isinstance(body, dict) else None
    if not isinstance(group_ids, list) or not all(isinstance(g, str) for g in group_ids):
        raise ApiError("invalid_request", 'body must be {"group_ids": [string, ...]}')
    state = stack.state
    with state.lock:
        core = _core_for(state, caller, id)
        core.published = True
        core.slug = core.manifest_slug
        core.group_ids = list(group_ids)
        core.updated_at = now_iso()
        return json_response(200, {"slug": core.slug, "core_id": core.id, "group_ids": group_ids})


def unpublish_core(stack: Devstack, request: Request, caller: Caller, id: str) -> Response:
    state = stack.state
    with state.lock:
        core = _core_for(state, caller, id)
        if not core.published:
            return error_response(404, "not_found", f"core {id!r} is not published")
        core.published = False
        core.slug = None
        core.group_ids = []
        core.updated_at = now_iso()
        return empty_response(204)


def list_events(stack: Devstack, request: Request, caller: Caller) -> Response:
    query = request.query
    core_id = query.get("core_id")
    if not core_id:
        raise ApiError("invalid_request", "core_id is required")
    since = decode_cursor(query["since"]) if query.get("since") else 0
    limit_text = query.get("limit", str(DEFAULT_EVENTS_LIMIT))
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= 1000:
        raise ApiError("invalid_request", "limit must be an integer from 1 to 1000")
    state = stack.state
    with state.lock:
        _core_for(state, caller, core_id)
        events = [e for e in state.events if e["core_id"] == core_id and e["seq"] > since]
    events = events[: int(limit_text)]
    last = events[-1]["seq"] if events else since
    public = [{name: value for name, value in e.items() if name != "seq"} for e in events]
    return json_response(200, {"events": public, "cursor": encode_cursor(last)})


ROUTES = [
    Route("POST", f"{PREFIX}/cores", create_core, PERM_SCAIGRID_DEPLOY),
    Route("GET", f"{PREFIX}/cores/{{id}}", get_core, PERM_SCAIGRID_DEPLOY),
    Route("PUT", f"{PREFIX}/cores/{{id}}", update_core, PERM_SCAIGRID_DEPLOY),
    Route("POST", f"{PREFIX}/cores/{{id}}/publish", publish_core, PERM_SCAIGRID_DEPLOY),
    Route("DELETE", f"{PREFIX}/cores/{{id}}/publish", unpublish_core, PERM_SCAIGRID_DEPLOY),
    Route("GET", f"{PREFIX}/events", list_events, PERM_SCAIGRID_EVENTS),
]
