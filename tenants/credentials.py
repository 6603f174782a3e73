"""Tenants' ScaiGrid keys: the store and its two backends, and which credential a call to
ScaiGrid uses (SPEC §3 "Tenant", §4 step 3, §5 "ScaiVault"). Validation is in validators.py.

The store has one small interface (`get` / `set` / `delete` for a tenant) and two backends:
the database, where the key is a Fernet token (`MultiFernet` over `SCAIFLOW_SECRETS_KEYS`: the
first key encrypts, all decrypt), and ScaiVault when `SCAIVAULT_URL` is set, where the database
keeps only the hint, the base URL and the storage. Either way only the hint and the base URL
are in clear, and the key never reaches a response, a log line, an exception message or a repr.

Without `SCAIFLOW_SECRETS_KEYS`, production does not start (settings.py). With DEBUG on, keys
are encrypted with a development key kept in `SCAIFLOW_DEV_SECRETS_KEY_FILE` (created on first
use, mode 0600), and a warning says so: nothing is ever derived from another secret.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from deployments.clients import scaivault
from deployments.clients.http import UpstreamError
from scaiflow.core.errors import MissingScaigridCredentials, ScaivaultUnavailable
from tenants.audit import audit_record
from tenants.models import (
    AuditKind,
    CredentialSource,
    CredentialStorage,
    Tenant,
    TenantCredential,
)
from tenants.validators import scaigrid_base_url_validate

if TYPE_CHECKING:
    from scaiflow.identity.principal import Principal

logger = logging.getLogger("scaiflow.credentials")

_HINT_PREFIX = re.compile(r"[A-Za-z]{2,8}_")
HINT_TAIL_CHARS = 4


class CredentialDecryptError(RuntimeError):
    """A stored key that none of SCAIFLOW_SECRETS_KEYS decrypts (a key was dropped too early)."""

    def __init__(self, *, tenant_slug: str) -> None:
        super().__init__(
            f"the stored ScaiGrid key of tenant '{tenant_slug}' cannot be decrypted with any key "
            "of SCAIFLOW_SECRETS_KEYS"
        )


@sensitive_variables("api_key")
def api_key_hint(api_key: str) -> str:
    """What may be shown of a key: its prefix and last 4 characters (`sgk_…wxyz`).

    Never more than a third of the key: a short key shows less, or nothing but `…`.
    """
    match = _HINT_PREFIX.match(api_key)
    prefix = match.group(0) if match and 3 * len(match.group(0)) <= len(api_key) else ""
    tail = api_key[-HINT_TAIL_CHARS:] if len(api_key) >= 3 * (len(prefix) + HINT_TAIL_CHARS) else ""
    return f"{prefix}…{tail}"


# --- Encryption at rest -----------------------------------------------------------------------

_dev_key_lock = threading.Lock()
_dev_key_warned = False


def _dev_secrets_key() -> str:
    """The development key (DEBUG only): read from its file, created there on first use."""
    global _dev_key_warned
    path = Path(settings.SCAIFLOW_DEV_SECRETS_KEY_FILE)
    with _dev_key_lock:
        if not _dev_key_warned:
            logger.warning(
                "SCAIFLOW_SECRETS_KEYS is not set: ScaiGrid keys are encrypted with the "
                "development key in %s (DEBUG only; production needs SCAIFLOW_SECRETS_KEYS)",
                path,
            )
            _dev_key_warned = True
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Fernet.generate_key().decode()
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(key + "\n")
        return key


@lru_cache(maxsize=4)
def _multi_fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def secrets_fernet() -> MultiFernet:
    """The MultiFernet over SCAIFLOW_SECRETS_KEYS: the first key encrypts, all decrypt."""
    keys = tuple(settings.SCAIFLOW_SECRETS_KEYS)
    if not keys:
        if not settings.DEBUG:
            raise ImproperlyConfigured("SCAIFLOW_SECRETS_KEYS must be set when DEBUG is off")
        keys = (_dev_secrets_key(),)
    return _multi_fernet(keys)


@sensitive_variables()
def secret_encrypt(plaintext: str) -> str:
    """A Fernet token of `plaintext` under the first key."""
    return secrets_fernet().encrypt(plaintext.encode()).decode()


@sensitive_variables()
def secret_decrypt(token: str) -> str:
    """The plaintext of a Fernet token; cryptography's InvalidToken when no key decrypts it."""
    return secrets_fernet().decrypt(token.encode()).decode()


# --- The store ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredKey:
    """A tenant's key as the store holds it."""

    api_key: str = field(repr=False)
    base_url: str


class CredentialStore(Protocol):
    """Where tenants' keys live. `set` and `delete` also keep the TenantCredential row current."""

    storage: str

    def get(self, *, tenant: Tenant) -> StoredKey | None: ...

    def set(
        self, *, tenant: Tenant, api_key: str, base_url: str, actor: str
    ) -> TenantCredential: ...

    def delete(self, *, tenant: Tenant) -> bool: ...


