"""`set_scaigrid_credentials` and `rotate_secrets_key`."""

from __future__ import annotations

import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from tenants.credentials import (
    CredentialDecryptError,
    scaigrid_credential_resolve,
    tenant_key_get,
)
from tenants.models import CredentialStorage, TenantCredential
from tenants.services import scaigrid_credential_set
from tests.tenants.conftest import CANARY, CANARY_CORE, KEY_NEW, KEY_OLD, OTHER_KEY


def run(*args, stdin: str | None = None, **options) -> str:
    out = io.StringIO()
    if stdin is not None:
        options["stdin"] = io.StringIO(stdin)
    call_command(*args, stdout=out, stderr=out, **options)
    return out.getvalue()


# --- set_scaigrid_credentials -----------------------------------------------------------------


def test_set_reads_the_key_from_stdin_and_never_echoes_it(acme):
    output = run("set_scaigrid_credentials", "acme", stdin=CANARY + "\n")

    assert CANARY not in output
    assert "sgk_…4k8m" in output
    assert tenant_key_get(tenant=acme).api_key == CANARY
    record = TenantCredential.objects.get(tenant=acme)
    assert record.updated_by == "command:set_scaigrid_credentials"
    assert record.storage == CredentialStorage.DB


def test_set_reads_the_key_from_a_file_with_a_base_url(acme, tmp_path, settings):
    settings.SCAIGRID_ALLOWED_HOSTS = ["grid.scailabs.ai"]
    key_file = tmp_path / "key"
    key_file.write_text(CANARY + "\n")

    output = run(
        "set_scaigrid_credentials",
        "acme",
        "--api-key-file",
        str(key_file),
        "--base-url",
        "https://grid.scailabs.ai/",
    )

    assert CANARY not in output
    stored = tenant_key_get(tenant=acme)
    assert (stored.api_key, stored.base_url) == (CANARY, "https://grid.scailabs.ai")


def test_set_stores_in_scaivault_when_configured(acme, vault):
    run("set_scaigrid_credentials", "acme", stdin=CANARY)
    assert vault.secrets["scaiflow/tenants/acme/scaigrid"]["api_key"] == CANARY
    assert TenantCredential.objects.get(tenant=acme).encrypted_api_key == ""


def test_the_key_is_never_an_argument(acme):
    with pytest.raises(CommandError):
        run("set_scaigrid_credentials", "acme", "--api-key", CANARY, stdin="")
    with pytest.raises(CommandError):
        run("set_scaigrid_credentials", "acme", CANARY, stdin="")
    assert not TenantCredential.objects.exists()


@pytest.mark.parametrize(
    ("args", "stdin"),
    [
        (["nobody"], CANARY),
        (["acme"], ""),
        (["acme"], CANARY + " trailing-part"),
        (["acme", "--base-url", "https://scaigrid.scailabs.ai@evil.example"], CANARY),
        (["acme", "--api-key-file", "/nonexistent/key"], None),
    ],
)
def test_set_fails_with_a_one_line_reason(acme, args, stdin):
    with pytest.raises(CommandError) as caught:
        run("set_scaigrid_credentials", *args, stdin=stdin if stdin is not None else "")

    message = str(caught.value)
    assert message and "\n" not in message
    assert CANARY_CORE not in message
    assert not TenantCredential.objects.exists()


def test_set_reports_scaivault_failure_in_one_line(acme, vault):
    vault.down_status = 503
    with pytest.raises(CommandError) as caught:
        run("set_scaigrid_credentials", "acme", stdin=CANARY)
    assert "ScaiVault" in str(caught.value)


# --- rotate_secrets_key -----------------------------------------------------------------------


def test_rotation_lets_the_old_key_go(acme, globex, settings):
    settings.SCAIFLOW_SECRETS_KEYS = [KEY_OLD]
    scaigrid_credential_set(tenant=acme, api_key=CANARY, actor="test")
    scaigrid_credential_set(tenant=globex, api_key=OTHER_KEY, actor="test")
    before = dict(TenantCredential.objects.values_list("tenant__slug", "updated_at"))

    settings.SCAIFLOW_SECRETS_KEYS = [KEY_NEW, KEY_OLD]
    output = run("rotate_secrets_key")

    assert "re-encrypted 2 " in output
    settings.SCAIFLOW_SECRETS_KEYS = [KEY_NEW]
    assert scaigrid_credential_resolve(tenant=acme).secret == CANARY
    assert scaigrid_credential_resolve(tenant=globex).secret == OTHER_KEY
    for record in TenantCredential.objects.all():
        assert Fernet(KEY_NEW).decrypt(record.encrypted_api_key.encode())
    # Rotating is not a change of the tenants' keys.
    assert dict(TenantCredential.objects.values_list("tenant__slug", "updated_at")) == before


def test_without_rotation_dropping_the_old_key_loses_access(acme, settings):
    settings.SCAIFLOW_SECRETS_KEYS = [KEY_OLD]
    scaigrid_credential_set(tenant=acme, api_key=CANARY, actor="test")
    settings.SCAIFLOW_SECRETS_KEYS = [KEY_NEW]

    with pytest.raises(CredentialDecryptError):
        scaigrid_credential_resolve(tenant=acme)


def test_rotation_skips_keys_kept_in_scaivault(acme, globex, settings, vault):
    scaigrid_credential_set(tenant=acme, api_key=CANARY, actor="test")
    settings.SCAIVAULT_URL = ""
    scaigrid_credential_set(tenant=globex, api_key=OTHER_KEY, actor="test")

    assert "re-encrypted 1 " in run("rotate_secrets_key")


def test_rotation_with_nothing_stored(db):
    assert "re-encrypted 0 " in run("rotate_secrets_key")


def test_rotation_is_all_or_nothing(acme, globex, settings):
    settings.SCAIFLOW_SECRETS_KEYS = [KEY_OLD]
    scaigrid_credential_set(tenant=acme, api_key=CANARY, actor="test")
    settings.SCAIFLOW_SECRETS_KEYS = [Fernet.generate_key().decode()]
    scaigrid_credential_set(tenant=globex, api_key=OTHER_KEY, actor="test")
    tokens = dict(TenantCredential.objects.values_list("tenant__slug", "encrypted_api_key"))

    settings.SCAIFLOW_SECRETS_KEYS = [KEY_NEW, KEY_OLD]
    with pytest.raises(CommandError) as caught:
        run("rotate_secrets_key")

    assert "globex" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert dict(TenantCredential.objects.values_list("tenant__slug", "encrypted_api_key")) == tokens
