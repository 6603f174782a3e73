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

# The classes a lost or refused connection raises (psycopg's errors, as Django wraps them). They
# are caught as these, then told apart by `is_unavailable`: a deadlock, a statement timeout or
# SQLite's "no such table" are OperationalErrors too, but bugs or conflicts, not an outage.
UNAVAILABLE = (OperationalError, InterfaceError)
# PostgreSQL's SQLSTATEs of a connection that failed or a server going away: class 08
# (connection exception), and 57P01-57P03 (admin shutdown, crash shutdown, cannot connect now,
# as a server starting up or failing over answers).
_CONNECTION_SQLSTATE_CLASS = "08"
_SERVER_GOING_AWAY = frozenset({"57P01", "57P02", "57P03"})
# SQLite's result codes of a database busy with another writer or that cannot be opened:
# SQLITE_BUSY, SQLITE_LOCKED, SQLITE_CANTOPEN.
_SQLITE_WAIT_CODES = frozenset({5, 6, 14})
# What the 503 suggests: about as long as a PostgreSQL restart or a fail-over takes.
RETRY_AFTER_SECONDS = 5
RETRY_INTERVAL_SECONDS = 0.25

T = TypeVar("T")


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the database is out of reach, rather than that a statement failed.

    An InterfaceError is a connection already closed. An OperationalError counts only when the
    driver's error is a connection failure: psycopg's without a SQLSTATE (refused before the
    server answered, or the connection dropped) or with a connection SQLSTATE; SQLite's busy,
    locked or cannot-open codes. A deadlock, a statement timeout or a missing table is not an
    outage: it stays an error of its own, answered 500 with its traceback logged.
    """
    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__ or exc
    sqlite_code = getattr(cause, "sqlite_errorcode", None)
    if sqlite_code is not None:
        return sqlite_code & 0xFF in _SQLITE_WAIT_CODES
    if type(cause).__module__.startswith("sqlite3"):
        return False
    sqlstate = getattr(cause, "sqlstate", None)
    return (
        sqlstate is None
        or sqlstate.startswith(_CONNECTION_SQLSTATE_CLASS)
        or sqlstate in _SERVER_GOING_AWAY
    )


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
        except UNAVAILABLE as exc:
            if (
                not is_unavailable(exc)
                or connection.in_atomic_block
                or time.monotonic() >= deadline
            ):
                raise
            # The broken connection is dropped; the next query opens a new one.
            with contextlib.suppress(DatabaseError):
                connection.close()
            time.sleep(RETRY_INTERVAL_SECONDS)
