import pytest
from django.core.management import CommandError, call_command

from scaiflow.core import health
from tenants.models import Tenant


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_ok(client, db):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "cache": "ok", "flow_storage": "ok"}


@pytest.mark.parametrize("part", ["database", "cache", "flow_storage"])
def test_readyz_names_the_failing_part(client, db, monkeypatch, part):
    def broken():
        raise ConnectionError("postgres://user:hunter2@db/scaiflow refused")

    monkeypatch.setitem(health.READINESS_CHECKS, part, broken)
    response = client.get("/readyz")
    assert response.status_code == 503
    detail = response.json()["detail"]
    assert detail["error"] == "not_ready"
    assert detail["checks"][part] == "unreachable"
    assert part in detail["message"]
    assert "hunter2" not in response.content.decode()


def test_schema_and_docs(client, db):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/tenants/me" in schema.content
    assert b"ScaiKeyJWT" in schema.content
    assert client.get("/api/docs/").status_code == 200


def test_create_tenant(db, capsys):
    call_command("create_tenant", "acme", "--name", "Acme Corp")
    assert Tenant.objects.get(slug="acme").name == "Acme Corp"
    assert "acme" in capsys.readouterr().out


@pytest.mark.parametrize("slug", ["acme", "Bad Slug", "-x"])
def test_create_tenant_refuses_taken_or_bad_slugs(db, slug):
    Tenant.objects.create(slug="acme")
    with pytest.raises(CommandError):
        call_command("create_tenant", slug)


def test_readyz_sees_redis_down_though_the_cache_calls_fall_back(client, db, redis_down, caplog):
    from django.core.cache import cache

    cache.set("still", "answered")
    assert cache.get("still") == "answered"  # per process, while Redis is down
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["detail"]["checks"]["cache"] == "unreachable"
    assert not [r for r in caplog.records if r.exc_info], "no traceback"
