"""The store of tenants' ScaiGrid keys: both backends, the hint, the development key."""

from __future__ import annotations

import logging
import stat

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured, ValidationError

from scaiflow.core.errors import ScaivaultUnavailable
from tenants import credentials
from tenants.credentials import (
    DatabaseStore,
    ScaiVaultStore,
    api_key_hint,
    credential_store,
    secret_decrypt,
    secret_encrypt,
    tenant_key_get,
)
from tenants.models import CredentialStorage, TenantCredential
from tenants.services import scaigrid_credential_delete, scaigrid_credential_set
from tests.tenants.conftest import CANARY, OTHER_KEY, VAULT_TOKEN


@pytest.mark.parametrize(
    ("api_key", "hint"),
    [
        ("sgk_0123456789abcdefghijwxyz", "sgk_…wxyz"),
        ("abcdefghijklmnop", "…mnop"),
        ("sgk_abcdefgh", "sgk_…"),
        ("sgk_abc", "…"),
        ("short", "…"),
    ],
)
def test_hint_shows_at_most_a_third_of_the_key(api_key, hint):
    assert api_key_hint(api_key) == hint


# --- database backend -------------------------------------------------------------------------


def test_database_backend_keeps_only_a_fernet_token(acme):
    record = scaigrid_credential_set(tenant=acme, api_key=CANARY, actor="test:ops")

    record.refresh_from_db()
    assert record.storage == CredentialStorage.DB
    assert record.api_key_hint == "sgk_…4k8m"
    assert record.base_url == "https://scaigrid.scailabs.ai"
    assert record.updated_by == "test:ops"
    assert CANARY not in record.encrypted_api_key
    assert record.encrypted_api_key.startswith("gAAAAA")
    assert secret_decrypt(record.encrypted_api_key) == CANARY
    stored = DatabaseStore().get(tenant=acme)
    assert stored.api_key == CANARY
    assert stored.base_url == "https://scaigrid.scailabs.ai"
    assert CANARY not in repr(stored)
    assert CANARY not in repr(record) and CANARY not in str(record)


def test_database_backend_replaces_and_deletes(acme):
    scaigrid_credential_set(tenant=acme, api_key=CANARY, actor="test")
    scaigrid_credential_set(tenant=acme, api_key=OTHER_KEY, actor="test")

    assert TenantCredential.objects.filter(tenant=acme).count() == 1
    assert tenant_key_get(tenant=acme).api_key == OTHER_KEY
    assert scaigrid_credential_delete(tenant=acme, actor="test") is True
    assert tenant_key_get(tenant=acme) is None
    assert scaigrid_credential_delete(tenant=acme, actor="test") is False


def test_each_encryption_is_a_fresh_token():
    assert secret_encrypt(CANARY) != secret_encrypt(CANARY)


