"""ScaiCore's closed set of block kinds and the shape of each kind's data.

The same field rules check a FlowGraph node's `data` (front end) and an IR block's `config`
(verifier), so a block that reaches the manifest always has the fields its kind needs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .diagnostics import quote, type_name
from .values import string_problem

TRIGGER = "trigger"
LLM = "llm"
PLUGIN = "plugin"
BRANCH = "branch"
TRANSFORM = "transform"
QUEUE = "queue"
OUTPUT = "output"

KINDS = (TRIGGER, LLM, PLUGIN, BRANCH, TRANSFORM, QUEUE, OUTPUT)
KIND_SET = frozenset(KINDS)

TRIGGER_TYPES = ("chat", "webhook", "schedule", "manual")
DEFAULT_HANDLE = "default"

#: The fields of each kind's data that are lowered into the block's config (written with sorted
#: keys). Other keys of `data` (canvas labels, colours, ...) are not part of the manifest.
CONFIG_FIELDS: dict[str, tuple[str, ...]] = {
    TRIGGER: ("type", "schedule"),
    LLM: ("role", "prompt", "output"),
    PLUGIN: ("plugin", "args"),
    BRANCH: (),
    TRANSFORM: ("set",),
    QUEUE: ("scope", "queue", "title", "payload"),
    OUTPUT: ("value",),
}

# A node id: no whitespace, no control characters, and none of the characters that delimit a
# template reference (`.`, `{`, `}`), so that every id can be referenced as {{id.field}}.
_ID_RE = re.compile(r"[^\s.{}\x00-\x1f\x7f-\x9f]{1,128}")
_NAME_RE = re.compile(r"[^\s{}\x00-\x1f\x7f-\x9f]{1,128}")
_CRON_MACRO_RE = re.compile(r"@(yearly|annually|monthly|weekly|daily|hourly)")
_CRON_FIELD_RE = re.compile(r"[0-9A-Za-z*/,?LW#-]+")

ID_RULE = "1 to 128 characters, without whitespace, control characters, '.', '{' or '}'"


def is_valid_id(value: Any) -> bool:
    return type(value) is str and _ID_RE.fullmatch(value) is not None


def is_name(value: Any) -> bool:
    """A name (role output, variable, queue slug, handle): no whitespace, braces or controls."""
    return type(value) is str and _NAME_RE.fullmatch(value) is not None


def _is_cron(value: Any) -> bool:
    if type(value) is not str:
        return False
    if _CRON_MACRO_RE.fullmatch(value):
        return True
    fields = value.split()
    return len(fields) in (5, 6) and all(_CRON_FIELD_RE.fullmatch(field) for field in fields)


def _need_string(data: Mapping[str, Any], field: str, base: str, out: list, *, name=False):
    value = data.get(field)
    if value is None:
        out.append((f"{base}/{field}", f"{field!r} is required"))
    elif type(value) is not str or not value:
        out.append((f"{base}/{field}", f"{field!r} must be a non-empty string"))
    elif name and not is_name(value):
        out.append((f"{base}/{field}", f"{field!r} must be a name without spaces or braces"))


def check_fields(kind: str, data: Mapping[str, Any], base: str) -> list[tuple[str, str]]:
    """Problems of one block's fields, as (JSON Pointer, message); `base` points at the data.

    Branch cases are checked by `check_cases`: their form differs between FlowGraph and IR.
    """
    out: list[tuple[str, str]] = []
    if kind == TRIGGER:
        type_ = data.get("type")
        if type_ not in TRIGGER_TYPES:
            allowed = ", ".join(TRIGGER_TYPES)
            out.append((f"{base}/type", f"trigger 'type' must be one of {allowed}"))
        elif type_ == "schedule" and not _is_cron(data.get("schedule")):
            out.append(
                (f"{base}/schedule", "a schedule trigger needs 'schedule': a cron expression")
            )
    elif kind == LLM:
        _need_string(data, "role", base, out)
        _need_string(data, "prompt", base, out)
        if data.get("output") is not None:
            _need_string(data, "output", base, out, name=True)
    elif kind == PLUGIN:
        _need_string(data, "plugin", base, out)
        args = data.get("args")
        if args is not None and not isinstance(args, Mapping):
            out.append((f"{base}/args", f"'args' must be an object, not {type_name(args)}"))
    elif kind == TRANSFORM:
        assignments = data.get("set")
        if not isinstance(assignments, Mapping) or not assignments:
            out.append((f"{base}/set", "'set' must be a non-empty object of name → template"))
        else:
            for variable, template in assignments.items():
                if not is_name(variable) or type(template) is not str:
                    out.append(
                        (
                            f"{base}/set",
                            f"'set' maps names to template strings; {quote(variable)} does not",
                        )
                    )
                    break
    elif kind == QUEUE:
        _need_string(data, "scope", base, out, name=True)
        _need_string(data, "queue", base, out, name=True)
        title = data.get("title")
        if title is not None and type(title) is not str:
            out.append((f"{base}/title", f"'title' must be a string, not {type_name(title)}"))
    elif kind == OUTPUT and data.get("value") is None:
        out.append((f"{base}/value", "'value' is required"))
    return out


def check_cases(
    cases: Any, base: str
) -> tuple[list[tuple[str, str]], list[tuple[str, str]], set[str]]:
    """A FlowGraph branch's `cases`: (problems, [(when, handle), ...], every usable handle)."""
    path = f"{base}/cases"
    if not isinstance(cases, list) or not cases:
        return [(path, "a branch needs 'cases': a non-empty array of {when, handle}")], [], set()
    problems: list[tuple[str, str]] = []
    parsed: list[tuple[str, str]] = []
    seen: set[str] = set()
    for index, case in enumerate(cases):
        case_path = f"{path}/{index}"
        if not isinstance(case, Mapping):
            problems.append((case_path, f"a case must be an object, not {type_name(case)}"))
            continue
        when, handle = case.get("when"), case.get("handle")
        if type(when) is not str or not when.strip() or string_problem(when):
            problems.append((f"{case_path}/when", "'when' must be a non-empty expression"))
        if not is_name(handle):
            problems.append((f"{case_path}/handle", "'handle' must be a name without spaces"))
        elif handle == DEFAULT_HANDLE:
            problems.append((f"{case_path}/handle", "'default' is reserved for the default edge"))
        elif handle in seen:
            problems.append((f"{case_path}/handle", f"handle {quote(handle)} is used twice"))
        else:
            seen.add(handle)
            if type(when) is str and when.strip():
                parsed.append((when, handle))
    return problems, parsed, seen
