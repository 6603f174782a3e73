"""The ScaiQueue stand-in: scopes and their queues (SPEC §5). All need `scaiqueue:manage`.

- `GET /v1/scopes[?slug=]` → 200 `{"items": [{"slug", "name", "config"}]}`
- `POST /v1/scopes` `{"slug", "name"?, "config"?}` → 201 the scope; 409 when the slug exists
- `GET /v1/scopes/{scope}/queues[?slug=]` → 200 `{"items": [...]}`; 404 unknown scope
- `POST /v1/scopes/{scope}/queues` `{"slug", "name"?, "config"?}` → 201; 409 on conflict

Scopes are one namespace for every caller (tenants do not partition them here).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from devstack.auth import PERM_SCAIQUEUE_MANAGE
from devstack.http import ApiError, Request, Response, Route, error_response, json_response

if TYPE_CHECKING:
    from devstack.auth import Caller
    from devstack.server import Devstack

SLUG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def _item_from(request: Request) -> dict[str, Any]:
    body = request.json()
    if not isinstance(body, dict):
        raise ApiError("invalid_request", "body must be a JSON object")
    slug = body.get("slug")
    name = body.get("name", slug)
    config = body.get("config", {})
    problems = []
    if not isinstance(slug, str) or not SLUG_RE.match(slug):
        problems.append("slug must be letters, digits, '.', '-' or '_' (at most 128)")
    if not isinstance(name, str):
        problems.append("name must be a string")
    if not isinstance(config, dict):
        problems.append("config must be an object")
    if problems:
        raise ApiError("invalid_request", "; ".join(problems))
    return {"slug": slug, "name": name, "config": config}


def _items(items: list[dict[str, Any]], slug: str | None) -> Response:
    found = [item for item in items if slug is None or item["slug"] == slug]
    return json_response(200, {"items": found})


def list_scopes(stack: Devstack, request: Request, caller: Caller) -> Response:
    with stack.state.lock:
        return _items(list(stack.state.scopes.values()), request.query.get("slug"))


def create_scope(stack: Devstack, request: Request, caller: Caller) -> Response:
    item = _item_from(request)
    state = stack.state
    with state.lock:
        if item["slug"] in state.scopes:
            return error_response(409, "conflict", f"scope {item['slug']!r} exists")
        state.scopes[item["slug"]] = item
        return json_response(201, item)


def _require_scope(stack: Devstack, scope: str) -> None:
    if scope not in stack.state.scopes:
        raise ApiError("not_found", f"scope {scope!r} not found", status=404)


def list_queues(stack: Devstack, request: Request, caller: Caller, scope: str) -> Response:
    state = stack.state
    with state.lock:
        _require_scope(stack, scope)
        queues = [queue for (owner, _), queue in state.queues.items() if owner == scope]
        return _items(queues, request.query.get("slug"))


def create_queue(stack: Devstack, request: Request, caller: Caller, scope: str) -> Response:
    item = _item_from(request)
    state = stack.state
    with state.lock:
        _require_scope(stack, scope)
        if (scope, item["slug"]) in state.queues:
            return error_response(409, "conflict", f"queue {item['slug']!r} exists in {scope!r}")
        state.queues[(scope, item["slug"])] = item
        return json_response(201, item)


ROUTES = [
    Route("GET", "/v1/scopes", list_scopes, PERM_SCAIQUEUE_MANAGE),
    Route("POST", "/v1/scopes", create_scope, PERM_SCAIQUEUE_MANAGE),
    Route("GET", "/v1/scopes/{scope}/queues", list_queues, PERM_SCAIQUEUE_MANAGE),
    Route("POST", "/v1/scopes/{scope}/queues", create_queue, PERM_SCAIQUEUE_MANAGE),
]
