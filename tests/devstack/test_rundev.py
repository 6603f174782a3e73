"""`manage.py rundev` (what `make run` starts): devstack, demo tenant, examples, dev token."""

import io
import json

import jwt
import pytest
from django.core.management import call_command

from devstack.management.commands import rundev
from flows.models import Flow


@pytest.fixture
def examples(tmp_path, monkeypatch):
    flow = {"name": "Hello", "nodes": [], "edges": []}
    (tmp_path / "hello.flow.json").write_text(json.dumps(flow))
    monkeypatch.setattr(rundev, "EXAMPLES_DIR", tmp_path)


@pytest.fixture
def server_runs(monkeypatch):
    seen = {}

    def fake_run(command, *, env, **kwargs):
        seen.update(command=command, env=env)

        class Done:
            returncode = 0

        return Done()

    monkeypatch.setattr(rundev.subprocess, "run", fake_run)
    return seen


def run(**options):
    out = io.StringIO()
    call_command("rundev", "--devstack-port", "0", stdout=out, **options)
    return out.getvalue()


def test_points_the_dev_server_at_devstack(db, examples, server_runs, monkeypatch):
    monkeypatch.delenv("SCAIGRID_BASE_URL", raising=False)
    monkeypatch.setenv("SCAIQUEUE_BASE_URL", "https://my-own-queue.example")
    output = run()
    env = server_runs["env"]
    assert env["SCAIGRID_BASE_URL"].startswith("http://127.0.0.1:")
    assert env["SCAIKEY_JWKS_URL"].endswith("/.well-known/jwks.json")
    assert env["SCAIQUEUE_BASE_URL"] == "https://my-own-queue.example"  # the user's wins
    assert server_runs["command"][-2:] == ["runserver", "8000"]
    assert "/deploy" in output


def test_demo_tenant_examples_and_a_usable_token(db, examples, server_runs):
    output = run()
    flow = Flow.objects.get(tenant__slug="demo", name="Hello")
    assert flow.public_id in output
    token = next(line.split("TOKEN=")[1] for line in output.splitlines() if "TOKEN=" in line)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["tenant"], claims["roles"]) == ("demo", ["tenant_admin"])
    run()  # a second start does not duplicate the examples
    assert Flow.objects.filter(tenant__slug="demo").count() == 1


def test_the_admin_signs_in_with_devstacks_scaikey(db, examples, server_runs, monkeypatch):
    for name in ("SCAIKEY_ISSUER", "SCAIKEY_OIDC_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)
    output = run(tenant="acme", port=8123)
    env = server_runs["env"]
    assert env["SCAIKEY_OIDC_CLIENT_ID"] == "scaiflow-admin"
    assert 'Admin: http://127.0.0.1:8123/admin/ → "Sign in with ScaiKey"' in output


def test_a_client_id_of_ones_own_is_kept(db, examples, server_runs, monkeypatch):
    monkeypatch.setenv("SCAIKEY_OIDC_CLIENT_ID", "my-client")
    output = run()
    assert server_runs["env"]["SCAIKEY_OIDC_CLIENT_ID"] == "my-client"
    assert "Sign in with ScaiKey" not in output
