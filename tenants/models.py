from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

from scaiflow.identity.claims import ROLE_MEMBER, ROLE_TENANT_ADMIN

# Tenant slugs come from ScaiKey tokens and end up in upstream paths and labels. `\Z`, not `$`:
# `$` also matches before a final newline, which let `acme\n` through as a tenant of its own.
TENANT_SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?\Z"
validate_tenant_slug = RegexValidator(
    TENANT_SLUG_PATTERN, "A tenant slug is 1-63 lowercase letters, digits, '-' or '_'."
)


class Role(models.TextChoices):
    TENANT_ADMIN = ROLE_TENANT_ADMIN, "Tenant admin"
    MEMBER = ROLE_MEMBER, "Member"


class Tenant(models.Model):
    """A customer of ScaiFlow. Everything else belongs to exactly one tenant."""

    slug = models.CharField(max_length=63, unique=True, validators=[validate_tenant_slug])
    name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    @property
    def display_name(self) -> str:
        return self.name or self.slug


class TenantMembership(models.Model):
    """Ties a Django user (admin login) to a tenant, with a role in it."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tenant_memberships"
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.MEMBER)
    # Made by a ScaiKey sign-in, which replaces it at the next one; hand-made ones stay.
    from_scaikey = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "tenant"], name="one_membership_per_tenant"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.tenant} ({self.role})"


class ScaiKeyIdentity(models.Model):
    """The ScaiKey account (issuer and `sub`) an admin user signs in as: the user is found by
    these, never by name or e-mail."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="scaikey_identity"
    )
    issuer = models.CharField(max_length=500)
    sub = models.CharField(max_length=255)
    last_sign_in = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["issuer", "sub"], name="one_user_per_scaikey_sub"),
        ]
        verbose_name = "ScaiKey identity"
        verbose_name_plural = "ScaiKey identities"

    def __str__(self) -> str:
        return f"{self.sub} at {self.issuer}"


class CredentialStorage(models.TextChoices):
    """Where a tenant's ScaiGrid key lives."""

    DB = "db", "Database (encrypted)"
    SCAIVAULT = "scaivault", "ScaiVault"


class CredentialSource(models.TextChoices):
    """Which credential a call to ScaiGrid uses (SPEC §4 step 3)."""

    JWT = "jwt", "Caller's ScaiKey JWT"
    TENANT_KEY = "tenant_key", "Tenant's stored key"
    ENV = "env", "SCAIGRID_API_KEY"


class TenantCredential(models.Model):
    """A tenant's ScaiGrid API key.

    Only the hint and the base URL are in clear. With storage `db` the key is held here as a
    Fernet token (`encrypted_api_key`); with storage `scaivault` it lives in ScaiVault and this
    row only records that it is set.
    """

    tenant = models.OneToOneField(
        Tenant, on_delete=models.CASCADE, related_name="scaigrid_credential"
    )
    base_url = models.CharField(max_length=500)
    api_key_hint = models.CharField(max_length=32)
    storage = models.CharField(max_length=16, choices=CredentialStorage.choices)
    encrypted_api_key = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="credential_key_matches_storage",
                condition=(models.Q(storage=CredentialStorage.DB) & ~models.Q(encrypted_api_key=""))
                | (models.Q(storage=CredentialStorage.SCAIVAULT) & models.Q(encrypted_api_key="")),
            ),
        ]

    def __str__(self) -> str:
        return f"ScaiGrid key of {self.tenant_id} ({self.api_key_hint}, {self.storage})"


class AuditKind(models.TextChoices):
    FLOW_CREATED = "flow.created"
    FLOW_UPDATED = "flow.updated"
    FLOW_DELETED = "flow.deleted"
    DEPLOY_STARTED = "deploy.started"
    DEPLOY_FINISHED = "deploy.finished"
    PUBLISHED = "deploy.published"
    UNPUBLISHED = "deploy.unpublished"
    ROLLBACK = "deploy.rollback"
    CREDENTIALS_SET = "credentials.set"
    CREDENTIALS_CLEARED = "credentials.cleared"
    CREDENTIALS_ROTATED = "credentials.rotated"
    ARCHIVED = "audit.archived"


class AppendOnlyError(Exception):
    """Audit entries are never changed or deleted."""


class AuditEntry(models.Model):
    """One change that matters, append-only: who did what to which object of a tenant, when,
    in which request, and a small JSON of the change (never a secret)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=40, choices=AuditKind.choices, db_index=True)
    actor = models.CharField(max_length=200, db_index=True)
    target = models.CharField(max_length=64, blank=True, help_text="flow or deployment id")
    request_id = models.CharField(max_length=128, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"
        # The audit list's filters, each in key order newest first (keyset pagination on
        # (created_at, id)); `kind` alone for the admin's filter across tenants.
        indexes = [
            models.Index(fields=["tenant", "-created_at", "-id"], name="audit_tenant_recent"),
            models.Index(fields=["tenant", "kind", "-created_at", "-id"], name="audit_kind_recent"),
            models.Index(
                fields=["tenant", "actor", "-created_at", "-id"], name="audit_actor_recent"
            ),
            models.Index(
                fields=["tenant", "target", "-created_at", "-id"], name="audit_target_recent"
            ),
            models.Index(fields=["kind", "-created_at"], name="audit_any_kind_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.kind} by {self.actor}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise AppendOnlyError("audit entries cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("audit entries cannot be deleted")
