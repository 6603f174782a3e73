"""The shapes of ScaiFlow's answers the command relies on, checked before anything is used.

A server that answers something else — another type, a missing field, an id that is no flow
id — is not taken at its word: the answer is an `invalid_answer` (exit 6), never a traceback.
Extra fields pass through untouched.
"""

from __future__ import annotations

import re
from typing import Any

from scaiflow.cli.errors import ClientError
from scaiflow.cli.exits import EXIT_UNAVAILABLE

# Flow ids as ScaiFlow makes them (`flw_` and lowercase letters and digits): what may name a
# file. An id is not checked here: URLs quote it, and `pull` refuses a file for one that fails.
FLOW_ID = re.compile(r"flw_[a-z0-9]{1,60}")
ERROR_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")

_FLOW = {"id": str, "name": str, "version": int, "content_sha256": str}
_DEPLOYMENT = {"id": str, "status": str}
# Null when not set; a record whose flow was deleted has no flow_id in a list.
_DEPLOYMENT_OPTIONAL = {
    "flow_id": str,
    "flow_version": int,
    "core_id": str,
    "core_action": str,
    "published_slug": str,
    "created_at": str,
    "flow_name": str,
    "error": dict,
}


def invalid(status: int | None, what: str) -> ClientError:
    """The error for an answer that is not ScaiFlow's: `what` says what was wrong."""
    return ClientError(
        status,
        {
            "error": "invalid_answer",
            "message": f"the server's answer is not ScaiFlow's: {what}.",
            "fix": "Check that SCAIFLOW_URL is ScaiFlow's base URL.",
        },
        exit_status=EXIT_UNAVAILABLE,
    )


def _is(value: Any, kind: type) -> bool:
    # JSON's true and false are ints to Python; no field here is a boolean.
    return isinstance(value, kind) and not isinstance(value, bool)


def _fields(status: int, body: Any, required: dict[str, type], what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise invalid(status, f"{what} is not a JSON object")
    for name, kind in required.items():
        if not _is(body.get(name), kind):
            raise invalid(status, f"{what} has no {name} of type {kind.__name__}")
    return body


def flow(status: int, body: Any, *, with_content: bool = False) -> dict[str, Any]:
    """A flow (`GET /flows/{id}`, `POST /flows`, `PATCH`): id, name, version, hash, content."""
    required = {**_FLOW, "content": dict} if with_content else _FLOW
    return _fields(status, body, required, "the flow")


def deployment(status: int, body: Any, *, deployed: bool = False) -> dict[str, Any]:
    """A deployment record: the fields the command prints, each of its type or null; the
    answer of a deploy (`deployed`) names its flow and version."""
    required = {**_DEPLOYMENT, "flow_id": str, "flow_version": int} if deployed else _DEPLOYMENT
    found = _fields(status, body, required, "the deployment")
    for name, kind in _DEPLOYMENT_OPTIONAL.items():
        if found.get(name) is not None and not _is(found[name], kind):
            raise invalid(status, f"the deployment's {name} is not a {kind.__name__}")
    return found


def page(status: int, body: Any) -> tuple[list[Any], str | None]:
    """A page of a list: its `results`, and its `next` link (None on the last page)."""
    found = _fields(status, body, {"results": list}, "the page")
    link = found.get("next")
    if link is not None and not isinstance(link, str):
        raise invalid(status, "the page's next link is not a string")
    return found["results"], link or None


def error_detail(body: Any) -> dict[str, Any] | None:
    """SPEC §2's `detail` of an error answer, when it has that shape: `error` a code, and
    `message`, `fix` and `messages` of their types (others dropped); else None."""
    detail = body.get("detail") if isinstance(body, dict) else None
    if not isinstance(detail, dict):
        return None
    code = detail.get("error")
    if not isinstance(code, str) or not ERROR_CODE.fullmatch(code):
        return None
    kept = dict(detail)
    for name, kind in (("message", str), ("fix", str), ("messages", list)):
        if name in kept and not isinstance(kept[name], kind):
            del kept[name]
    if "messages" in kept:
        kept["messages"] = [item for item in kept["messages"] if isinstance(item, dict)]
    return kept
