"""Which credential a ScaiGrid call uses: SPEC §4 step 3, in every order."""

from __future__ import annotations

import pytest

from scaiflow.core.errors import MissingScaigridCredentials, ScaivaultUnavailable, error_response
from scaiflow.identity.principal import AUTH_MODE_API_TOKEN, AUTH_MODE_SCAIKEY, Principal
from tenants.credentials import CredentialDecryptError, scaigrid_credential_resolve
from tenants.models import CredentialSource
from tenants.services import scaigrid_credential_set
from tests.tenants.conftest import CANARY, KEY_NEW, KEY_OLD

ENV_KEY = "sgk_environment0123456789env"
JWT = "eyJ.caller-jwt.signature"
TENANT_URL = "https://scaigrid.scailabs.ai:8443/tenant"


@pytest.fixture(autouse=True)
def _defaults(settings):
    settings.SCAIFLOW_DEPLOY_AUTH = "jwt"
    settings.SCAIGRID_API_KEY = ""
    settings.SCAIVAULT_URL = ""
    settings.SCAIGRID_ALLOWED_HOSTS = [TENANT_URL]


def jwt_caller(tenant) -> Principal:
    return Principal(tenant=tenant, subject="alice", auth_mode=AUTH_MODE_SCAIKEY, token=JWT)


def shared_token_caller(tenant) -> Principal:
    return Principal(tenant=tenant, subject="api-token", auth_mode=AUTH_MODE_API_TOKEN)


def set_tenant_key(tenant) -> None:
    scaigrid_credential_set(tenant=tenant, api_key=CANARY, base_url=TENANT_URL, actor="test")


def test_jwt_caller_forwards_the_jwt_even_with_a_tenant_key_and_an_env_key(acme, settings):
    settings.SCAIGRID_API_KEY = ENV_KEY
    set_tenant_key(acme)

    resolved = scaigrid_credential_resolve(tenant=acme, principal=jwt_caller(acme))

    assert resolved.source == CredentialSource.JWT == "jwt"
    assert resolved.secret == JWT
    assert resolved.base_url == TENANT_URL


def test_jwt_caller_without_tenant_key_uses_the_default_base_url(acme):
    resolved = scaigrid_credential_resolve(tenant=acme, principal=jwt_caller(acme))
    assert (resolved.source, resolved.base_url) == ("jwt", "https://scaigrid.scailabs.ai")


def test_jwt_forwarding_never_asks_scaivault(acme, vault):
    vault.down_status = 503
    resolved = scaigrid_credential_resolve(tenant=acme, principal=jwt_caller(acme))
    assert resolved.source == "jwt"
    assert vault.requests == []


def test_deploy_auth_api_key_uses_the_tenant_key_for_a_jwt_caller(acme, settings):
    settings.SCAIFLOW_DEPLOY_AUTH = "api_key"
    settings.SCAIGRID_API_KEY = ENV_KEY
    set_tenant_key(acme)

    resolved = scaigrid_credential_resolve(tenant=acme, principal=jwt_caller(acme))

    assert resolved.source == "tenant_key"
    assert resolved.secret == CANARY
    assert resolved.base_url == TENANT_URL


def test_deploy_auth_api_key_without_tenant_key_falls_back_to_env(acme, settings):
    settings.SCAIFLOW_DEPLOY_AUTH = "api_key"
    settings.SCAIGRID_API_KEY = ENV_KEY

    resolved = scaigrid_credential_resolve(tenant=acme, principal=jwt_caller(acme))

    assert (resolved.source, resolved.secret) == ("env", ENV_KEY)


def test_shared_token_caller_uses_the_tenant_key(acme, settings):
    settings.SCAIGRID_API_KEY = ENV_KEY
    set_tenant_key(acme)

    resolved = scaigrid_credential_resolve(tenant=acme, principal=shared_token_caller(acme))

    assert (resolved.source, resolved.secret) == ("tenant_key", CANARY)


def test_no_principal_uses_the_tenant_key(acme):
    set_tenant_key(acme)
    assert scaigrid_credential_resolve(tenant=acme).source == "tenant_key"


