"""Writes on tenants and their ScaiGrid credentials."""

import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.views.decorators.debug import sensitive_variables

from tenants.audit import audit_record
from tenants.credentials import credential_store
from tenants.models import AuditKind, Tenant, TenantCredential, validate_tenant_slug
from tenants.validators import scaigrid_api_key_validate, scaigrid_base_url_validate

logger = logging.getLogger("scaiflow.tenants")


def tenant_create(*, slug: str, name: str = "") -> Tenant:
    """Create a tenant; raises ValidationError for a bad or taken slug."""
    validate_tenant_slug(slug)
    if Tenant.objects.filter(slug=slug).exists():
        raise ValidationError(f"tenant '{slug}' already exists")
    return Tenant.objects.create(slug=slug, name=name)


def tenant_get_or_create(*, slug: str) -> Tenant:
    """The tenant named `slug`, created on first sight (a valid ScaiKey token names it)."""
    validate_tenant_slug(slug)
    tenant, _ = Tenant.objects.get_or_create(slug=slug)
    return tenant


@sensitive_variables()
def scaigrid_credential_set(
    *, tenant: Tenant, api_key: str, base_url: str | None = None, actor: str
) -> TenantCredential:
    """Validate the key and base URL and store them for `tenant`, replacing any earlier key.

    `base_url` defaults to SCAIGRID_BASE_URL. Raises ValidationError with per-field messages
    (`api_key`, `base_url`) that never quote the key, or ScaivaultUnavailable.
    """
    errors: dict[str, list[str]] = {}
    try:
        scaigrid_api_key_validate(api_key)
    except ValidationError as exc:
        errors["api_key"] = exc.messages
    try:
        base_url = scaigrid_base_url_validate(base_url or settings.SCAIGRID_BASE_URL)
    except ValidationError as exc:
        errors["base_url"] = exc.messages
    if errors:
        raise ValidationError(errors)
    record = credential_store().set(tenant=tenant, api_key=api_key, base_url=base_url, actor=actor)
    logger.info(
        "ScaiGrid key of tenant %s set by %s (storage %s)", tenant.slug, actor, record.storage
    )
    audit_record(tenant=tenant, kind=AuditKind.CREDENTIALS_SET, actor=actor,
                 base_url=record.base_url, api_key_hint=record.api_key_hint,
                 storage=record.storage)  # fmt: skip
    return record


def scaigrid_credential_delete(*, tenant: Tenant, actor: str) -> bool:
    """Forget the tenant's ScaiGrid key wherever it is stored; False when there was none."""
    deleted = credential_store().delete(tenant=tenant)
    if deleted:
        logger.info("ScaiGrid key of tenant %s deleted by %s", tenant.slug, actor)
        audit_record(tenant=tenant, kind=AuditKind.CREDENTIALS_CLEARED, actor=actor)
    return deleted
