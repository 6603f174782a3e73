"""Live events of a flow's Cores for the canvas's Live Runs panel (SPEC §3 "Live events").

A poll names a flow and, after the first, the cursor the previous answer gave. Every Core the
flow's deployments recorded is asked for its events at ScaiGrid with the caller's JWT,
concurrently (at most `MAX_WORKERS` at once); the answers are merged in time order and the new
cursor carries one upstream position per Core. One Core failing does not hide the others: its
failure is listed in `errors`; only when every Core fails is the poll a 502.

Polls are cheap. Identical polls (same principal, flow and cursor) within
SCAIFLOW_EVENTS_CACHE_SECONDS are answered from Django's cache — the shared cache (Redis in
production), so this holds across workers and machines. A miss takes a lock in the same cache
(`cache.add`, atomic in Redis and in the local-memory cache); concurrent identical misses wait
for the holder's answer by polling the cache, so they cost one upstream round, not one each.
A waiter that sees no answer within `LOCK_WAIT_SECONDS` (the holder died or is stuck) asks
upstream itself; the lock expires on its own so a dead holder never blocks polls for long.

Each process also keeps the entries it read from or wrote to the shared cache (`_recent`,
bounded), and answers from that copy while it is fresh: under load the Redis round trip is
most of a hit's time. A copy carries the shared entry's own time, so it answers exactly what
the shared cache would until the window ends, and a stale copy falls through to the shared
cache (which another process may have refreshed).

The cache key holds the principal (tenant and subject): one user's answer never serves another,
whose permissions upstream may differ. A hit is answered before the flow is looked up, so a
just-deleted flow may still answer for one window; the hit was stored after that tenant's
lookup succeeded, so it never crosses tenants. A hit makes no database query (the token and the
tenant come from scaiflow.auth's per-process caches).
"""

from __future__ import annotations

import base64
import binascii
import contextvars
import hashlib
import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache

from deployments.clients.http import UpstreamError
from deployments.clients.scaigrid import ScaiGridClient
from deployments.errors import ScaicoreEventsFailed, ScaikeyRequired
from deployments.models import Deployment
from flows.models import Flow
from flows.selectors import flow_get
from scaiflow.core.errors import InvalidRequest
from scaiflow.core.lru import ExpiringLRU
from scaiflow.identity.principal import AUTH_MODE_SCAIKEY, Principal
from scaiflow.observability import metrics
from tenants.credentials import scaigrid_base_url

MAX_WORKERS = 8
MAX_CURSOR_CHARS = 16_384
LOCK_WAIT_SECONDS = 10.0
LOCK_POLL_SECONDS = 0.02
CACHE_PREFIX = "scaiflow:events"
RECENT_MAX = 1024
# Events without a readable timestamp sort after the others, in the order they came.
_NO_TIME = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class EventsPoll:
    """One poll's answer: merged events, the next cursor, and per-Core failures."""

    events: list[dict[str, Any]]
    cursor: str
    errors: list[dict[str, Any]]

    def as_body(self) -> dict[str, Any]:
        return {"events": self.events, "cursor": self.cursor, "errors": self.errors}


# --- The cursor: {core_id: upstream cursor}, as url-safe base64 JSON ----------------------------


def cursor_encode(positions: dict[str, str]) -> str:
    """The opaque cursor the client passes back as `since`."""
    text = json.dumps(positions, sort_keys=True, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def cursor_decode(since: str | None) -> dict[str, str]:
    """The positions a cursor holds; {} for none. A cursor this API did not give → 400."""
    if not since:
        return {}
    invalid = InvalidRequest(
        "since is not a cursor this API gave.",
        fix="Pass back the `cursor` of the previous answer, or omit `since` to start over.",
        fields={"since": ["not a valid cursor"]},
    )
    if len(since) > MAX_CURSOR_CHARS:
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(since + "=" * (-len(since) % 4))
        positions = json.loads(raw.decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise invalid from None
    if not isinstance(positions, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in positions.items()
    ):
        raise invalid
    return positions


# --- Selectors ------------------------------------------------------------------------------


def flow_core_ids(*, flow: Flow) -> list[str]:
    """The distinct Core ids the flow's deployments recorded, in a stable order (one query)."""
    return list(
        Deployment.objects.filter(tenant_id=flow.tenant_id, flow=flow)
        .exclude(core_id="")
        .order_by("core_id")
        .values_list("core_id", flat=True)
        .distinct()
    )


# --- The poll -------------------------------------------------------------------------------


_HIT, _MISS, _SHARED = (metrics.EVENTS_CACHE.labels(r) for r in ("hit", "miss", "shared"))


def _cache_key(*, principal: Principal, flow_id: str, since: str) -> str:
    subject = hashlib.sha256(principal.subject.encode()).hexdigest()[:32]
    inputs = hashlib.sha256(json.dumps([flow_id, since]).encode()).hexdigest()[:32]
    return f"{CACHE_PREFIX}:{principal.tenant.pk}:{subject}:{inputs}"


def _event_time(event: dict[str, Any]) -> datetime:
    value = event.get("timestamp")
    if not isinstance(value, str):
        return _NO_TIME
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return _NO_TIME
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _fetch(client: ScaiGridClient, core_id: str, since: str | None) -> dict[str, Any] | Exception:
    try:
        return client.events(core_id=core_id, since=since)
    except UpstreamError as exc:
        return exc


def _fetch_all(
    client: ScaiGridClient, core_ids: list[str], positions: dict[str, str]
) -> list[dict[str, Any] | Exception]:
    if len(core_ids) == 1:
        return [_fetch(client, core_ids[0], positions.get(core_ids[0]))]
    with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(core_ids))) as pool:
        # Each worker runs in a copy of this request's context: the request id reaches upstream.
        futures = [
            pool.submit(
                contextvars.copy_context().run, _fetch, client, core_id, positions.get(core_id)
            )
            for core_id in core_ids
        ]
        return [future.result() for future in futures]


