"""Writes on tenants and their ScaiGrid credentials."""

import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from scaiflow.identity.claims import InvalidClaims, ScaiKeyClaims, scaikey_claims_parse
from tenants.audit import audit_record
from tenants.credentials import credential_store
from tenants.models import AuditKind, Tenant, TenantCredential, validate_tenant_slug
from tenants.validators import scaigrid_api_key_validate, scaigrid_base_url_validate

logger = logging.getLogger("scaiflow.tenants")

# The admin username of a ScaiKey user is this and its `sub`.
SCAIKEY_USERNAME_PREFIX = "scaikey:"


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

    The claims are read by the API's parser (scaiflow.identity.claims), so a `sub` or role the
    API refuses, the sign-in refuses too. Keyed by issuer and `sub`, named `scaikey:<sub>`. Its
    memberships become exactly the token's: the tenant claim's tenant, as tenant_admin when the
    roles hold it, else member. Memberships an earlier sign-in made for other tenants are
    removed; hand-made ones stay.
    """
    from tenants.models import Role, ScaiKeyIdentity, TenantMembership

    parsed = _sign_in_claims(claims)
    role = Role.TENANT_ADMIN if parsed.is_tenant_admin else Role.MEMBER
    username = _scaikey_username(parsed.subject)
    with transaction.atomic():
        identity = (
            ScaiKeyIdentity.objects.select_related("user")
            .filter(issuer=issuer, sub=parsed.subject)
            .first()
        )
        user = identity.user if identity else _scaikey_user_create(issuer, parsed.subject, username)
        if not user.is_active:
            raise SignInRefused(f"The admin user {username} is deactivated.")
        if not user.is_staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        if identity:
            identity.save(update_fields=["last_sign_in"])
        tenant, _ = Tenant.objects.get_or_create(slug=parsed.tenant_slug)
        # delete() per row: the group receivers see each removal.
        for stale in TenantMembership.objects.filter(user=user, from_scaikey=True).exclude(
            tenant=tenant, role=role
        ):
            stale.delete()
        if not TenantMembership.objects.filter(user=user, tenant=tenant).exists():
            TenantMembership.objects.create(user=user, tenant=tenant, role=role, from_scaikey=True)
    logger.info("admin sign-in with ScaiKey: %s, %s of %s", username, role, parsed.tenant_slug)
    return user


def _sign_in_claims(claims: dict) -> ScaiKeyClaims:
    """The token's subject, tenant and roles, as the API reads them; else SignInRefused."""
    tenant_claim = settings.SCAIKEY_TENANT_CLAIM
    slug = claims.get(tenant_claim)
    if not isinstance(slug, str) or not slug:
        raise SignInRefused(
            "Your ScaiKey account names no tenant: ask your ScaiKey administrator to give it one."
        )
    try:
        parsed = scaikey_claims_parse(claims, tenant_claim=tenant_claim)
    except InvalidClaims as exc:
        raise SignInRefused(f"ScaiKey's ID token was refused: {exc}.") from None
    try:
        validate_tenant_slug(parsed.tenant_slug)
    except ValidationError:
        raise SignInRefused(
            f"ScaiKey names the tenant {parsed.tenant_slug[:70]!r}, which is not valid."
        ) from None
    return parsed


def _scaikey_username(subject: str) -> str:
    """`scaikey:<sub>`, which must fit Django's username (150 characters): a valid `sub` may be
    255 long, and one too long for the admin is refused rather than cut, since a cut name
    could be another user's."""
    from django.contrib.auth import get_user_model

    username = f"{SCAIKEY_USERNAME_PREFIX}{subject}"
    limit = get_user_model()._meta.get_field("username").max_length
    if len(username) > limit:
        raise SignInRefused(
            f"Your ScaiKey user id is {len(subject)} characters long; the admin takes at most "
            f"{limit - len(SCAIKEY_USERNAME_PREFIX)}. Ask an operator."
        )
    return username


def _scaikey_user_create(issuer: str, subject: str, username: str):
    """A new staff user without a password, tied to this ScaiKey account."""
    from django.contrib.auth import get_user_model

    from tenants.models import ScaiKeyIdentity

    user_model = get_user_model()
    if user_model.objects.filter(username=username).exists():
        raise SignInRefused(
            f"The admin user {username} belongs to another sign-in; ask an operator."
        )
    user = user_model(username=username, is_staff=True)
    user.set_unusable_password()
    user.save()
    ScaiKeyIdentity.objects.create(user=user, issuer=issuer, sub=subject)
    return user
