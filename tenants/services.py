"""Writes on tenants and their ScaiGrid credentials."""

import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
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


class SignInRefused(Exception):
    """A ScaiKey sign-in that cannot make an admin user; the message is for the login page."""


def admin_user_from_scaikey(*, issuer: str, claims: dict):
    """The admin user of a verified ScaiKey ID token, made or brought up to date.

    Keyed by issuer and `sub`, named `scaikey:<sub>`. Its memberships become exactly the
    token's: the tenant claim's tenant, as tenant_admin when `roles` has it, else member.
    Memberships an earlier sign-in made for other tenants are removed; hand-made ones stay.
    """
    from django.contrib.auth import get_user_model

    from tenants.models import Role, ScaiKeyIdentity, TenantMembership

    sub = claims.get("sub")
    slug = claims.get(settings.SCAIKEY_TENANT_CLAIM)
    roles = claims.get("roles")
    if not isinstance(sub, str) or not sub or len(sub) > 140:
        raise SignInRefused("ScaiKey's answer names no user (sub).")
    if not isinstance(slug, str) or not slug:
        raise SignInRefused(
            "Your ScaiKey account names no tenant: ask your ScaiKey administrator to give it one."
        )
    try:
        validate_tenant_slug(slug)
    except ValidationError:
        raise SignInRefused(
            f"ScaiKey names the tenant {slug[:70]!r}, which is not valid."
        ) from None
    role = Role.TENANT_ADMIN if isinstance(roles, list) and "tenant_admin" in roles else Role.MEMBER
    username = f"scaikey:{sub}"
    with transaction.atomic():
        identity = (
            ScaiKeyIdentity.objects.select_related("user").filter(issuer=issuer, sub=sub).first()
        )
        if identity is None:
            user_model = get_user_model()
            if user_model.objects.filter(username=username).exists():
                raise SignInRefused(
                    f"The admin user {username} belongs to another sign-in; ask an operator."
                )
            user = user_model(username=username, is_staff=True)
            user.set_unusable_password()
            user.save()
            identity = ScaiKeyIdentity.objects.create(user=user, issuer=issuer, sub=sub)
        user = identity.user
        if not user.is_active:
            raise SignInRefused(f"The admin user {username} is deactivated.")
        if not user.is_staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        identity.save(update_fields=["last_sign_in"])
        tenant, _ = Tenant.objects.get_or_create(slug=slug)
        # delete() per row: the group receivers see each removal.
        for stale in TenantMembership.objects.filter(user=user, from_scaikey=True).exclude(
            tenant=tenant, role=role
        ):
            stale.delete()
        if not TenantMembership.objects.filter(user=user, tenant=tenant).exists():
            TenantMembership.objects.create(user=user, tenant=tenant, role=role, from_scaikey=True)
    logger.info("admin sign-in with ScaiKey: %s, %s of %s", username, role, slug)
    return user
