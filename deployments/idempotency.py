"""`Idempotency-Key` on deploys: the first answer is kept 24 hours and replayed (SPEC §4)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from deployments import errors
from deployments.models import IdempotencyKey
from tenants.models import Tenant

KEEP_FOR = timedelta(hours=24)
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Replay:
    status_code: int
    body: Any


def request_fingerprint(*, method: str, path: str, body: Any) -> str:
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotency_claim(*, tenant: Tenant, key: str, fingerprint: str) -> IdempotencyKey | Replay:
    """Claim `key` for this request, or the first answer to replay.

    Raises 422 `idempotency_key_reused` when the key came with a different request, and 409
    `deploy_in_progress` while the first request with it is still running.
    """
    IdempotencyKey.objects.filter(
        tenant=tenant, key=key, created_at__lt=timezone.now() - KEEP_FOR
    ).delete()
    try:
        with transaction.atomic():
            return IdempotencyKey.objects.create(tenant=tenant, key=key, request_sha256=fingerprint)
    except IntegrityError:
        pass
    first = IdempotencyKey.objects.get(tenant=tenant, key=key)
    if first.request_sha256 != fingerprint:
        raise errors.IdempotencyKeyReused()
    if first.status_code is None:
        raise errors.DeployInProgress("The first request with this Idempotency-Key is running.")
    return Replay(status_code=first.status_code, body=first.response_body)


def idempotency_record(*, claim: IdempotencyKey, status_code: int, body: Any) -> None:
    """Keep the first answer for replays."""
    IdempotencyKey.objects.filter(pk=claim.pk).update(status_code=status_code, response_body=body)


def idempotency_release(*, claim: IdempotencyKey) -> None:
    """Forget a claim whose request died without an answer, so a retry can run."""
    IdempotencyKey.objects.filter(pk=claim.pk, status_code__isnull=True).delete()
