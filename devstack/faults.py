"""Fault injection: make a path misbehave, for tests and demos.

A fault matches a method (`"*"` for any) and a path pattern (a glob against the path without
the query string: `*` matches anything, slashes included), and does one of:

- `status`: answer `status` with `body` (a JSON value, or a string sent as is with
  `content_type`, e.g. an HTML error page or truncated JSON) without doing the work;
- `slow`: wait `seconds`, or until the fault is released (`release()`, the control API's
  `POST /_devstack/faults/{id}/release`), then answer normally (closed without an answer
  instead when the faults are cleared while it waits). Released, it lets later requests
  through at once too: a test holds one call exactly as long as it needs;
- `hang`: hold the connection open for `seconds` (default 30) or until the faults are cleared,
  the state is reset or the server stops, then close it without an answer;
- `race`: do the work, then answer `status` (default 409) as if another caller had won;
- `drop`: close the connection without an answer.

`times` (default: forever) is how many matching requests it applies to. The first fault added
that matches and is not used up wins. The control API (`/_devstack/...`) is never faulted.
"""

from __future__ import annotations

import fnmatch
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from devstack.http import ApiError, Response

ACTION_STATUS = "status"
ACTION_SLOW = "slow"
ACTION_HANG = "hang"
ACTION_RACE = "race"
ACTION_DROP = "drop"
ACTIONS = (ACTION_STATUS, ACTION_SLOW, ACTION_HANG, ACTION_RACE, ACTION_DROP)
DEFAULT_SECONDS = {ACTION_SLOW: 1.0, ACTION_HANG: 30.0}
MAX_SECONDS = 600.0


@dataclass
class Fault:
    """One rule. `hits` counts the requests it applied to."""

    id: str
    method: str
    path: str
    action: str
    status: int | None = None
    body: Any = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    times: int | None = None
    hits: int = 0
    _go: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def used_up(self) -> bool:
        return self.times is not None and self.hits >= self.times

    def release(self) -> None:
        """Let `slow` requests waiting on this fault (and later ones) answer now."""
        self._go.set()

    def wait(self, cleared: threading.Event) -> bool:
        """A `slow` fault's wait: True to answer normally, False when `cleared` first."""
        deadline = time.monotonic() + self.seconds
        while not self._go.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if cleared.wait(min(remaining, 0.05)):
                return False
        return True

    def matches(self, method: str, path: str) -> bool:
        return (self.method in ("*", method)) and fnmatch.fnmatchcase(path, self.path)

    def response(self) -> Response:
        """The answer of a `status` or `race` fault."""
        status = self.status or 409
        if isinstance(self.body, str):
            content_type = self.content_type or "text/plain; charset=utf-8"
            body = self.body.encode()
        else:
            content_type = self.content_type or "application/json"
            payload = self.body
            if payload is None:
                code = "conflict" if self.action == ACTION_RACE else "injected_fault"
                payload = {"error": code, "message": f"devstack fault {self.id} ({self.action})"}
            body = json.dumps(payload).encode()
        return Response(status, body, content_type, dict(self.headers))

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "method": self.method,
            "path": self.path,
            "action": self.action,
            "status": self.status,
            "body": self.body,
            "content_type": self.content_type,
            "headers": dict(self.headers),
            "seconds": self.seconds,
            "times": self.times,
            "hits": self.hits,
            "released": self._go.is_set(),
            "remaining": None if self.times is None else max(self.times - self.hits, 0),
        }


def fault_from(spec: object, fault_id: str) -> Fault:
    """A `Fault` from the control API's JSON; raises a 400 `ApiError` naming every problem."""
    if not isinstance(spec, dict):
        raise ApiError("invalid_request", "a fault is a JSON object")
    problems = []
    method = spec.get("method", "*")
    path = spec.get("path")
    action = spec.get("action", ACTION_STATUS)
    status = spec.get("status", 409 if action == ACTION_RACE else None)
    seconds = spec.get("seconds", DEFAULT_SECONDS.get(action, 0.0))
    times = spec.get("times")
    headers = spec.get("headers", {})
    content_type = spec.get("content_type")
    if not isinstance(method, str) or not method:
        problems.append("method must be an HTTP method or '*'")
    if not isinstance(path, str) or not path.startswith(("/", "*")):
        problems.append("path must be a path pattern starting with '/' (globs allowed)")
    if action not in ACTIONS:
        problems.append(f"action must be one of {', '.join(ACTIONS)}")
    needs_status = action in (ACTION_STATUS, ACTION_RACE)
    if needs_status and not (isinstance(status, int) and 100 <= status <= 599):
        problems.append("status must be an HTTP status (100-599)")
    if not isinstance(seconds, int | float) or not 0 <= seconds <= MAX_SECONDS:
        problems.append(f"seconds must be a number from 0 to {MAX_SECONDS:g}")
    if times is not None and not (isinstance(times, int) and times >= 1):
        problems.append("times must be a positive integer, or null for always")
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        problems.append("headers must be an object of strings")
    if content_type is not None and not isinstance(content_type, str):
        problems.append("content_type must be a string")
    if problems:
        raise ApiError("invalid_request", "; ".join(problems))
    return Fault(
        id=fault_id,
        method=method.upper(),
        path=path,
        action=action,
        status=status,
        body=spec.get("body"),
        content_type=content_type,
        headers=headers,
        seconds=float(seconds),
        times=times,
    )


class Faults:
    """The active faults, and the signal that releases hanging connections."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._faults: list[Fault] = []
        self._next_id = 1
        self._release = threading.Event()

    def add(self, spec: object) -> Fault:
        with self._lock:
            fault = fault_from(spec, f"flt_{self._next_id}")
            self._next_id += 1
            self._faults.append(fault)
            return fault

    def take(self, method: str, path: str) -> tuple[Fault, threading.Event] | None:
        """The fault for this request, counted as used, and the event that ends a hang."""
        with self._lock:
            for fault in self._faults:
                if not fault.used_up and fault.matches(method, path):
                    fault.hits += 1
                    return fault, self._release
        return None

    def release(self, fault_id: str) -> Fault | None:
        with self._lock:
            fault = next((fault for fault in self._faults if fault.id == fault_id), None)
        if fault is not None:
            fault.release()
        return fault

    def remove(self, fault_id: str) -> bool:
        with self._lock:
            before = len(self._faults)
            self._faults = [fault for fault in self._faults if fault.id != fault_id]
            return len(self._faults) < before

    def clear(self) -> None:
        """Forget every fault and let every hanging connection go."""
        with self._lock:
            self._faults = []
            self._release.set()
            self._release = threading.Event()

    def reset(self) -> None:
        """`clear()`, and number faults from 1 again."""
        with self._lock:
            self.clear()
            self._next_id = 1

    def public(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.public() for fault in self._faults]
