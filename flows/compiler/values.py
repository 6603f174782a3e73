"""JSON values inside a flow: checking them, freezing them and finding template references.

`scan` walks a value iteratively (never recursively, so depth is no danger), checks that it is
plain JSON that YAML can carry (string keys, finite numbers, encodable unicode, bounded
nesting), collects the `{{node_id.field}}` references of its strings and returns a frozen copy:
objects become read-only mappings with sorted keys, arrays become tuples.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .diagnostics import escape_token, type_name

#: Deepest nesting of objects/arrays accepted inside node data and config.
MAX_DEPTH = 32
# Larger integers cannot be written as text by Python (its int/str conversion limit).
_MAX_INT_BITS = 13_000

# One pass over a string finds every `{{…}}`: group 1 is the node id of a well-formed
# `{{node_id.field}}`; a malformed template matches the second alternative instead.
TEMPLATE_RE = re.compile(r"\{\{(?:\s*([^\s.{}]+)\.[^\s{}]+\s*\}\}|.*?\}\})", re.DOTALL)
_WHOLE_TEMPLATE_RE = re.compile(r"\{\{[^{}]*\}\}")

EMPTY_MAP: Mapping[str, Any] = MappingProxyType({})


class Reference:
    """A template reference found in a string: the node it names (None when malformed)."""

    __slots__ = ("node_id", "path", "text")

    def __init__(self, node_id: str | None, path: str, text: str):
        self.node_id = node_id
        self.path = path
        self.text = text


def references_in(text: str, path: str, out: list[Reference]) -> None:
    """Append the template references of one string to `out`."""
    for match in TEMPLATE_RE.finditer(text):
        out.append(Reference(match.group(1), path, match.group(0)))


def is_whole_template(value: Any) -> bool:
    """True for a string that is exactly one `{{…}}` template (its type is known at run time)."""
    return type(value) is str and _WHOLE_TEMPLATE_RE.fullmatch(value) is not None


_SURROGATE = "a string holds a lone surrogate (not valid unicode)"


def string_problem(text: str) -> str | None:
    """Why a string cannot be carried to the manifest, or None."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE
    return None


def _scalar_problem(value: Any) -> str | None:
    kind = type(value)
    if kind is str:
        return string_problem(value)
    if kind is bool or value is None:
        return None
    if kind is int:
        return "an integer is too large" if value.bit_length() > _MAX_INT_BITS else None
    if kind is float:
        return None if math.isfinite(value) else "numbers must be finite (no NaN or Infinity)"
    return f"{type_name(value)} is not allowed here"


_SCALARS = frozenset({int, float, bool, type(None)})
_ARRAYS = frozenset({list, tuple})


def scan(
    value: Any,
    path: str,
    refs: list[Reference] | None,
    problems: list[tuple[str, str]],
    *,
    freeze: bool = True,
) -> Any:
    """Check `value`, collect its references into `refs` (unless None) and freeze it.

    Problems are appended to `problems` as (JSON Pointer, message); the returned copy leaves
    out what was wrong, so it is only meaningful when no problem was found. With
    `freeze=False` nothing is copied and None is returned.
    """
    kind = type(value)
    if kind is str or kind in _SCALARS:
        problem = _scalar_problem(value)
        if problem:
            problems.append((path, problem))
        elif refs is not None and kind is str and "{{" in value:
            references_in(value, path, refs)
        return value if freeze else None
    if kind not in _ARRAYS and not isinstance(value, Mapping):
        problems.append((path, f"{type_name(value)} is not allowed here"))
        return None

    # Containers are built top-down: a mapping proxy sees the items added to its dict later;
    # arrays are collected in lists and turned into tuples once all their children are done.
    pending_arrays: list[tuple[Any, Any, list]] = []
    root_holder: list[Any] = [None]
    stack: list[tuple[Any, Any, Any, str, int]] = [(value, root_holder, 0, path, 1)]
    while stack:
        item, parent, key, item_path, depth = stack.pop()
        if depth > MAX_DEPTH:
            problems.append((item_path, f"values are nested deeper than {MAX_DEPTH} levels"))
            continue
        if type(item) in _ARRAYS:
            children: Any = enumerate(item)
            collected: Any = [None] * len(item) if freeze else None
            if freeze:
                pending_arrays.append((parent, key, collected))
        else:
            if not all(type(child_key) is str for child_key in item):
                problems.append((item_path, "object keys must be strings"))
                continue
            children = sorted(item.items()) if freeze else item.items()
            collected = {} if freeze else None
            if freeze:
                parent[key] = MappingProxyType(collected)
        for child_key, child in children:
            if type(child_key) is str and not child_key.isascii() and string_problem(child_key):
                problems.append((item_path, "an object key is not valid unicode"))
                continue
            kind = type(child)
            if kind is str:
                if not child.isascii() and string_problem(child):
                    problems.append((f"{item_path}/{escape_token(child_key)}", _SURROGATE))
                    continue
                if refs is not None and "{{" in child:
                    references_in(child, f"{item_path}/{escape_token(child_key)}", refs)
            elif kind in _SCALARS:
                if kind is not bool and child is not None:
                    problem = _scalar_problem(child)
                    if problem:
                        problems.append((f"{item_path}/{escape_token(child_key)}", problem))
                        continue
            elif kind in _ARRAYS or isinstance(child, Mapping):
                child_path = f"{item_path}/{escape_token(child_key)}"
                if freeze:
                    collected[child_key] = None  # keeps the key's place in sorted order
                stack.append((child, collected, child_key, child_path, depth + 1))
                continue
            else:
                problems.append(
                    (f"{item_path}/{escape_token(child_key)}", _scalar_problem(child) or "")
                )
                continue
            if freeze:
                collected[child_key] = child
    # Children were registered after their parents: finish them first.
    for parent, key, collected in reversed(pending_arrays):
        parent[key] = tuple(collected)
    return root_holder[0] if freeze else None


def thaw(value: Any) -> Any:
    """A plain JSON copy (dicts and lists) of a frozen value, built without recursion."""
    if not isinstance(value, Mapping | list | tuple):
        return value
    root_holder: list[Any] = [None]
    stack: list[tuple[Any, Any, Any]] = [(value, root_holder, 0)]
    while stack:
        item, parent, key = stack.pop()
        if isinstance(item, Mapping):
            plain: Any = {}
            for child_key, child in item.items():
                if isinstance(child, Mapping | list | tuple):
                    plain[child_key] = None
                    stack.append((child, plain, child_key))
                else:
                    plain[child_key] = child
        else:
            plain = list(item)
            for index, child in enumerate(plain):
                if isinstance(child, Mapping | list | tuple):
                    stack.append((child, plain, index))
        parent[key] = plain
    return root_holder[0]
