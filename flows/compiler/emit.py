"""Stage 5: emit the ScaiCore manifest (YAML) of an IR.

`manifest_dict` builds the manifest of SPEC §6 as plain data, keys in a fixed order.
`emit` writes it with PyYAML's emitter — libyaml's C emitter when PyYAML has it, else the
pure-Python one — but feeds it the event stream directly instead of going through
`yaml.dump`'s representer and serializer, which is where most of `yaml.dump`'s time goes. The
text is byte-for-byte what `yaml.dump(manifest, Dumper=Dumper, sort_keys=False,
allow_unicode=True)` writes, except that multi-line strings (prompts) are written as literal
blocks (`|`) where YAML allows it, so they stay readable. Plain scalars are chosen with
PyYAML's own resolver, so a string that would read back as another type is quoted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

import yaml
from yaml.events import (
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)
from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

from .ir import FlowIR
from .kinds import BRANCH, CONFIG_FIELDS, KINDS
from .values import thaw

API_VERSION = "scaicore/v1"
MANIFEST_KIND = "Core"

Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

_STR_TAG = "tag:yaml.org,2002:str"
_RESOLVER = Resolver()
# ScalarEvent.implicit: (the plain form resolves to the value's tag, a quoted form does).
_PLAIN = (True, False)
_PLAIN_STR = (True, True)
_QUOTED = (False, True)
# Events are only read by the emitter, so the constant ones are made once.
_MAPPING_START = MappingStartEvent(None, None, True, flow_style=False)
_MAPPING_END = MappingEndEvent()
_SEQUENCE_START = SequenceStartEvent(None, None, True, flow_style=False)
_SEQUENCE_END = SequenceEndEvent()
_NULL = ScalarEvent(None, None, _PLAIN, "null")
_TRUE = ScalarEvent(None, None, _PLAIN, "true")
_FALSE = ScalarEvent(None, None, _PLAIN, "false")
# Strings repeat within a manifest (keys, kinds, roles, ids in `next`): each document keeps a
# cache of its short strings' events, seeded with the manifest's own words. Nothing of a
# user's flow outlives the call.
_CACHED_LENGTH = 64


def _ids(ids: tuple[str, ...]) -> str | list[str]:
    return ids[0] if len(ids) == 1 else list(ids)


def _manifest(ir: FlowIR, value: Callable[[Any], Any]) -> dict[str, Any]:
    blocks = []
    for block in ir.blocks:
        config = value(block.config)
        out: dict[str, Any] = {"id": block.id, "kind": block.kind, "config": config}
        if block.kind == BRANCH:
            cases = []
            for case in block.cases:
                entry: dict[str, Any] = {"when": case.when}
                if case.next:
                    entry["next"] = _ids(case.next)
                cases.append(entry)
            out["config"] = {**config, "cases": cases}
            if block.default:
                out["default"] = _ids(block.default)
        elif block.next:
            out["next"] = _ids(block.next)
        blocks.append(out)
    metadata: dict[str, Any] = {"name": ir.name, "slug": ir.slug}
    if ir.labels:
        metadata["labels"] = dict(ir.labels)
    return {
        "apiVersion": API_VERSION,
        "kind": MANIFEST_KIND,
        "metadata": metadata,
        "spec": {"llm_roles": value(ir.llm_roles), "entry": ir.entry, "blocks": blocks},
    }


def manifest_dict(ir: FlowIR) -> dict[str, Any]:
    """The manifest of SPEC §6 as plain dicts and lists."""
    return _manifest(ir, thaw)


def _string_event(text: str, cache: dict[str, ScalarEvent]) -> ScalarEvent:
    """The event of one string, kept in `cache` when short (the emitter never changes it)."""
    if "\n" in text:
        # A literal block where YAML allows one; the emitter falls back to double quotes.
        event = ScalarEvent(None, None, _QUOTED, text, style="|")
    else:
        plain = _RESOLVER.resolve(ScalarNode, text, _PLAIN) == _STR_TAG
        event = ScalarEvent(None, None, _PLAIN_STR if plain else _QUOTED, text)
    if len(text) <= _CACHED_LENGTH:
        cache[text] = event
    return event


_KNOWN_WORDS = (
    *("apiVersion", "kind", "metadata", "name", "slug", "labels", "spec", "llm_roles"),
    *("entry", "blocks", "id", "config", "next", "default", "cases", "when", API_VERSION),
    *(MANIFEST_KIND, "scaiflow/tenant", "scaiflow/flow-id", "scaiflow/flow-version"),
    *KINDS,
    *(field for fields in CONFIG_FIELDS.values() for field in fields),
)
_KNOWN_EVENTS: dict[str, ScalarEvent] = {}
for _word in _KNOWN_WORDS:
    _string_event(_word, _KNOWN_EVENTS)


def _scalar_event(value: Any) -> ScalarEvent:
    kind = type(value)
    if value is None:
        return _NULL
    if kind is bool:
        return _TRUE if value else _FALSE
    if kind is int:
        return ScalarEvent(None, None, _PLAIN, str(value))
    if kind is float:
        # As PyYAML's representer writes floats (only finite ones reach the emitter).
        text = repr(value).lower()
        if "." not in text and "e" in text:
            text = text.replace("e", ".0e", 1)
        return ScalarEvent(None, None, _PLAIN, text)
    raise TypeError(f"cannot emit {kind.__name__} as YAML")


def _events(document: Mapping[str, Any]) -> Iterator[Any]:
    """The YAML events of a JSON-like mapping, in document order, without recursion."""
    yield StreamStartEvent(encoding=None)
    yield DocumentStartEvent(explicit=False)
    yield _MAPPING_START
    stack: list[tuple[Iterator[Any], bool]] = [(iter(document.items()), True)]
    strings = dict(_KNOWN_EVENTS)
    while stack:
        iterator, is_mapping = stack[-1]
        for entry in iterator:
            if is_mapping:
                key, value = entry
                yield strings.get(key) or _string_event(key, strings)
            else:
                value = entry
            kind = type(value)
            if kind is str:
                yield strings.get(value) or _string_event(value, strings)
            elif kind is dict or kind is MappingProxyType:
                yield _MAPPING_START
                stack.append((iter(value.items()), True))
                break
            elif kind is list or kind is tuple:
                yield _SEQUENCE_START
                stack.append((iter(value), False))
                break
            else:
                yield _scalar_event(value)
        else:
            stack.pop()
            yield _MAPPING_END if is_mapping else _SEQUENCE_END
    yield DocumentEndEvent(explicit=False)
    yield StreamEndEvent()


def dump(document: Mapping[str, Any]) -> str:
    """YAML text of a JSON-like value (see the module docstring for how it is written)."""
    return yaml.emit(_events(document), Dumper=Dumper, allow_unicode=True)


def emit(ir: FlowIR) -> str:
    """The manifest of `ir` as YAML text; the same IR always gives the same bytes."""
    return dump(_manifest(ir, _as_is))


def _as_is(value: Any) -> Any:
    return value
