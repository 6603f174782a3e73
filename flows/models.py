"""Flows and their versions.

The database holds a flow's metadata and, per version, the key and hash of the object that
holds its content in flow storage (`flows.storage`); the content itself never lives in a row.
Writes go through `flows.services`, reads through `flows.selectors`.
"""

from __future__ import annotations

import secrets

from django.db import models
from django.utils import timezone

from tenants.models import Tenant

FLOW_ID_PREFIX = "flw_"
# Lowercase letters and digits: safe in URLs, object keys and manifest labels alike.
_FLOW_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
# 20 characters of a 36-letter alphabet: about 103 random bits, not guessable, not a sequence.
_FLOW_ID_LENGTH = 20
FLOW_NAME_MAX_LENGTH = 200
ACTOR_MAX_LENGTH = 255


def new_flow_public_id() -> str:
    """A fresh public id such as `flw_k3v9x0q2m7c1r8t5z4wa`."""
    random_part = "".join(secrets.choice(_FLOW_ID_ALPHABET) for _ in range(_FLOW_ID_LENGTH))
    return f"{FLOW_ID_PREFIX}{random_part}"


class Flow(models.Model):
    """A tenant's flow: what the canvas saves. Its content is the content of its current version.

    `version` is the number of the current `FlowVersion` (1 on creation); it only moves when the
    content changes, and only by a conditional update on the number it moves from, so
    concurrent writers never lose a version. `public_id` is what the API shows and URLs carry.
    """

    public_id = models.CharField(
        max_length=32, unique=True, default=new_flow_public_id, editable=False
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="flows")
    name = models.CharField(max_length=FLOW_NAME_MAX_LENGTH)
    description = models.TextField(blank=True, default="")
    version = models.PositiveIntegerField(default=1)
    content_sha256 = models.CharField(max_length=64)
    created_by = models.CharField(max_length=ACTOR_MAX_LENGTH)
    updated_by = models.CharField(max_length=ACTOR_MAX_LENGTH)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # Set by the services on every change (also by queryset updates, which skip auto_now).
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "-updated_at", "-id"], name="flow_tenant_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.public_id})"


class FlowVersion(models.Model):
    """One saved content of a flow: immutable once written.

    The content is the object at `storage_key` in flow storage, written before this row was
    committed; `sha256` (of the canonical JSON bytes) and `size` describe that object, and the
    read path checks the hash.
    """

    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    storage_key = models.CharField(max_length=512, unique=True)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    author = models.CharField(max_length=ACTOR_MAX_LENGTH)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["flow", "number"], name="one_flow_version_per_number"),
        ]

    def __str__(self) -> str:
        return f"version {self.number}"
