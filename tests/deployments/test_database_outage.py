"""A deploy meets a database outage after ScaiGrid made its Core: the record still gets the
Core id (the write waits for the database), so the next deploy updates that Core instead of
creating a second one. The database fails the way psycopg does on a lost connection (raised in
Django's `execute_wrapper`); tests/reliability stops a real PostgreSQL."""

from __future__ import annotations

import psycopg
import pytest
from django.db import OperationalError, connection

from deployments import pipeline
from deployments.models import Deployment, Status
from tests.deployments.conftest import CORES, grid_accepts


class Outage:
    """Fails the first `times` writes of the Core step's result (the record update that names
    the Core id, not the one that closes the record), as a database that is down does."""

    def __init__(self, times: int) -> None:
        self.left = times

    def __call__(self, execute, sql, params, many, context):
        assignments = sql.split(" WHERE ")[0]
        core_step = '"core_id"' in assignments and '"status"' not in assignments
        if self.left and sql.startswith("UPDATE") and core_step:
            self.left -= 1
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)


def deploy(client, flow):
    return client.post(f"/api/v1/flows/{flow.public_id}/deploy", {}, format="json")


@pytest.mark.django_db(transaction=True)
def test_a_short_outage_after_the_core_is_created_costs_a_pause_not_the_core(
    acme_user, flow, upstream, monkeypatch
):
    monkeypatch.setattr("scaiflow.core.database.RETRY_INTERVAL_SECONDS", 0.01)
    grid_accepts(upstream, core_id="core_once")
    with connection.execute_wrapper(Outage(times=3)):
        first = deploy(acme_user, flow)
    assert first.status_code == 201, first.content
    assert first.json()["core_id"] == "core_once"
    record = Deployment.objects.get(pk=first.json()["id"])
    assert (record.status, record.core_id) == (Status.SUCCEEDED, "core_once")

    upstream.put(f"{CORES}/core_once", json={"id": "core_once"})
    again = deploy(acme_user, flow)
    assert (again.json()["core_id"], again.json()["core_action"]) == ("core_once", "updated")
    assert len([c for c in upstream.calls if c.request.method == "POST"]) == 1


@pytest.mark.django_db(transaction=True)
def test_a_longer_outage_answers_503_and_keeps_the_core_id(
    acme_user, flow, upstream, monkeypatch, caplog
):
    """The Core id's own write gives up; the record's closing write carries it."""
    monkeypatch.setattr(pipeline, "RECORD_WAIT_SECONDS", 0.05)
    monkeypatch.setattr("scaiflow.core.database.RETRY_INTERVAL_SECONDS", 0.01)
    grid_accepts(upstream, core_id="core_kept")
    with connection.execute_wrapper(Outage(times=1000)):  # longer than the record's wait
        response = deploy(acme_user, flow)
    assert response.status_code == 503, response.content
    detail = response.json()["detail"]
    assert detail["error"] == "database_unavailable" and detail["deployment_id"]
    assert int(response["Retry-After"]) > 0
    record = Deployment.objects.get(pk=detail["deployment_id"])
    assert (record.status, record.error_code) == (Status.FAILED, "database_unavailable")
    assert record.core_id == "core_kept"
    assert not [r for r in caplog.records if r.exc_info], "no traceback"

    upstream.put(f"{CORES}/core_kept", json={"id": "core_kept"})
    again = deploy(acme_user, flow)
    assert (again.json()["core_id"], again.json()["core_action"]) == ("core_kept", "updated")
    assert len([c for c in upstream.calls if c.request.method == "POST"]) == 1


class AwayFromTheCoreOn:
    """A database that goes away as the Core step's result is written, for every later write
    of the record too: the Core id's and the closing one alike."""

    away = False

    def __call__(self, execute, sql, params, many, context):
        if sql.startswith("UPDATE") and Deployment._meta.db_table in sql:
            self.away = self.away or '"core_id"' in sql.split(" WHERE ")[0]
            if self.away:
                raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)


@pytest.mark.django_db(transaction=True)
def test_an_outage_longer_than_both_writes_still_makes_no_second_core(
    acme_user, flow, upstream, monkeypatch, settings
):
    """The record never gets the Core id: the cache keeps it for the flow's next deploy."""
    monkeypatch.setattr(pipeline, "RECORD_WAIT_SECONDS", 0.05)
    monkeypatch.setattr("scaiflow.core.database.RETRY_INTERVAL_SECONDS", 0.01)
    grid_accepts(upstream, core_id="core_first")
    with connection.execute_wrapper(AwayFromTheCoreOn()):
        response = deploy(acme_user, flow)
    assert response.status_code == 503, response.content
    record = Deployment.objects.get(pk=response.json()["detail"]["deployment_id"])
    assert (record.status, record.core_id) == (Status.PENDING, "")

    # Later the pending record is abandoned; the next deploy closes it and finds the Core.
    settings.SCAIFLOW_DEPLOY_ABANDONED_SECONDS = 0
    upstream.put(f"{CORES}/core_first", json={"id": "core_first"})
    again = deploy(acme_user, flow)
    assert again.status_code == 201, again.content
    assert (again.json()["core_id"], again.json()["core_action"]) == ("core_first", "updated")
    assert len([c for c in upstream.calls if c.request.method == "POST"]) == 1
    record.refresh_from_db()
    assert (record.status, record.core_id) == (Status.FAILED, "core_first")
    assert record.error_code == "deploy_abandoned"


class Deadlock(Outage):
    """The Core step's write meets a deadlock: a failed statement, not a database gone away."""

    def __call__(self, execute, sql, params, many, context):
        try:
            return super().__call__(execute, sql, params, many, context)
        except OperationalError:
            deadlock = psycopg.errors.DeadlockDetected("deadlock detected")
            raise OperationalError("deadlock detected") from deadlock


@pytest.mark.django_db(transaction=True)
def test_a_deadlock_mid_deploy_is_an_internal_error_with_its_traceback(
    acme_user, flow, upstream, caplog
):
    """Not `database_unavailable` (a retry would not help) and not a record left pending."""
    grid_accepts(upstream, core_id="core_deadlocked")
    with connection.execute_wrapper(Deadlock(times=1)):
        response = deploy(acme_user, flow)
    assert response.status_code == 500, response.content
    detail = response.json()["detail"]
    assert detail["error"] == "internal_error" and detail["deployment_id"]
    record = Deployment.objects.get(pk=detail["deployment_id"])
    assert (record.status, record.error_code) == (Status.FAILED, "internal_error")
    assert [r for r in caplog.records if r.exc_info], "its traceback is logged"
