import secrets

from django.db import models
from django.db.models import Q


def new_deployment_id() -> str:
    return f"dep_{secrets.token_hex(12)}"


class Status(models.TextChoices):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PUBLISH_FAILED = "publish_failed"


class CoreAction(models.TextChoices):
    CREATED = "created"
    UPDATED = "updated"


class AuthSource(models.TextChoices):
    JWT = "jwt"
    TENANT_KEY = "tenant_key"
    ENV = "env"


class Deployment(models.Model):
    """One deploy attempt, written before anything else happens and updated step by step.

    A record is never lost: whatever fails, the attempt stays with its steps, its error body
    and, once ScaiGrid created it, the Core's id. Status moves only
    `pending → succeeded | failed | publish_failed`, by conditional updates.
    """

    id = models.CharField(primary_key=True, max_length=32, default=new_deployment_id)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="+")
    # Null for the legacy /dev/deploy; set null when the flow is deleted (the name stays).
    flow = models.ForeignKey(
        "flows.Flow", null=True, blank=True, on_delete=models.SET_NULL, related_name="deployments"
    )
    flow_name = models.CharField(max_length=200)
    flow_version = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    error = models.JSONField(null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True, db_index=True)
    core_id = models.CharField(max_length=200, blank=True)
    core_action = models.CharField(max_length=10, choices=CoreAction.choices, blank=True)
    published_slug = models.CharField(max_length=200, blank=True)
    publish_as_model = models.BooleanField(default=False)
    group_ids = models.JSONField(default=list, blank=True)
    auth_source = models.CharField(max_length=12, choices=AuthSource.choices, blank=True)
    actor = models.CharField(max_length=200)
    request_id = models.CharField(max_length=128, blank=True)
    manifest = models.TextField(blank=True)
    manifest_sha256 = models.CharField(max_length=64, blank=True)
    steps = models.JSONField(default=list, blank=True)
    # No database constraint: Django's delete() and prune_deployments clear the references
    # themselves (SET_NULL), and a constraint would cost the prune a trigger run per deleted
    # record (docs/benchmarks.md, "Scale: a year of records").
    rollback_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One deploy of a flow at a time, across processes and machines.
            models.UniqueConstraint(
                fields=["flow"], condition=Q(status="pending"), name="one_pending_deploy_per_flow"
            ),
        ]
        # Each list reads one of these in key order, newest first, from any cursor: keyset
        # pagination on (created_at, id) within a tenant, a status, a flow or an error code.
        indexes = [
            models.Index(fields=["tenant", "-created_at", "-id"], name="deployment_tenant_recent"),
            models.Index(
                fields=["tenant", "status", "-created_at", "-id"], name="deployment_status_recent"
            ),
            models.Index(fields=["flow", "-created_at", "-id"], name="deployment_flow_recent"),
            models.Index(fields=["status", "-created_at"], name="deployment_any_status_recent"),
            models.Index(fields=["error_code", "-created_at"], name="deployment_error_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.flow_name} v{self.flow_version} {self.status}"


class IdempotencyKey(models.Model):
    """The first answer to a deploy sent with an `Idempotency-Key`, replayed for 24 hours."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_sha256 = models.CharField(max_length=64)
    # Null while the first attempt is still running.
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "key"], name="one_idempotency_key_per_tenant")
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id}:{self.key}"
