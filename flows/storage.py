"""Flow content in object storage, through Django's storage API (`STORAGES["flows"]`).

One object per flow version, written before the database row that names it commits, never
overwritten. Content is stored as canonical JSON (sorted keys, no whitespace, UTF-8), so equal
content gives equal bytes and an equal SHA-256: that hash is how an update that changes
nothing is told apart from one that makes a new version.

Keys are `<tenant slug>/<flow public id>/v<number>-<random>.json`: the flow's public id is
random and the last part is random too, so two databases sharing one bucket (staging and
production, say) or two writers racing for the same version number never pick the same key.

Whatever a backend raises (OSError for local files, botocore and boto3 errors for S3) leaves
this module as `FlowStorageError`; the API answers it with 503 `flow_storage_unavailable`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages

from flows.compiler import canonical_json
from scaiflow.core.errors import DependencyUnavailable, FlowStorageUnavailable

logger = logging.getLogger("scaiflow.flows.storage")

FLOW_STORAGE_ALIAS = "flows"


class FlowStorageError(DependencyUnavailable):
    """Flow storage did not store or return a flow's content (unreachable, refused, missing)."""

    answer = FlowStorageUnavailable


class FlowContentCorrupt(FlowStorageError):
    """A stored object is not what was written: its hash differs or it is not JSON."""


class ContentNotEncodable(ValueError):
    """The content holds something canonical JSON cannot carry (a lone surrogate, NaN)."""


@dataclass(frozen=True)
class EncodedContent:
    """A flow's content as the canonical bytes that are stored and hashed."""

    data: bytes
    sha256: str

    @property
    def size(self) -> int:
        return len(self.data)


def encode_content(content: dict[str, Any]) -> EncodedContent:
    """The canonical JSON of `content`: equal content, equal bytes, equal hash."""
    try:
        data = canonical_json(content)
    except (ValueError, TypeError) as exc:
        # UnicodeEncodeError (a lone surrogate from a `\ud800` escape) is a ValueError too.
        raise ContentNotEncodable(str(exc)) from exc
    return EncodedContent(data=data, sha256=hashlib.sha256(data).hexdigest())


def _describe(exc: Exception) -> str:
    """The error's class and its first line (botocore names the endpoint, never the keys)."""
    first_line = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__


def _storage() -> Storage:
    # Looked up on every call, not at import: settings (and tests) may change the storage.
    return storages[FLOW_STORAGE_ALIAS]


def content_key(*, tenant_slug: str, flow_public_id: str, number: int) -> str:
    """A new, never-used key for version `number` of a flow."""
    return f"{tenant_slug}/{flow_public_id}/v{number}-{secrets.token_hex(16)}.json"


def content_write(
    *, tenant_slug: str, flow_public_id: str, number: int, encoded: EncodedContent
) -> str:
    """Store `encoded` as a new object and return its key. Raises FlowStorageError."""
    key = content_key(tenant_slug=tenant_slug, flow_public_id=flow_public_id, number=number)
    try:
        # The backend may adjust the name (it never does for these keys); keep what it used.
        return _storage().save(key, ContentFile(encoded.data))
    except Exception as exc:
        # One line, no traceback: an outage of the store makes one per request.
        logger.warning("writing flow content %s failed: %s", key, _describe(exc))
        raise FlowStorageError(f"could not write {key}") from exc


def content_read(*, key: str, sha256: str) -> dict[str, Any]:
    """The content stored at `key`, checked against `sha256`. Raises FlowStorageError."""
    try:
        with _storage().open(key, "rb") as stored:
            data = stored.read()
    except Exception as exc:
        logger.warning("reading flow content %s failed: %s", key, _describe(exc))
        raise FlowStorageError(f"could not read {key}") from exc
    if hashlib.sha256(data).hexdigest() != sha256:
        logger.error("flow content %s does not match its recorded sha256", key)
        raise FlowContentCorrupt(f"{key} does not match its recorded hash")
    try:
        content = json.loads(data)
    except ValueError as exc:
        raise FlowContentCorrupt(f"{key} is not JSON") from exc
    if not isinstance(content, dict):
        raise FlowContentCorrupt(f"{key} is not a JSON object")
    return content


def content_delete(*, keys: Iterable[str]) -> None:
    """Remove objects no row names any more. Best effort: a failure is logged, not raised,
    because an unreferenced object under a random key harms nothing but the bill."""
    storage = _storage()
    for key in keys:
        try:
            storage.delete(key)
        except Exception:
            logger.exception("deleting flow content %s failed; the object is left behind", key)