def _record_save(
    *, tenant: Tenant, base_url: str, hint: str, storage: str, token: str, actor: str
) -> TenantCredential:
    record, _ = TenantCredential.objects.update_or_create(
        tenant=tenant,
        defaults={
            "base_url": base_url,
            "api_key_hint": hint,
            "storage": storage,
            "encrypted_api_key": token,
            "updated_by": actor,
        },
    )
    return record


class DatabaseStore:
    """Keys in the TenantCredential row, as Fernet tokens."""

    storage = CredentialStorage.DB

    @sensitive_variables()
    def get(self, *, tenant: Tenant) -> StoredKey | None:
        record = TenantCredential.objects.filter(tenant=tenant, storage=self.storage).first()
        if record is None:
            return None
        try:
            api_key = secret_decrypt(record.encrypted_api_key)
        except InvalidToken:
            raise CredentialDecryptError(tenant_slug=tenant.slug) from None
        return StoredKey(api_key=api_key, base_url=record.base_url)

    @sensitive_variables()
    def set(self, *, tenant: Tenant, api_key: str, base_url: str, actor: str) -> TenantCredential:
        return _record_save(
            tenant=tenant,
            base_url=base_url,
            hint=api_key_hint(api_key),
            storage=self.storage,
            token=secret_encrypt(api_key),
            actor=actor,
        )

    def delete(self, *, tenant: Tenant) -> bool:
        deleted, _ = TenantCredential.objects.filter(tenant=tenant).delete()
        return bool(deleted)


class ScaiVaultStore:
    """Keys in ScaiVault at `scaiflow/tenants/{slug}/scaigrid`; the row keeps no key.

    Any ScaiVault failure is a 502 `scaivault_unavailable`: the caller never falls back to
    another credential.
    """

    storage = CredentialStorage.SCAIVAULT

    @sensitive_variables()
    def get(self, *, tenant: Tenant) -> StoredKey | None:
        try:
            data = scaivault.secret_get(path=scaivault.tenant_secret_path(tenant_slug=tenant.slug))
        except UpstreamError as exc:
            raise _vault_unavailable(exc) from None
        if data is None:
            return None
        api_key = data.get("api_key")
        if not isinstance(api_key, str) or not api_key:
            raise ScaivaultUnavailable("ScaiVault's secret for this tenant holds no api_key.")
        base_url = data.get("base_url")
        if not isinstance(base_url, str) or not base_url:
            record = TenantCredential.objects.filter(tenant=tenant).first()
            base_url = record.base_url if record else settings.SCAIGRID_BASE_URL
        return StoredKey(api_key=api_key, base_url=base_url)

    @sensitive_variables()
    def set(self, *, tenant: Tenant, api_key: str, base_url: str, actor: str) -> TenantCredential:
        path = scaivault.tenant_secret_path(tenant_slug=tenant.slug)
        try:
            scaivault.secret_put(path=path, data={"api_key": api_key, "base_url": base_url})
        except UpstreamError as exc:
            raise _vault_unavailable(exc) from None
        return _record_save(
            tenant=tenant,
            base_url=base_url,
            hint=api_key_hint(api_key),
            storage=self.storage,
            token="",
            actor=actor,
        )

    def delete(self, *, tenant: Tenant) -> bool:
        try:
            scaivault.secret_delete(path=scaivault.tenant_secret_path(tenant_slug=tenant.slug))
        except UpstreamError as exc:
            raise _vault_unavailable(exc) from None
        deleted, _ = TenantCredential.objects.filter(tenant=tenant).delete()
        return bool(deleted)


def _vault_unavailable(exc: UpstreamError) -> ScaivaultUnavailable:
    # Only the status (or the seam's own "timed out"/"could not connect"): an upstream's error
    # text about a secret's request is not repeated anywhere.
    reason = f"HTTP {exc.status}" if exc.status is not None else exc.message
    logger.warning("ScaiVault is unavailable: %s", reason)
    return ScaivaultUnavailable(f"ScaiVault is unavailable ({reason}).")


def credential_store() -> CredentialStore:
    """The store new keys go to: ScaiVault when SCAIVAULT_URL is set, else the database."""
    return ScaiVaultStore() if settings.SCAIVAULT_URL else DatabaseStore()


def tenant_key_get(*, tenant: Tenant) -> StoredKey | None:
    """The tenant's stored key, read from where it was stored.

    A key kept in the database before ScaiVault was configured keeps working until it is set
    again; with ScaiVault configured and no row, ScaiVault is still asked (an operator may have
    put the secret there). A row saying ScaiVault while ScaiVault is not configured, or while
    ScaiVault has no such secret, is a 502, never "no key" (which would fall through to the
    environment's key).
    """
    storage = (
        TenantCredential.objects.filter(tenant=tenant).values_list("storage", flat=True).first()
    )
    if storage == CredentialStorage.DB:
        return DatabaseStore().get(tenant=tenant)
    if settings.SCAIVAULT_URL:
        stored = ScaiVaultStore().get(tenant=tenant)
        if stored is None and storage == CredentialStorage.SCAIVAULT:
            # The tenant set a key; using another one instead would be a silent surprise.
            raise ScaivaultUnavailable(
                "ScaiVault holds no key for this tenant, though one was set.",
                fix="A tenant admin sets the ScaiGrid key again.",
            )
        return stored
    if storage == CredentialStorage.SCAIVAULT:
        raise ScaivaultUnavailable(
            "The tenant's ScaiGrid key is kept in ScaiVault, but SCAIVAULT_URL is not set."
        )
    return None