def _poll_upstream(
    *, principal: Principal, flow: Flow, positions: dict[str, str]
) -> dict[str, Any]:
    """Ask every Core of the flow; the body to answer (also what the cache keeps)."""
    core_ids = flow_core_ids(flow=flow)
    if not core_ids:
        return {"events": [], "cursor": cursor_encode({}), "errors": []}
    client = ScaiGridClient(
        base_url=scaigrid_base_url(tenant=principal.tenant), credential=principal.token or ""
    )
    results = _fetch_all(client, core_ids, positions)
    merged: list[tuple[datetime, int, int, dict[str, Any]]] = []
    errors: list[dict[str, Any]] = []
    next_positions: dict[str, str] = {}
    for core_index, (core_id, result) in enumerate(zip(core_ids, results, strict=True)):
        previous = positions.get(core_id)
        if isinstance(result, UpstreamError):
            errors.append({"core_id": core_id, "status": result.status, "message": result.message})
            if previous:
                next_positions[core_id] = previous
            continue
        for index, event in enumerate(result["events"]):
            if isinstance(event, dict):
                merged.append((_event_time(event), core_index, index, event))
        cursor = result.get("cursor")
        if isinstance(cursor, str) and cursor:
            next_positions[core_id] = cursor
        elif previous:
            next_positions[core_id] = previous
    merged.sort(key=lambda item: item[:3])
    return {
        "events": [item[3] for item in merged],
        "cursor": cursor_encode(next_positions),
        "errors": errors,
        "failed": len(errors) == len(core_ids),
    }


def _answer(body: dict[str, Any]) -> EventsPoll:
    if body.get("failed"):
        first = body["errors"][0]
        raise ScaicoreEventsFailed(
            f"ScaiGrid's events endpoint failed: {first['message']}",
            status=first["status"],
            errors=body["errors"],
        )
    return EventsPoll(events=body["events"], cursor=body["cursor"], errors=body["errors"])


_recent = ExpiringLRU(RECENT_MAX)  # key -> this process's copy of the shared entry


def forget_recent_polls() -> None:
    _recent.clear()


def _fresh(entry: object, now: float, window: float) -> bool:
    return isinstance(entry, dict) and now - entry.get("at", float("-inf")) < window


def _keep(key: str, entry: dict[str, Any], window: float) -> None:
    # The copy's own expiry only frees memory; `_fresh` decides whether it answers.
    _recent.put(key, entry, until=_recent.clock() + window)


def _cached(key: str, now: float, window: float) -> dict[str, Any] | None:
    entry = _recent.get(key)
    if not _fresh(entry, now, window):
        entry = cache.get(key)
        if not _fresh(entry, now, window):
            return None
        _keep(key, entry, window)
    return entry["body"]


def scaicore_events_poll(*, principal: Principal, flow_id: str, since: str | None) -> EventsPoll:
    """The flow's live events after `since`, for a ScaiKey principal of the flow's tenant.

    Raises ScaikeyRequired (403) for other callers, InvalidRequest (400) for a bad cursor,
    NotFound (404) for a flow not of the caller's tenant, ScaicoreEventsFailed (502) when every
    Core's upstream call failed (a failed answer is cached like any other, so a broken
    upstream is not hammered either).
    """
    if principal.auth_mode != AUTH_MODE_SCAIKEY or not principal.token:
        raise ScaikeyRequired()
    positions = cursor_decode(since)
    window = settings.SCAIFLOW_EVENTS_CACHE_SECONDS

    def compute() -> dict[str, Any]:
        flow = flow_get(tenant=principal.tenant, flow_id=flow_id)
        return _poll_upstream(principal=principal, flow=flow, positions=positions)

    if window <= 0:
        return _answer(compute())

    key = _cache_key(principal=principal, flow_id=flow_id, since=since or "")
    body = _cached(key, time.time(), window)
    if body is not None:
        _HIT.inc()
        return _answer(body)

    lock_key = f"{key}:lock"
    # Long enough for one upstream round (timeouts and retries included), short enough that a
    # holder that died stops mattering soon. Redis timeouts are whole seconds.
    lock_seconds = math.ceil(
        settings.SCAIFLOW_UPSTREAM_CONNECT_TIMEOUT + settings.SCAIFLOW_UPSTREAM_READ_TIMEOUT
    )
    if cache.add(lock_key, 1, timeout=lock_seconds):
        try:
            # Another holder may have stored the answer between our miss and our lock.
            body = _cached(key, time.time(), window)
            if body is not None:
                _SHARED.inc()
                return _answer(body)
            _MISS.inc()
            body = compute()
            # The entry carries its own time: the window may be a fraction of a second, which
            # the backend's whole-second expiry cannot express.
            entry = {"at": time.time(), "body": body}
            cache.set(key, entry, timeout=math.ceil(window) + 1)
            _keep(key, entry, window)
        finally:
            cache.delete(lock_key)
        return _answer(body)

    deadline = time.monotonic() + min(LOCK_WAIT_SECONDS, lock_seconds)
    while time.monotonic() < deadline:
        time.sleep(LOCK_POLL_SECONDS)
        body = _cached(key, time.time(), window)
        if body is not None:
            _SHARED.inc()
            return _answer(body)
        if cache.get(lock_key) is None:
            # The holder is done: it stored the answer just now, or its poll raised (e.g. 404)
            # and we try ourselves.
            body = _cached(key, time.time(), window)
            if body is not None:
                _SHARED.inc()
                return _answer(body)
            break
    _MISS.inc()
    return _answer(compute())
