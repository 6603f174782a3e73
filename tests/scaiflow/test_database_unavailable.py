"""A database that cannot be reached: 503 `database_unavailable`, one WARNING line per request.

Every query of the test's connection fails the way psycopg fails on a refused connection
(Django's `execute_wrapper` is where it raises). The same against a real PostgreSQL that stops
and starts is in tests/reliability/test_infrastructure_outages.py.
"""

from __future__ import annotations

import logging
import sqlite3

import psycopg
import pytest
from django.contrib.auth import get_user_model
from django.db import OperationalError, connection
from django.test import Client

from scaiflow.core import database

REFUSED = 'connection to server at "127.0.0.1", port 5432 failed: Connection refused'


def refuse(execute, sql, params, many, context):
    raise OperationalError(REFUSED)


def assert_one_warning(caplog):
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [(r.name, r.levelname) for r in lines] == [("scaiflow.errors", "WARNING")], [
        r.getMessage() for r in lines
    ]
    assert lines[0].exc_info is None
    assert "OperationalError" in lines[0].getMessage()


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/api/v1/flows"),
        ("POST", "/api/v1/flows"),
        ("GET", "/api/v1/deployments"),
        ("GET", "/api/v1/tenants/me"),
    ],
)
def test_the_api_answers_503_database_unavailable(acme_user, caplog, method, path):
    acme_user.get("/api/v1/tenants/me")  # the tenant exists; now the database goes away
    caplog.clear()
    with connection.execute_wrapper(refuse):
        response = acme_user.generic(method, path, b"{}", content_type="application/json")
    assert response.status_code == 503, response.content
    detail = response.json()["detail"]
    assert detail["error"] == "database_unavailable"
    assert detail["retry_after"] == int(response["Retry-After"]) > 0
    assert "5432" not in response.content.decode()
    assert_one_warning(caplog)


def test_a_legacy_caller_gets_it_too(service_client, caplog):
    with connection.execute_wrapper(refuse):
        response = service_client.post("/api/v1/dev/deploy", {"content": {}}, format="json")
    assert response.status_code == 503, response.content
    assert response.json()["detail"]["error"] == "database_unavailable"


def test_the_admin_shows_a_plain_503_page(db, caplog):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw-123456789")
    client = Client(raise_request_exception=False)
    client.force_login(user)
    caplog.clear()
    with connection.execute_wrapper(refuse):
        response = client.get("/admin/")
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert int(response["Retry-After"]) > 0
    page = response.content.decode()
    assert "Service unavailable" in page and "5432" not in page
    assert_one_warning(caplog)


def test_the_next_request_after_the_outage_succeeds(acme_user):
    with connection.execute_wrapper(refuse):
        assert acme_user.get("/api/v1/flows").status_code == 503
    assert acme_user.get("/api/v1/flows").status_code == 200


# --- Only a connection failure is an outage -----------------------------------------------------


def _wrapped(driver_error: Exception) -> OperationalError:
    """The driver's error as Django raises it: its own class, the driver's as the cause."""
    error = OperationalError(str(driver_error))
    error.__cause__ = driver_error
    return error


def _sqlite_error(sql: str) -> Exception:
    try:
        sqlite3.connect(":memory:").execute(sql)
    except sqlite3.OperationalError as exc:
        return exc
    raise AssertionError("the statement did not fail")


@pytest.mark.parametrize(
    "driver_error",
    [
        psycopg.OperationalError("connection refused"),  # no SQLSTATE: never reached the server
        psycopg.errors.ConnectionFailure("server closed the connection unexpectedly"),
        psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
        psycopg.errors.CannotConnectNow("the database system is starting up"),
    ],
    ids=type,
)
def test_a_connection_failure_is_unavailable(driver_error):
    assert database.is_unavailable(_wrapped(driver_error))


@pytest.mark.parametrize(
    "driver_error",
    [
        psycopg.errors.DeadlockDetected("deadlock detected"),
        psycopg.errors.QueryCanceled("canceling statement due to statement timeout"),
        _sqlite_error("SELECT * FROM no_such_table"),
    ],
    ids=type,
)
def test_a_statement_that_failed_is_not_an_outage(driver_error):
    assert not database.is_unavailable(_wrapped(driver_error))


def test_a_missing_table_is_a_500_with_its_traceback_not_a_503(acme_user, caplog):
    """A bug (a migration not run, a deadlock) must not hide as a retryable outage."""
    acme_user.get("/api/v1/tenants/me")
    missing_table = _wrapped(_sqlite_error("SELECT * FROM no_such_table"))

    def fail(execute, sql, params, many, context):
        raise missing_table

    with connection.execute_wrapper(fail):
        response = acme_user.get("/api/v1/flows")
    assert response.status_code == 500, response.content
    assert response.json()["detail"]["error"] == "internal_error"
    assert [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]