def test_env_key_only_when_the_tenant_has_none(acme, globex, settings):
    settings.SCAIGRID_API_KEY = ENV_KEY
    set_tenant_key(acme)

    assert scaigrid_credential_resolve(tenant=acme).secret == CANARY
    resolved = scaigrid_credential_resolve(tenant=globex, principal=shared_token_caller(globex))
    assert resolved.source == "env"
    assert resolved.secret == ENV_KEY
    assert resolved.base_url == settings.SCAIGRID_BASE_URL


def test_nothing_at_all_is_412_with_the_contract_message_and_fix(acme):
    with pytest.raises(MissingScaigridCredentials) as caught:
        scaigrid_credential_resolve(tenant=acme, principal=shared_token_caller(acme))

    detail = error_response(caught.value).data["detail"]
    assert caught.value.status_code == 412
    assert detail["error"] == "missing_scaigrid_credentials"
    assert detail["message"] == "no ScaiGrid credentials for tenant 'acme'"
    assert "ScaiKey" in detail["fix"]
    assert "POST /v1/tenants/me/scaigrid_credentials" in detail["fix"]


def test_tenant_key_from_scaivault(acme, vault):
    set_tenant_key(acme)
    resolved = scaigrid_credential_resolve(tenant=acme, principal=shared_token_caller(acme))
    assert (resolved.source, resolved.secret, resolved.base_url) == (
        "tenant_key",
        CANARY,
        TENANT_URL,
    )


def test_scaivault_without_the_secret_falls_back_to_env(acme, settings, vault):
    settings.SCAIGRID_API_KEY = ENV_KEY
    assert scaigrid_credential_resolve(tenant=acme).source == "env"


@pytest.mark.parametrize("status", [500, 503, 401])
def test_scaivault_failing_is_502_never_the_env_key(acme, settings, vault, status):
    settings.SCAIGRID_API_KEY = ENV_KEY
    set_tenant_key(acme)
    vault.down_status = status

    with pytest.raises(ScaivaultUnavailable) as caught:
        scaigrid_credential_resolve(tenant=acme, principal=shared_token_caller(acme))

    assert caught.value.status_code == 502
    assert error_response(caught.value).data["detail"]["error"] == "scaivault_unavailable"


def test_key_set_but_gone_from_scaivault_is_502_never_the_env_key(acme, settings, vault):
    settings.SCAIGRID_API_KEY = ENV_KEY
    set_tenant_key(acme)
    vault.secrets.clear()

    with pytest.raises(ScaivaultUnavailable):
        scaigrid_credential_resolve(tenant=acme)


def test_scaivault_unreachable_is_502_even_without_a_row(acme, settings, vault):
    settings.SCAIGRID_API_KEY = ENV_KEY
    settings.SCAIVAULT_URL = "https://scaivault-unreachable.test"  # responses: refused

    with pytest.raises(ScaivaultUnavailable):
        scaigrid_credential_resolve(tenant=acme)


def test_undecryptable_key_is_an_error_not_a_fallback(acme, settings):
    settings.SCAIFLOW_SECRETS_KEYS = [KEY_OLD]
    settings.SCAIGRID_API_KEY = ENV_KEY
    set_tenant_key(acme)
    settings.SCAIFLOW_SECRETS_KEYS = [KEY_NEW]

    with pytest.raises(CredentialDecryptError) as caught:
        scaigrid_credential_resolve(tenant=acme)
    assert CANARY not in str(caught.value)


def test_principal_of_another_tenant_is_refused(acme, globex):
    with pytest.raises(ValueError, match="another tenant"):
        scaigrid_credential_resolve(tenant=acme, principal=jwt_caller(globex))


def test_resolved_credential_repr_hides_the_secret(acme):
    set_tenant_key(acme)
    resolved = scaigrid_credential_resolve(tenant=acme)
    assert CANARY not in repr(resolved)
    assert CANARY not in str(resolved)
    assert "TENANT_KEY" in repr(resolved)
