"""Diagnostics: what the compiler reports, as values (never exceptions).

The codes are the stable ones of SPEC §6. A diagnostic's `path` is a JSON Pointer (RFC 6901)
into the FlowGraph the caller gave; `node_id` names the node it concerns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

ERROR = "error"
WARNING = "warning"

INVALID_JSON = "invalid_json"
INVALID_SCHEMA = "invalid_schema"
DUPLICATE_NODE_ID = "duplicate_node_id"
UNKNOWN_BLOCK_KIND = "unknown_block_kind"
MISSING_TRIGGER = "missing_trigger"
MULTIPLE_TRIGGERS = "multiple_triggers"
DANGLING_EDGE = "dangling_edge"
UNKNOWN_HANDLE = "unknown_handle"
CYCLE = "cycle"
NO_OUTPUT = "no_output"
UNREACHABLE_NODE = "unreachable_node"
UNDECLARED_LLM_ROLE = "undeclared_llm_role"
UNKNOWN_PLUGIN = "unknown_plugin"
PLUGIN_MISSING_ARG = "plugin_missing_arg"
PLUGIN_BAD_ARG = "plugin_bad_arg"
UNKNOWN_REFERENCE = "unknown_reference"
UNDECLARED_QUEUE = "undeclared_queue"
FLOW_TOO_LARGE = "flow_too_large"

CODES = (
    INVALID_JSON,
    INVALID_SCHEMA,
    DUPLICATE_NODE_ID,
    UNKNOWN_BLOCK_KIND,
    MISSING_TRIGGER,
    MULTIPLE_TRIGGERS,
    DANGLING_EDGE,
    UNKNOWN_HANDLE,
    CYCLE,
    NO_OUTPUT,
    UNREACHABLE_NODE,
    UNDECLARED_LLM_ROLE,
    UNKNOWN_PLUGIN,
    PLUGIN_MISSING_ARG,
    PLUGIN_BAD_ARG,
    UNKNOWN_REFERENCE,
    UNDECLARED_QUEUE,
    FLOW_TOO_LARGE,
)

#: Codes reported as warnings; every other code is an error.
WARNING_CODES = frozenset({UNREACHABLE_NODE})

# Messages quote what the user wrote; keep each quote short and on one line.
_QUOTE_LIMIT = 80


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem found in a flow: a stable `code`, its severity and a human message."""

    code: str
    severity: str
    message: str
    node_id: str | None = None
    path: str | None = None

    def as_dict(self) -> dict[str, str]:
        """The JSON form of SPEC §6; fields that are None are left out."""
        out = {"code": self.code, "severity": self.severity, "message": self.message}
        if self.node_id is not None:
            out["node_id"] = self.node_id
        if self.path is not None:
            out["path"] = self.path
        return out

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR


def make(code: str, message: str, *, node_id: str | None = None, path: str | None = None):
    """A diagnostic with the severity its code carries."""
    severity = WARNING if code in WARNING_CODES else ERROR
    return Diagnostic(code, severity, message, node_id, path)


def escape_token(token: str | int) -> str:
    """One JSON Pointer reference token: `~` becomes `~0`, `/` becomes `~1`."""
    if type(token) is int:
        return str(token)
    token = str(token)
    if "~" in token or "/" in token:
        return token.replace("~", "~0").replace("/", "~1")
    return token


def pointer(base: str, *tokens: str | int) -> str:
    """`base` (already a pointer, "" for the root) extended by escaped tokens."""
    return base + "".join("/" + escape_token(token) for token in tokens)


def quote(value: Any) -> str:
    """A short, one-line, quoted rendering of a user value for messages."""
    if isinstance(value, str):
        text = value if len(value) <= _QUOTE_LIMIT else value[:_QUOTE_LIMIT] + "…"
        # JSON escaping keeps control characters (NUL, newlines) out of one-line output;
        # "replace" copes with lone surrogates, which cannot be encoded.
        return json.dumps(text, ensure_ascii=False).encode("utf-8", "replace").decode("utf-8")
    return type_name(value)


def type_name(value: Any) -> str:
    """The JSON name of a value's type, for messages ("a string", "an object", ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return f"a non-JSON value ({type(value).__name__})"