def test_first_key_encrypts_and_all_decrypt(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.SCAIFLOW_SECRETS_KEYS = [old]
    token_under_old = secret_encrypt(CANARY)
    settings.SCAIFLOW_SECRETS_KEYS = [new, old]
    token_under_new = secret_encrypt(CANARY)

    assert secret_decrypt(token_under_old) == CANARY
    assert Fernet(new).decrypt(token_under_new.encode()).decode() == CANARY


def test_store_is_the_database_without_scaivault(settings):
    settings.SCAIVAULT_URL = ""
    assert isinstance(credential_store(), DatabaseStore)


# --- ScaiVault backend ------------------------------------------------------------------------


def test_scaivault_backend_puts_the_key_in_scaivault_and_only_the_status_in_the_db(acme, vault):
    record = scaigrid_credential_set(tenant=acme, api_key=CANARY, actor="test")

    assert isinstance(credential_store(), ScaiVaultStore)
    assert vault.secrets == {
        "scaiflow/tenants/acme/scaigrid": {
            "api_key": CANARY,
            "base_url": "https://scaigrid.scailabs.ai",
        }
    }
    assert vault.requests == [("PUT", "scaiflow/tenants/acme/scaigrid", f"Bearer {VAULT_TOKEN}")]
    record.refresh_from_db()
    assert record.storage == CredentialStorage.SCAIVAULT
    assert record.encrypted_api_key == ""
    assert record.api_key_hint == api_key_hint(CANARY)


def test_scaivault_backend_reads_and_deletes(acme, vault):
    scaigrid_credential_set(tenant=acme, api_key=CANARY, actor="test")

    stored = tenant_key_get(tenant=acme)
    assert stored.api_key == CANARY
    assert ("GET", "scaiflow/tenants/acme/scaigrid", f"Bearer {VAULT_TOKEN}") in vault.requests

    assert scaigrid_credential_delete(tenant=acme, actor="test") is True
    assert vault.secrets == {}
    assert not TenantCredential.objects.filter(tenant=acme).exists()
    assert tenant_key_get(tenant=acme) is None  # ScaiVault answers 404: no key


def test_scaivault_secret_put_there_by_an_operator_is_found(acme, vault):
    vault.secrets["scaiflow/tenants/acme/scaigrid"] = {"api_key": CANARY}

    stored = tenant_key_get(tenant=acme)
    assert stored.api_key == CANARY
    assert stored.base_url == "https://scaigrid.scailabs.ai"


def test_scaivault_failing_on_set_is_502_and_stores_nothing(acme, vault):
    vault.down_status = 503

    with pytest.raises(ScaivaultUnavailable) as caught:
        scaigrid_credential_set(tenant=acme, api_key=CANARY, actor="test")

    assert caught.value.code == "scaivault_unavailable"
    assert caught.value.status_code == 502
    assert not TenantCredential.objects.filter(tenant=acme).exists()


def test_scaivault_secret_without_a_key_is_502(acme, vault):
    vault.secrets["scaiflow/tenants/acme/scaigrid"] = {"base_url": "https://scaigrid.scailabs.ai"}
    with pytest.raises(ScaivaultUnavailable):
        tenant_key_get(tenant=acme)


def test_key_stored_in_the_db_before_scaivault_keeps_working(acme, settings, vault):
    settings.SCAIVAULT_URL = ""
    scaigrid_credential_set(tenant=acme, api_key=CANARY, actor="test")
    settings.SCAIVAULT_URL = "https://scaivault.test"

    assert tenant_key_get(tenant=acme).api_key == CANARY
    assert vault.requests == []


def test_key_in_scaivault_without_scaivault_configured_is_502(acme, settings, vault):
    scaigrid_credential_set(tenant=acme, api_key=CANARY, actor="test")
    settings.SCAIVAULT_URL = ""

    with pytest.raises(ScaivaultUnavailable):
        tenant_key_get(tenant=acme)


# --- validation in the service ----------------------------------------------------------------


def test_service_rejects_bad_input_with_per_field_messages(acme):
    with pytest.raises(ValidationError) as caught:
        scaigrid_credential_set(
            tenant=acme, api_key=CANARY + " x", base_url="https://evil.example", actor="test"
        )

    assert set(caught.value.message_dict) == {"api_key", "base_url"}
    assert CANARY not in str(caught.value.message_dict)
    assert not TenantCredential.objects.exists()


# --- the development key ----------------------------------------------------------------------


@pytest.fixture
def no_secrets_keys(settings, tmp_path, monkeypatch):
    settings.SCAIFLOW_SECRETS_KEYS = []
    settings.SCAIFLOW_DEV_SECRETS_KEY_FILE = tmp_path / "var" / "dev-secrets.key"
    monkeypatch.setattr(credentials, "_dev_key_warned", False)
    return settings


def test_debug_without_keys_uses_a_dev_key_file_and_says_so(no_secrets_keys, caplog):
    no_secrets_keys.DEBUG = True
    caplog.set_level(logging.WARNING, logger="scaiflow.credentials")

    token = secret_encrypt(CANARY)

    path = no_secrets_keys.SCAIFLOW_DEV_SECRETS_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Fernet(path.read_text().strip()).decrypt(token.encode()).decode() == CANARY
    assert secret_decrypt(token) == CANARY  # the same key is read back
    assert any("development key" in record.getMessage() for record in caplog.records)


def test_production_without_keys_refuses_to_encrypt(no_secrets_keys):
    no_secrets_keys.DEBUG = False
    with pytest.raises(ImproperlyConfigured):
        secret_encrypt(CANARY)
    assert not no_secrets_keys.SCAIFLOW_DEV_SECRETS_KEY_FILE.exists()