def secrets_key_rotate(*, actor: str = "cli:rotate_secrets_key") -> int:
    """Re-encrypt every key stored in the database with the first key; return how many.

    All or nothing: a key that no configured key decrypts aborts the rotation unchanged.
    """
    fernet = secrets_fernet()
    rotated = 0
    with transaction.atomic():
        records = (
            TenantCredential.objects.select_for_update()
            .filter(storage=CredentialStorage.DB)
            .select_related("tenant")
            .order_by("pk")
        )
        for record in records:
            try:
                token = fernet.rotate(record.encrypted_api_key.encode()).decode()
            except InvalidToken:
                raise CredentialDecryptError(tenant_slug=record.tenant.slug) from None
            # A queryset update: rotating is not a change of the key (updated_at/by stay).
            TenantCredential.objects.filter(pk=record.pk).update(encrypted_api_key=token)
            audit_record(tenant=record.tenant, kind=AuditKind.CREDENTIALS_ROTATED, actor=actor)
            rotated += 1
    return rotated


# --- Which credential a ScaiGrid call uses (SPEC §4 step 3) ------------------------------------


@dataclass(frozen=True)
class ResolvedCredential:
    """The bearer credential for ScaiGrid, where to send it, and where it came from."""

    secret: str = field(repr=False)
    base_url: str
    source: CredentialSource


def scaigrid_base_url(*, tenant: Tenant) -> str:
    """Where ScaiGrid calls for `tenant` go: its stored base URL, else SCAIGRID_BASE_URL.

    One query; it reads no key (the caller's JWT goes there, not the tenant's key).
    """
    record = TenantCredential.objects.filter(tenant=tenant).only("base_url").first()
    return (
        stored_base_url_check(record.base_url, tenant=tenant)
        if record
        else (settings.SCAIGRID_BASE_URL)
    )


def stored_base_url_check(base_url: str, *, tenant: Tenant) -> str:
    """`base_url`, when SCAIGRID_ALLOWED_HOSTS still allows it; else nothing is sent there.

    A base URL is checked when it is stored, and again here, where a credential is about to be
    sent to it: one stored under an older, looser allowlist (a port or path the allowlist now
    refuses) gets no key and no JWT, but a 412 until the tenant's key is set again.
    """
    try:
        scaigrid_base_url_validate(base_url)
    except ValidationError:
        logger.warning(
            "stored ScaiGrid base URL of tenant %s is not allowed by SCAIGRID_ALLOWED_HOSTS; "
            "nothing is sent to it until the key is set again",
            tenant.slug,
        )
        raise MissingScaigridCredentials(tenant=tenant.slug) from None
    return base_url


@sensitive_variables()
def scaigrid_credential_resolve(
    *, tenant: Tenant, principal: Principal | None = None
) -> ResolvedCredential:
    """The credential for a ScaiGrid call on behalf of `tenant`; first match wins:

    1. the caller's ScaiKey JWT, unless SCAIFLOW_DEPLOY_AUTH is `api_key`;
    2. the tenant's stored key (ScaiVault when configured, else the database);
    3. SCAIGRID_API_KEY, only when the tenant has no stored key;
    4. else 412 `missing_scaigrid_credentials`.

    ScaiVault configured but failing raises 502 `scaivault_unavailable`: never a fall-through
    to the environment's key.
    """
    if principal is not None and principal.tenant.pk != tenant.pk:
        raise ValueError("the principal belongs to another tenant")
    if principal is not None and principal.token and settings.SCAIFLOW_DEPLOY_AUTH != "api_key":
        return ResolvedCredential(
            secret=principal.token,
            base_url=scaigrid_base_url(tenant=tenant),
            source=CredentialSource.JWT,
        )
    stored = tenant_key_get(tenant=tenant)
    if stored is not None:
        return ResolvedCredential(
            secret=stored.api_key,
            base_url=stored_base_url_check(stored.base_url, tenant=tenant),
            source=CredentialSource.TENANT_KEY,
        )
    if settings.SCAIGRID_API_KEY:
        return ResolvedCredential(
            secret=settings.SCAIGRID_API_KEY,
            base_url=settings.SCAIGRID_BASE_URL,
            source=CredentialSource.ENV,
        )
    raise MissingScaigridCredentials(tenant=tenant.slug)
