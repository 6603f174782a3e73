"""The API's JSON parser: bounded in size and depth, strict about encoding and literals.

Every operation of the API that takes a body takes a JSON object: any other document (`null`,
a list, a number, a string) is refused here, once, as 400 `invalid_request`.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from rest_framework.parsers import BaseParser

from scaiflow.core.errors import FlowTooLarge, InvalidRequest

# Canvas flows nest a few levels; anything deeper is an attack on whatever walks it next.
MAX_JSON_DEPTH = 64


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """True when `value` nests deeper than `limit` containers (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def too_large(limit: int) -> FlowTooLarge:
    return FlowTooLarge(
        f"The request body is larger than the limit of {limit} bytes.",
        fix="Split the flow into smaller flows.",
        limit=limit,
    )


def loads_strict(raw: bytes) -> Any:
    """Parse a JSON document, turning every way it can be bad into a 400 InvalidRequest."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest("The request body is not valid UTF-8.") from exc
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise InvalidRequest(f"JSON nests deeper than {MAX_JSON_DEPTH} levels.") from exc
    except ValueError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}") from exc
    if json_depth_exceeds(value, MAX_JSON_DEPTH):
        raise InvalidRequest(f"JSON nests deeper than {MAX_JSON_DEPTH} levels.")
    return value


class JSONParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.SCAIFLOW_MAX_FLOW_BYTES
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        # Refuse by the declared length before reading a byte of the body.
        if declared and declared.isdigit() and int(declared) > limit:
            raise too_large(limit)
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise too_large(limit)
        value = loads_strict(raw)
        if not isinstance(value, dict):
            raise InvalidRequest("The request body must be a JSON object.")
        return value
