"""The canary key: a tenant's ScaiGrid key that no test could produce by accident is set, then
used for real (deploys against devstack authenticate with it); it must come out of nothing.

- every operation of the OpenAPI schema (a test fails when one is added and not exercised),
  with real objects, the key's own endpoints and their error answers included;
- every admin page of every registered model (index, app, changelist, add, change, history,
  delete confirmation);
- every log line written meanwhile, at DEBUG, with its arguments;
- Django's error report (what `mail_admins` would send) of a crash while the key is in use;
- a `pg_dump` of the whole database (PostgreSQL only: the key is stored Fernet-encrypted).
"""

from __future__ import annotations

import copy
import glob
import logging
import os
import shutil
import subprocess

import pytest
import requests
import yaml
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.views.debug import ExceptionReporter
from rest_framework.test import APIClient

from devstack.auth import ALL_PERMISSIONS
from tenants.models import Tenant
from tests.conftest import API_TOKEN
from tests.deployments.conftest import SIMPLE_FLOW

CANARY = "sgk_CANARYrel4b7e1d9c3a5f8e2b6d0c"
CANARY_CORE = "CANARYrel4b7e1d9c3a5f8e2b6"
CREDENTIALS = "/api/v1/tenants/me/scaigrid_credentials"

FLOW = SIMPLE_FLOW


def assert_no_canary(text: str, where: str) -> None:
    assert CANARY_CORE not in text, f"the key leaked into {where}"


@pytest.fixture
def keyed(db, devstack_settings, settings):
    """acme's key is the canary; deploys (and the legacy path) authenticate with it."""
    settings.SCAIFLOW_DEPLOY_AUTH = "api_key"
    settings.SCAIFLOW_DEFAULT_TENANT = "acme"
    settings.SCAIFLOW_DEPLOY_RATE = "100000/min"
    settings.SCAIFLOW_DEPLOY_TENANT_RATE = "100000/min"
    devstack_settings.register_key(sorted(ALL_PERMISSIONS), key=CANARY, tenant="acme")
    jwt = devstack_settings.mint_token(tenant="acme", sub="ada", roles=["tenant_admin"])
    clients = {"admin": APIClient(), "member": APIClient(), "service": APIClient()}
    member_jwt = devstack_settings.mint_token(tenant="acme", sub="alice")
    clients["admin"].credentials(HTTP_AUTHORIZATION=f"Bearer {jwt}")
    clients["member"].credentials(HTTP_AUTHORIZATION=f"Bearer {member_jwt}")
    clients["service"].credentials(HTTP_AUTHORIZATION=f"Bearer {API_TOKEN}")
    stored = clients["admin"].post(CREDENTIALS, {"api_key": CANARY}, format="json")
    assert stored.status_code == 200, stored.content
    return clients


def exercise_every_operation(clients) -> tuple[list, set[tuple[str, str]]]:
    """Call every operation of the API, with real objects; the responses and what was covered."""
    admin_, member, service = clients["admin"], clients["member"], clients["service"]
    calls: list[tuple[str, str, object]] = []

    def call(client, method: str, template: str, path: str | None = None, body=None, **extra):
        response = getattr(client, method)(path or template, body, format="json", **extra)
        calls.append((method.upper(), template, response))
        return response

    flow = call(admin_, "post", "/api/v1/flows", body={"name": "Canary", "content": FLOW}).json()
    one = f"/api/v1/flows/{flow['id']}"
    changed = copy.deepcopy(FLOW)
    changed["nodes"][2]["data"]["value"] = "v2: {{answer.text}}"
    call(admin_, "get", "/api/v1/flows")
    call(admin_, "get", "/api/v1/flows/{flow_id}", one)
    call(admin_, "put", "/api/v1/flows/{flow_id}", one, {"name": "Canary", "content": changed})
    call(admin_, "patch", "/api/v1/flows/{flow_id}", one, {"description": "d"})
    call(admin_, "get", "/api/v1/flows/{flow_id}/versions", f"{one}/versions")
    call(admin_, "get", "/api/v1/flows/{flow_id}/versions/{number}", f"{one}/versions/1")
    call(admin_, "get", "/api/v1/flows/{flow_id}/versions/{a}/diff/{b}", f"{one}/versions/1/diff/2")
    call(admin_, "post", "/api/v1/flows/{flow_id}/compile", f"{one}/compile", {})
    deployed = call(admin_, "post", "/api/v1/flows/{flow_id}/deploy", f"{one}/deploy", {})
    assert deployed.status_code == 201, deployed.content
    assert deployed.json()["auth_source"] == "tenant_key"  # the canary was really used
    deployment = f"/api/v1/deployments/{deployed.json()['id']}"
    call(admin_, "get", "/api/v1/flows/{flow_id}/deployments", f"{one}/deployments")
    call(admin_, "get", "/api/v1/deployments")
    call(admin_, "get", "/api/v1/deployments/{deployment_id}", deployment)
    call(admin_, "post", "/api/v1/deployments/{deployment_id}/rollback", f"{deployment}/rollback")
    call(admin_, "get", "/api/v1/audit")
    call(admin_, "get", "/api/v1/tenants/me")
    call(member, "get", "/api/v1/tenants/me")
    call(admin_, "get", CREDENTIALS)
    call(member, "get", CREDENTIALS)
    call(member, "post", CREDENTIALS, body={"api_key": CANARY})  # 403
    call(admin_, "post", CREDENTIALS, body={"api_key": CANARY + " tail"})  # 400
    call(admin_, "post", CREDENTIALS, body={"api_key": CANARY, "base_url": "https://evil.example"})
    call(admin_, "get", "/api/v1/scaicore/events", body={"flow_id": flow["id"]})
    call(service, "post", "/api/v1/dev/deploy", body={"content": FLOW})
    call(admin_, "delete", "/api/v1/flows/{flow_id}", one)
    call(member, "delete", CREDENTIALS)  # 403
    call(admin_, "get", "/api/schema/")
    # Last, so everything above ran with the key set: delete it, and set it again.
    call(admin_, "delete", CREDENTIALS)
    call(admin_, "post", CREDENTIALS, body={"api_key": CANARY})
    covered = {(method, template) for method, template, _ in calls}
    return [response for _, _, response in calls], covered


