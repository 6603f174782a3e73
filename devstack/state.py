"""devstack's in-memory state: what the stand-ins hold, and the log of every call they got.

One `State` per server, guarded by one re-entrant lock; handlers take it for the whole of their
work, so a request sees and leaves the state consistent. `snapshot()` is what
`GET /_devstack/state` answers and what tests assert on.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from devstack.auth import ApiKey, default_api_keys


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_iso() -> str:
    """The current time as ISO 8601 UTC with milliseconds, e.g. `2025-01-02T03:04:05.678Z`."""
    return _iso(datetime.now(UTC))


@dataclass
class Core:
    """A deployed ScaiCore: its manifest (as sent and as parsed) and its publish state."""

    id: str
    tenant: str | None
    manifest: str
    parsed: dict[str, Any]
    version: int
    created_at: str
    updated_at: str
    created_by: str
    published: bool = False
    slug: str | None = None
    group_ids: list[str] = field(default_factory=list)

    @property
    def manifest_slug(self) -> str:
        metadata = self.parsed.get("metadata")
        slug = metadata.get("slug") if isinstance(metadata, dict) else None
        return slug if isinstance(slug, str) and slug else self.id

    def public(self) -> dict[str, Any]:
        """The Core as ScaiGrid answers it."""
        metadata = self.parsed.get("metadata") or {}
        return {
            "id": self.id,
            "name": metadata.get("name") if isinstance(metadata, dict) else None,
            "slug": self.manifest_slug,
            "version": self.version,
            "published": self.published,
            "published_slug": self.slug,
            "group_ids": list(self.group_ids),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass
class Call:
    """One request devstack answered (or refused, or was told to fail)."""

    seq: int
    at: str
    method: str
    path: str
    query: str
    endpoint: str
    request_id: str | None
    idempotency_key: str | None
    # Filled in once answered. None: no answer (yet): a hang, a dropped connection.
    status: int | None = None
    auth: dict[str, Any] | None = None
    fault: str | None = None


class State:
    """Everything the stand-ins remember. Take `lock` around any read or change."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        """Forget every Core, scope, queue, secret, event and call; restore the default keys."""
        with self.lock:
            self.cores: dict[str, Core] = {}
            # (tenant, Idempotency-Key) -> (core id, the manifest it was created from)
            self.idempotency: dict[tuple[str | None, str], tuple[str, str]] = {}
            self.scopes: dict[str, dict[str, Any]] = {}
            self.queues: dict[tuple[str, str], dict[str, Any]] = {}
            self.secrets: dict[str, dict[str, Any]] = {}
            self.api_keys: dict[str, ApiKey] = {key.key: key for key in default_api_keys()}
            self.events: list[dict[str, Any]] = []
            self.event_seq = 0
            self._last_event_time: datetime | None = None
            self.calls: list[Call] = []
            self.counts: Counter[str] = Counter()

    def record_call(self, **fields: Any) -> Call:
        """Log a request as it arrives; the caller fills in its outcome on the returned `Call`."""
        with self.lock:
            call = Call(seq=len(self.calls) + 1, at=now_iso(), **fields)
            self.calls.append(call)
            self.counts[call.endpoint] += 1
            return call

    def next_event_time(self) -> str:
        """A timestamp later than every earlier event's, so events sort in the order they came."""
        with self.lock:
            now = datetime.now(UTC)
            now = now.replace(microsecond=now.microsecond // 1000 * 1000)
            if self._last_event_time is not None and now <= self._last_event_time:
                now = self._last_event_time + timedelta(milliseconds=1)
            self._last_event_time = now
            return _iso(now)

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy of the whole state."""
        with self.lock:
            return {
                "cores": {
                    core_id: {**asdict(core), "manifest_slug": core.manifest_slug}
                    for core_id, core in self.cores.items()
                },
                "scopes": {slug: dict(scope) for slug, scope in self.scopes.items()},
                "queues": {
                    f"{scope}/{slug}": dict(queue) for (scope, slug), queue in self.queues.items()
                },
                "secrets": {path: dict(secret) for path, secret in self.secrets.items()},
                "keys": [key.public() for key in self.api_keys.values()],
                "events": [dict(event) for event in self.events],
                "calls": [asdict(call) for call in self.calls],
                "counts": dict(self.counts),
            }
