"""`GET/POST/DELETE /api/v1/tenants/me/scaigrid_credentials` and `GET /api/v1/tenants/me`."""

from __future__ import annotations

import pytest

from tenants.models import CredentialStorage, TenantCredential
from tenants.services import scaigrid_credential_set, tenant_get_or_create
from tests.conftest import _client
from tests.tenants.conftest import CANARY

URL = "/api/v1/tenants/me/scaigrid_credentials"


def error_code(response) -> str:
    return response.json()["detail"]["error"]


def test_admin_sets_the_key_and_gets_only_its_status(acme_admin):
    response = acme_admin.post(URL, {"api_key": CANARY}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"tenant", "base_url", "api_key_hint", "storage", "updated_at"}
    assert body["tenant"] == "acme"
    assert body["base_url"] == "https://scaigrid.scailabs.ai"
    assert body["api_key_hint"] == "sgk_…4k8m"
    assert body["storage"] == "db"
    record = TenantCredential.objects.get(tenant__slug="acme")
    assert record.updated_by == "scaikey:ada"


def test_base_url_is_normalised(acme_admin, settings):
    settings.SCAIGRID_ALLOWED_HOSTS = ["scaigrid.scailabs.ai/grid"]
    response = acme_admin.post(
        URL, {"api_key": CANARY, "base_url": "HTTPS://SCAIGRID.scailabs.ai/grid/"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["base_url"] == "https://scaigrid.scailabs.ai/grid"


def test_status_is_readable_by_every_member_and_deletable_by_the_admin(acme_admin, acme_user):
    assert error_code(acme_user.get(URL)) == "not_found"
    acme_admin.post(URL, {"api_key": CANARY}, format="json")

    response = acme_user.get(URL)
    assert response.status_code == 200
    assert response.json()["api_key_hint"] == "sgk_…4k8m"

    assert acme_admin.delete(URL).status_code == 204
    assert acme_user.get(URL).status_code == 404
    assert acme_admin.delete(URL).status_code == 204  # deleting nothing is fine


def test_tenants_me_carries_the_status_or_null(acme_admin):
    assert acme_admin.get("/api/v1/tenants/me").json()["scaigrid_credentials"] is None

    acme_admin.post(URL, {"api_key": CANARY}, format="json")
    status = acme_admin.get("/api/v1/tenants/me").json()["scaigrid_credentials"]

    assert status["api_key_hint"] == "sgk_…4k8m"
    assert status["storage"] == "db"
    assert status["tenant"] == "acme"


@pytest.mark.parametrize("method", ["post", "delete"])
def test_changing_needs_the_tenant_admin_role(acme_user, service_client, method):
    for client in (acme_user, service_client):
        response = getattr(client, method)(URL, {"api_key": CANARY}, format="json")
        assert response.status_code == 403
        assert error_code(response) == "permission_denied"
    assert not TenantCredential.objects.exists()


def test_member_cannot_delete_an_existing_key(acme, acme_user):
    scaigrid_credential_set(tenant=acme, api_key=CANARY, actor="test")
    assert acme_user.delete(URL).status_code == 403
    assert TenantCredential.objects.filter(tenant=acme).exists()


def test_anonymous_is_401(anonymous_client):
    response = anonymous_client.get(URL)
    assert response.status_code == 401
    assert error_code(response) == "not_authenticated"


def test_a_tenant_only_ever_touches_its_own_key(acme, globex_user, make_token):
    scaigrid_credential_set(tenant=acme, api_key=CANARY, actor="test")
    globex_admin = _client(make_token(tenant="globex", sub="gwen", roles=("tenant_admin",)))

    assert globex_user.get(URL).status_code == 404
    assert globex_admin.delete(URL).status_code == 204
    assert TenantCredential.objects.filter(tenant=acme).exists()
    globex_admin.post(URL, {"api_key": "sgk_globex0123456789abcdefwxyz"}, format="json")
    assert TenantCredential.objects.get(tenant=acme).api_key_hint == "sgk_…4k8m"
    assert tenant_get_or_create(slug="globex").scaigrid_credential.api_key_hint == "sgk_…wxyz"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"api_key": ""},
        {"api_key": "sgk_with space"},
        {"api_key": "sgk_with\ttab"},
        {"api_key": "sgk_newline\n"},
        {"api_key": " sgk_leading"},
        {"api_key": "x" * 513},
        {"api_key": "sgk_ключ0123456789"},
        {"api_key": None},
        {"api_key": ["sgk_list"]},
    ],
)
def test_api_key_validation(acme_admin, body):
    response = acme_admin.post(URL, body, format="json")

    assert response.status_code == 400, response.content
    assert error_code(response) == "invalid_request"
    assert "api_key" in response.json()["detail"]["fields"]
    assert not TenantCredential.objects.exists()