def api_operations(schema_response) -> set[tuple[str, str]]:
    paths = yaml.safe_load(schema_response.content)["paths"]
    return {(method.upper(), path) for path, methods in paths.items() for method in methods}


def visit_every_admin_page(db_user) -> list:
    """Index, app indexes, and every registered model's list, add, change, history and delete."""
    client = Client()
    client.force_login(db_user)
    responses = [client.get(reverse("admin:index"))]
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        name = f"admin:{meta.app_label}_{meta.model_name}"
        responses.append(client.get(reverse("admin:app_list", args=[meta.app_label])))
        responses.append(client.get(reverse(f"{name}_changelist")))
        responses.append(client.get(reverse(f"{name}_changelist"), {"q": "acme"}))
        request = _request_for(db_user)
        if model_admin.has_add_permission(request):  # append-only models have no add page
            responses.append(client.get(reverse(f"{name}_add")))
        for obj in model_admin.get_queryset(request)[:5]:
            views = ["change", "history"]
            if model_admin.has_delete_permission(request, obj):
                views.append("delete")
            for view in views:
                # quote(): the admin reads "_25" in an id like dep_25… as an escaped "%".
                responses.append(client.get(reverse(f"{name}_{view}", args=[quote(obj.pk)])))
    return responses


def _request_for(user):
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def test_the_canary_key_comes_out_of_nothing(keyed, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    responses, covered = exercise_every_operation(keyed)
    superuser = get_user_model().objects.create_superuser("root", "root@example.com", "pw-1")
    pages = visit_every_admin_page(superuser)

    missing = api_operations(keyed["admin"].get("/api/schema/")) - covered
    assert not missing, f"operations the canary test does not exercise: {sorted(missing)}"
    assert all(page.status_code == 200 for page in pages), [
        (page.request["PATH_INFO"], page.status_code, page.get("Location"))
        for page in pages
        if page.status_code != 200
    ]
    for response in responses + pages:
        where = f"{response.request['REQUEST_METHOD']} {response.request['PATH_INFO']}"
        assert response.status_code < 500, (where, response.content[:300])
        assert_no_canary(response.content.decode(), f"the answer to {where}")
        assert_no_canary(str(response.headers), f"the headers of {where}")
    assert_no_canary(caplog.text, "the logs")
    assert_no_canary(repr([record.args for record in caplog.records]), "log arguments")
    captured = capsys.readouterr()
    assert_no_canary(captured.out + captured.err, "stdout/stderr")


def test_the_error_report_of_a_crash_with_the_key_in_use_hides_it(keyed, caplog, monkeypatch):
    """A crash inside the outbound call, where the key is a local of several frames: the report
    Django would mail to ADMINS (every frame's variables) must not show it."""
    seen = []

    def crash(self, method, url, **kwargs):
        seen.append(kwargs["headers"]["Authorization"] == f"Bearer {CANARY}")
        raise RuntimeError("the connection pool broke")

    monkeypatch.setattr(requests.Session, "request", crash)
    flow = keyed["admin"].post("/api/v1/flows", {"name": "C", "content": FLOW}, format="json")
    response = keyed["admin"].post(f"/api/v1/flows/{flow.json()['id']}/deploy", {}, format="json")

    assert seen and all(seen)  # the key really was in use when it crashed
    assert response.status_code == 500
    crashes = [record for record in caplog.records if record.exc_info]
    assert crashes, "the crash was not logged with its traceback"
    for record in crashes:
        settings_debug = ExceptionReporter(None, *record.exc_info)
        assert_no_canary(settings_debug.get_traceback_text(), "the error report")
        assert_no_canary(settings_debug.get_traceback_html(), "the error report (HTML)")
        for frame in settings_debug.get_traceback_frames():
            assert_no_canary(str(frame.get("vars")), f"the variables of {frame['function']}")
    assert_no_canary(caplog.text, "the logs")


def pg_dump_binary() -> str:
    """pg_dump on PATH, else the newest under /usr/lib/postgresql/*/bin (Debian's layout)."""
    found = shutil.which("pg_dump") or max(
        glob.glob("/usr/lib/postgresql/*/bin/pg_dump"),
        key=lambda path: int(path.split("/")[4]),
        default=None,
    )
    assert found, "pg_dump is needed: install the PostgreSQL client"
    return found


@pytest.mark.reliability
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_pg_dump_of_the_database_holds_no_canary(keyed):
    exercise_every_operation(keyed)  # rows in every table the API writes
    stored = Tenant.objects.get(slug="acme").scaigrid_credential
    assert stored.encrypted_api_key.startswith("gAAAAA")
    db = connection.settings_dict
    env = {**os.environ, "PGPASSWORD": db.get("PASSWORD") or ""}
    dump = subprocess.run(
        [
            pg_dump_binary(),
            "--data-only",
            "--host", db.get("HOST") or "127.0.0.1",
            "--port", str(db.get("PORT") or 5432),
            "--username", db.get("USER") or "postgres",
            db["NAME"],
        ],
        env=env, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    assert "scaiflow_deployment" in dump.stdout or "deployments_deployment" in dump.stdout
    assert "gAAAAA" in dump.stdout  # the encrypted key is in the dump...
    assert_no_canary(dump.stdout, "pg_dump")  # ...the key itself is not
