"""PostgreSQL out of reach: how ScaiFlow tells, and how a write that must land waits it out.

A request that meets an unreachable database answers 503 `database_unavailable` (scaiflow.errors
translates it, with one WARNING line and no traceback). Connections are health-checked at the
start of each request (`CONN_HEALTH_CHECKS`), so the first request after the database returns
gets a fresh one: no restart, no stale-connection errors.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import DatabaseError, InterfaceError, OperationalError, connection

logger = logging.getLogger("scaiflow.database")

# What a lost or refused connection raises (psycopg's errors, as Django wraps them). SQLite's
# "database is locked" is an OperationalError too: equally a moment to wait, not a bug.
UNAVAILABLE = (OperationalError, InterfaceError)
# What the 503 suggests: about as long as a PostgreSQL restart or a fail-over takes.
RETRY_AFTER_SECONDS = 5
RETRY_INTERVAL_SECONDS = 0.25

T = TypeVar("T")


def is_unavailable(exc: BaseException) -> bool:
    return isinstance(exc, UNAVAILABLE)


def describe(exc: BaseException) -> str:
    """One line about a database error for the log: its class and first line, never a DSN (the
    drivers' messages name host and port, not the password)."""
    first_line = (str(exc).strip().splitlines() or [""])[0][:200]
    return f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__


def wait_for_database(write: Callable[[], T], *, seconds: float) -> T:
    """`write()`, retried on a new connection while the database is unreachable, for up to
    `seconds`; then its error is raised. For writes that record what already happened upstream
    (a Core was created): losing them is worse than waiting.

    `write` must be safe to run twice (a conditional update, say): the connection may have
    dropped after the database committed it. Inside a transaction nothing is retried — the
    transaction is lost with its connection.
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            return write()
        except UNAVAILABLE:
            if connection.in_atomic_block or time.monotonic() >= deadline:
                raise
            # The broken connection is dropped; the next query opens a new one.
            with contextlib.suppress(DatabaseError):
                connection.close()
            time.sleep(RETRY_INTERVAL_SECONDS)