def test_api_key_of_512_characters_is_accepted(acme_admin):
    response = acme_admin.post(URL, {"api_key": "k" * 512}, format="json")
    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    "base_url",
    [
        "https://evil.example",
        "https://scaigrid.scailabs.ai@evil.example",
        "https://scaigrid.scailabs.ai:443@evil.example",
        "https://user:password@scaigrid.scailabs.ai",
        "https://scaigrid.scailabs.ai%40evil.example",
        "https://scaigrid.scailabs.ai\\@evil.example",
        "https://evil.example#@scaigrid.scailabs.ai",
        "https://evil.example?@scaigrid.scailabs.ai",
        "https://scaigrid.scailabs.ai.evil.example",
        "https://scaigrid.scailabs.ai./",
        "https://evil.example/scaigrid.scailabs.ai",
        "http://scaigrid.scailabs.ai",
        "ftp://scaigrid.scailabs.ai",
        "javascript:alert(1)",
        "//scaigrid.scailabs.ai",
        "scaigrid.scailabs.ai",
        "https://scaigrid.scailabs.ai:99999",
        "https://scaigrid.scailabs.ai /v1",
        "https://scaigrid.scailabs.ai/?x=1",
        "https://[::1]",
        "http://localhost:8080",
        "https://" + "a" * 500 + ".scaigrid.scailabs.ai",
        "",
    ],
)
def test_base_url_must_be_an_allowed_scaigrid_host(acme_admin, base_url):
    response = acme_admin.post(URL, {"api_key": CANARY, "base_url": base_url}, format="json")

    assert response.status_code == 400, response.content
    assert error_code(response) == "invalid_request"
    assert "base_url" in response.json()["detail"]["fields"]
    assert not TenantCredential.objects.exists()


def test_http_only_where_an_entry_names_it(acme_admin, settings):
    settings.SCAIGRID_ALLOWED_HOSTS = [
        "http://localhost:8080", "http://127.0.0.1:9000/grid", "grid.internal"
    ]  # fmt: skip

    for base_url in ("http://localhost:8080", "http://127.0.0.1:9000/grid"):
        response = acme_admin.post(URL, {"api_key": CANARY, "base_url": base_url}, format="json")
        assert response.status_code == 200, response.content
        assert response.json()["base_url"] == base_url
    for base_url in ("http://grid.internal", "https://localhost:8080", "http://localhost"):
        response = acme_admin.post(URL, {"api_key": CANARY, "base_url": base_url}, format="json")
        assert error_code(response) == "invalid_request", base_url
    response = acme_admin.post(
        URL, {"api_key": CANARY, "base_url": "https://grid.internal:443/"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["base_url"] == "https://grid.internal:443"


def test_default_base_url_must_be_allowed_too(acme_admin, settings):
    settings.SCAIGRID_ALLOWED_HOSTS = ["other.scailabs.ai"]
    response = acme_admin.post(URL, {"api_key": CANARY}, format="json")
    assert response.status_code == 400
    assert "base_url" in response.json()["detail"]["fields"]


def test_scaivault_storage_through_the_api(acme_admin, vault):
    response = acme_admin.post(URL, {"api_key": CANARY}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["storage"] == CredentialStorage.SCAIVAULT
    assert vault.secrets["scaiflow/tenants/acme/scaigrid"]["api_key"] == CANARY
    assert acme_admin.get(URL).json()["storage"] == "scaivault"
    assert acme_admin.delete(URL).status_code == 204
    assert vault.secrets == {}


def test_scaivault_down_is_502_through_the_api(acme_admin, vault):
    vault.down_status = 503

    for response in (
        acme_admin.post(URL, {"api_key": CANARY}, format="json"),
        acme_admin.delete(URL),
    ):
        assert response.status_code == 502
        assert error_code(response) == "scaivault_unavailable"


def test_key_is_marked_sensitive_for_error_reports(acme_admin):
    response = acme_admin.post(URL, {"api_key": CANARY}, format="json")
    assert list(response.wsgi_request.sensitive_post_parameters) == ["api_key"]


def test_openapi_schema_documents_the_bodies(anonymous_client):
    schema = anonymous_client.get("/api/schema/", {"format": "json"}).json()

    operations = schema["paths"]["/api/v1/tenants/me/scaigrid_credentials"]
    assert {"get", "post", "delete"} <= set(operations)
    request_ref = operations["post"]["requestBody"]["content"]["application/json"]["schema"]
    request_schema = schema["components"]["schemas"][request_ref["$ref"].rsplit("/", 1)[1]]
    assert {"api_key", "base_url"} <= set(request_schema["properties"])
    assert request_schema["required"] == ["api_key"]
    response_ref = operations["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    response_schema = schema["components"]["schemas"][response_ref["$ref"].rsplit("/", 1)[1]]
    assert set(response_schema["properties"]) == {
        "tenant",
        "base_url",
        "api_key_hint",
        "storage",
        "updated_at",
    }
    me = schema["components"]["schemas"]["TenantMeOutput"]
    assert "scaigrid_credentials" in me["properties"]
