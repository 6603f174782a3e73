"""The flow compiler: a canvas FlowGraph (SPEC §6) to a ScaiCore manifest.

Pure Python: no Django, no database, no network; the only I/O is reading the plugin catalog's
YAML (and, once, the package's own source for `compile_fingerprint`). The pipeline and its
modules:

1. `parse`    — raw JSON (bytes/str) to a Python value; an already-parsed value passes through.
2. `validate` — the FlowGraph's shape, its graph (triggers, outputs, edges, handles, cycles,
   reachability) and its template references, every problem in one pass.
3. `lower`    — the IR (`ir`): frozen data classes, blocks in topological order with ties
   broken by id (the trigger first).
4. `verify`   — checks the IR alone, independently of the front end.
5. `emit`     — the manifest YAML, byte-identical for the same input.

Problems are `Diagnostic` values, never exceptions: no input, however malformed, makes
`compile_flow` raise, and every algorithm is iterative, so graph depth is no danger.

Lowering rules worth knowing:

- **Fan-out.** A block with several outgoing plain edges gets `next` as a list of block ids
  (in manifest order): all of them run after it. A single successor is written as a plain id;
  a block with none has no `next` (the run ends there). An output block never has a `next`.
- **Branches.** Each case becomes `{when, next}` in `config.cases`, where `next` holds the
  targets of the edges naming the case's handle; the edges named `default` become the block's
  `default`. A case without an edge has no `next`. Edges from other blocks carry no handle.
- **Config.** Each kind keeps only its own data fields (`kinds.CONFIG_FIELDS`); fields that
  are null are left out; objects inside config are written with sorted keys.
- **References.** `{{node_id.field}}` in any string of a node's data (branch conditions
  included) must name an ancestor of that node; `field` is not checked. A string that is
  exactly one reference is accepted for a plugin arg of any type.
- **Unreachable blocks** are a warning: they stay in the manifest.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .canonical import canonical_json
from .catalog import Catalog, CatalogError, load_catalog
from .diagnostics import CODES, ERROR, WARNING, Diagnostic
from .emit import emit, manifest_dict
from .ir import FlowIR, IRFormatError, from_dict, to_dict
from .lower import Labels, lower
from .parse import parse
from .validate import validate
from .verify import verify

__all__ = [
    "CODES",
    "ERROR",
    "WARNING",
    "Catalog",
    "CatalogError",
    "CompileResult",
    "Diagnostic",
    "FlowIR",
    "IRFormatError",
    "Labels",
    "canonical_json",
    "compile_fingerprint",
    "compile_flow",
    "emit",
    "ir_from_dict",
    "ir_to_dict",
    "load_catalog",
    "manifest_dict",
    "verify",
]

ir_to_dict = to_dict
ir_from_dict = from_dict


@dataclass(frozen=True, slots=True)
class CompileResult:
    """What a compile produced: the diagnostics and, when there is no error, the outputs."""

    ok: bool
    diagnostics: tuple[Diagnostic, ...]
    manifest: str | None = None
    ir: FlowIR | None = None

    def ir_dict(self) -> dict[str, Any] | None:
        """The IR as JSON-able data (what `--format ir` prints), or None."""
        return to_dict(self.ir) if self.ir is not None else None

    def ir_json(self) -> str | None:
        """The IR as indented JSON text, or None."""
        data = self.ir_dict()
        return None if data is None else json.dumps(data, ensure_ascii=False, indent=2) + "\n"

    def as_dict(self) -> dict[str, Any]:
        """The body of the API's compile endpoint (SPEC §3)."""
        return {
            "ok": self.ok,
            "messages": [diagnostic.as_dict() for diagnostic in self.diagnostics],
            "manifest": self.manifest,
            "ir": self.ir_dict(),
        }


def _failed(diagnostics: list[Diagnostic]) -> CompileResult:
    return CompileResult(False, tuple(diagnostics))


def compile_flow(
    source: Any,
    *,
    catalog: Catalog | None = None,
    labels: Labels | None = None,
    max_bytes: int | None = None,
) -> CompileResult:
    """Compile a FlowGraph: raw JSON (bytes or str) or an already-parsed value (a dict).

    `catalog` defaults to the shipped plugin catalog; `labels` become the manifest's
    metadata.labels; `max_bytes` limits the size of a raw source (`flow_too_large`).
    """
    catalog = catalog if catalog is not None else load_catalog()
    with _collector_paused():
        return _compile(source, catalog, labels, max_bytes)


# A compile allocates many small objects and frees them all, without reference cycles: the
# cyclic garbage collector's passes during it would be pure overhead (a quarter of the time on
# large flows), so it is paused. The switch is process-wide and compiles may run in several
# threads at once: the first compile to start pauses it, the last one to end restores it.
_pause_lock = threading.Lock()
_pause_count = 0
_collector_was_on = False


@contextmanager
def _collector_paused() -> Iterator[None]:
    global _pause_count, _collector_was_on
    with _pause_lock:
        if _pause_count == 0:
            _collector_was_on = gc.isenabled()
            gc.disable()
        _pause_count += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pause_count -= 1
            if _pause_count == 0 and _collector_was_on:
                gc.enable()


@functools.lru_cache(maxsize=1)
def _code_fingerprint() -> str:
    digest = hashlib.sha256(f"pyyaml {yaml.__version__} {yaml.__with_libyaml__}".encode())
    sources = sorted(Path(__file__).parent.glob("*.py"))
    for path in sources:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    if not sources:
        # Installed without its source: nothing tells releases apart, so nothing compiled by
        # this process is reused by another.
        digest.update(os.urandom(16))
    return digest.hexdigest()


_catalog_fingerprints: dict[int, tuple[Catalog, str]] = {}


def compile_fingerprint(catalog: Catalog) -> str:
    """What a compile's output depends on besides its input and labels: this compiler's code
    (and the YAML library it emits with) and the plugin catalog's content.

    Callers that keep compiled manifests put it in their cache key, so a new release of the
    compiler or a changed catalog never serves a manifest the current one would not write.
    """
    entry = _catalog_fingerprints.get(id(catalog))
    if entry is None or entry[0] is not catalog:
        # The catalog's repr spells out every plugin and arg (frozen data classes, sorted as
        # loaded). Catalogs are few and cached by `load_catalog`; the bound is a safety net.
        if len(_catalog_fingerprints) >= 32:
            _catalog_fingerprints.clear()
        digest = hashlib.sha256(f"{_code_fingerprint()}\0{catalog!r}".encode()).hexdigest()
        entry = _catalog_fingerprints[id(catalog)] = (catalog, digest)
    return entry[1]


def _compile(
    source: Any, catalog: Catalog, labels: Labels | None, max_bytes: int | None
) -> CompileResult:
    value, diagnostics = parse(source, max_bytes=max_bytes)
    if diagnostics:
        return _failed(diagnostics)
    checked, diagnostics = validate(value, catalog)
    if checked is None:
        return _failed(diagnostics)
    ir = lower(checked, labels)
    diagnostics += verify(ir, catalog)
    if any(diagnostic.is_error for diagnostic in diagnostics):
        return _failed(diagnostics)
    return CompileResult(True, tuple(diagnostics), emit(ir), ir)
