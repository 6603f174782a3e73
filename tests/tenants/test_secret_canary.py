"""A recognisable key goes in through every door; it must come out of none.

Not in a response of the API or the admin, not in a log line, not in the database (only a
Fernet token is there), not in Django's error reports.
"""

from __future__ import annotations

import io
import logging
import sys

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.views.debug import ExceptionReporter

from tenants import credentials
from tenants.credentials import scaigrid_credential_resolve, secret_decrypt
from tenants.models import Role, Tenant, TenantCredential, TenantMembership
from tenants.services import scaigrid_credential_set
from tests.tenants.conftest import CANARY, CANARY_CORE

URL = "/api/v1/tenants/me/scaigrid_credentials"


def database_dump() -> str:
    """Every row of every table, as text."""
    rows = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        value = bytes(value).decode("latin-1")
                    rows.append(f"{table}: {value}")
    return "\n".join(rows)


def assert_no_canary(text: str, where: str) -> None:
    assert CANARY not in text, f"the key leaked into {where}"
    assert CANARY_CORE not in text, f"part of the key leaked into {where}"


@pytest.fixture
def admin_client(db) -> Client:
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-123")
    client = Client()
    client.force_login(user)
    return client


def exercise_everything(acme_admin, acme_user, service_client, admin_client, monkeypatch):
    """Every door the key can go through, and every page that shows its status."""
    responses = [
        acme_admin.post(URL, {"api_key": CANARY}, format="json"),
        acme_admin.get(URL),
        acme_user.get(URL),
        service_client.get(URL),  # the default tenant: no key, 404
        acme_admin.get("/api/v1/tenants/me"),
        acme_user.post(URL, {"api_key": CANARY}, format="json"),  # 403
        acme_admin.post(URL, {"api_key": CANARY + " tail"}, format="json"),  # 400
        acme_admin.post(
            URL, {"api_key": CANARY, "base_url": "https://evil.example"}, format="json"
        ),
        acme_admin.post(URL, {"api_key": CANARY + "x" * 600}, format="json"),
        acme_admin.put(URL, {"api_key": CANARY}, format="json"),  # 405
        acme_admin.get("/api/schema/"),
    ]
    tenant = Tenant.objects.get(slug="acme")
    TenantMembership.objects.create(
        user=get_user_model().objects.get(username="root"), tenant=tenant, role=Role.TENANT_ADMIN
    )
    change = f"/admin/tenants/tenant/{tenant.pk}/change/"
    responses += [
        admin_client.get("/admin/"),
        admin_client.get("/admin/tenants/tenant/"),
        admin_client.get(change),
        admin_client.get("/admin/tenants/tenant/add/"),
        admin_client.get("/admin/tenants/tenantmembership/"),
        admin_client.post(
            change, {"slug": "acme", "name": "", "scaigrid_api_key": CANARY + " bad"}
        ),  # the form again, with errors
        admin_client.post(
            change, {"slug": "acme", "name": "Acme", "scaigrid_api_key": CANARY}, follow=True
        ),
        admin_client.get(change),
        admin_client.get(f"/admin/tenants/tenant/{tenant.pk}/history/"),
        admin_client.get("/admin/tenants/tenant/", {"q": "acme"}),
    ]
    # A crash while storing the key: the 500 and its logged traceback must not hold it.
    monkeypatch.setattr(credentials, "secret_encrypt", _failing_encrypt)
    responses.append(acme_admin.post(URL, {"api_key": CANARY}, format="json"))
    monkeypatch.undo()
    responses.append(acme_admin.post(URL, {"api_key": CANARY}, format="json"))
    return responses


def _failing_encrypt(plaintext: str) -> str:
    raise RuntimeError("the encryption backend failed")


def test_the_key_appears_nowhere(
    acme_admin, acme_user, service_client, admin_client, monkeypatch, caplog, capsys
):
    caplog.set_level(logging.DEBUG)

    responses = exercise_everything(
        acme_admin, acme_user, service_client, admin_client, monkeypatch
    )
    out = io.StringIO()
    call_command("set_scaigrid_credentials", "acme", stdin=io.StringIO(CANARY), stdout=out)
    call_command("rotate_secrets_key", stdout=out)
    resolved = scaigrid_credential_resolve(tenant=Tenant.objects.get(slug="acme"))

    assert resolved.secret == CANARY  # the key was really stored and is usable
    assert [r.status_code for r in responses[:6]] == [200, 200, 200, 404, 200, 403]
    assert responses[-2].status_code == 500
    for response in responses:
        assert_no_canary(response.content.decode(), f"the response to {response.request}")
        assert_no_canary(str(response.headers), f"the headers of {response.request}")
    assert_no_canary(out.getvalue(), "command output")
    assert_no_canary(repr(resolved), "a repr")
    assert_no_canary(caplog.text, "the logs")
    assert_no_canary("\n".join(str(record.args) for record in caplog.records), "log arguments")
    captured = capsys.readouterr()
    assert_no_canary(captured.out + captured.err, "stdout/stderr")

    dump = database_dump()
    assert_no_canary(dump, "the database")
    token = TenantCredential.objects.get(tenant__slug="acme").encrypted_api_key
    assert token.startswith("gAAAAA") and token in dump
    assert secret_decrypt(token) == CANARY


def test_the_key_appears_nowhere_with_scaivault(
    acme_admin, acme_user, service_client, admin_client, monkeypatch, caplog, vault
):
    caplog.set_level(logging.DEBUG)

    responses = exercise_everything(
        acme_admin, acme_user, service_client, admin_client, monkeypatch
    )
    resolved = scaigrid_credential_resolve(tenant=Tenant.objects.get(slug="acme"))

    assert resolved.secret == CANARY
    assert vault.secrets["scaiflow/tenants/acme/scaigrid"]["api_key"] == CANARY
    for response in responses:
        assert_no_canary(response.content.decode(), f"the response to {response.request}")
    assert_no_canary(caplog.text, "the logs")
    assert_no_canary(database_dump(), "the database")
    assert TenantCredential.objects.get(tenant__slug="acme").encrypted_api_key == ""


def test_error_reports_hide_the_key(acme, monkeypatch, settings):
    """A crash below the service: every frame of Django's error report is cleansed."""
    settings.DEBUG = False  # error reports cleanse only outside DEBUG, as in production
    seen = []

    def failing_encrypt(self, data: bytes) -> bytes:
        seen.append(data == CANARY.encode())
        raise RuntimeError("boom")

    monkeypatch.setattr("cryptography.fernet.MultiFernet.encrypt", failing_encrypt)
    try:
        scaigrid_credential_set(tenant=acme, api_key=CANARY, actor="test")
    except RuntimeError:
        report = ExceptionReporter(None, *sys.exc_info())
        text = report.get_traceback_text()
        frames = report.get_traceback_frames()
    else:
        pytest.fail("the service did not fail")

    assert seen == [True]  # the key really was a local of the failing frame
    assert len(frames) > 3
    assert_no_canary(text, "the error report")
    for frame in frames:
        assert_no_canary(str(frame.get("vars")), f"the variables of {frame['function']}")
