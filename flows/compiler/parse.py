"""Stage 1: parse — raw JSON text (bytes or str) into a Python value, or pass a value through.

Nothing raises: invalid UTF-8, invalid JSON, NaN/Infinity, numbers Python cannot hold and
nesting too deep for the JSON decoder all become one `invalid_json` diagnostic; a raw source
longer than `max_bytes` becomes `flow_too_large` before any parsing.
"""

from __future__ import annotations

import json
from typing import Any

from . import diagnostics as d
from .diagnostics import Diagnostic

_RAW_TYPES = (bytes, bytearray, memoryview, str)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _too_large(size: int, max_bytes: int) -> Diagnostic:
    return d.make(
        d.FLOW_TOO_LARGE,
        f"the flow is {size} bytes; the limit is {max_bytes} bytes",
        path="",
    )


def _invalid(message: str) -> Diagnostic:
    return d.make(d.INVALID_JSON, message, path="")


def parse(source: Any, *, max_bytes: int | None = None) -> tuple[Any, list[Diagnostic]]:
    """(value, diagnostics): the parsed FlowGraph, or None with the reason it could not be read.

    A value that is not bytes/str (a dict from an API request, ...) is returned as it is; its
    shape is the validator's business, and `max_bytes` applies to raw sources only.
    """
    if not isinstance(source, _RAW_TYPES):
        return source, []
    if isinstance(source, str):
        text = source
        if max_bytes is not None and len(text) > max_bytes // 4:
            size = len(text.encode("utf-8", "surrogatepass"))
            if size > max_bytes:
                return None, [_too_large(size, max_bytes)]
    else:
        raw = bytes(source)
        if max_bytes is not None and len(raw) > max_bytes:
            return None, [_too_large(len(raw), max_bytes)]
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            return None, [_invalid(f"the flow is not valid UTF-8 (byte {exc.start})")]
    try:
        return _DECODER.decode(text), []
    except json.JSONDecodeError as exc:
        return None, [_invalid(f"line {exc.lineno}, column {exc.colno}: {exc.msg}")]
    except RecursionError:
        return None, [_invalid("the JSON is nested too deeply")]
    except ValueError as exc:  # NaN/Infinity, integers beyond Python's digit limit
        return None, [_invalid(str(exc).splitlines()[0] if str(exc) else "invalid JSON")]
