"""Canonical JSON: the one byte form of a flow's content that is stored and hashed.

Keys sorted, no whitespace, UTF-8, no NaN or infinities: equal content gives equal bytes and
an equal SHA-256 (`content_sha256`), whoever computes it — the server when it stores a version
(`flows.storage`), the `scaiflow` command when it asks whether a file changed.
"""

from __future__ import annotations

import json
from typing import Any


def canonical_json(content: Any) -> bytes:
    """The canonical bytes of `content`. Raises ValueError (NaN, a lone surrogate) or TypeError
    (a value JSON has no form for)."""
    text = json.dumps(
        content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8")
