"""Requests, responses and routing: the small HTTP vocabulary every devstack module shares.

The services are plain functions `(stack, request, caller, **path_params) -> Response`; the
server (server.py) turns bytes on a socket into a `Request` and a `Response` back into bytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs


@dataclass(frozen=True)
class Request:
    """One incoming request, already read off the socket."""

    method: str
    path: str
    query_string: str
    headers: Mapping[str, str]  # lower-cased names
    body: bytes

    @property
    def query(self) -> dict[str, str]:
        """The query string's parameters, the first value of each."""
        return {name: values[0] for name, values in parse_qs(self.query_string).items()}

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    def json(self) -> Any:
        """The body parsed as JSON; raises `ApiError` when it is not JSON."""
        try:
            return json.loads(self.body or b"null")
        except ValueError as exc:
            raise ApiError("invalid_request", f"body is not JSON: {exc}") from exc


@dataclass
class Response:
    """What the server writes back. `body` is sent as is."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


class ApiError(Exception):
    """Raised by a handler to answer `status` with the upstream error body."""

    def __init__(self, code: str, message: str, status: int = 400, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.extra = extra


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status, json.dumps(payload).encode(), "application/json", dict(headers or {}))


def error_response(status: int, code: str, message: str, **extra: Any) -> Response:
    """The upstream services' error body: `{"error": code, "message": text, ...}`."""
    return json_response(status, {"error": code, "message": message, **extra})


def empty_response(status: int = 204) -> Response:
    return Response(status, b"", "")


Handler = Callable[..., Response]


@dataclass(frozen=True)
class Route:
    """One endpoint. `template` names it in the call log, e.g. `PUT /v1/.../cores/{id}`."""

    method: str
    template: str
    handler: Handler
    # None: no credential needed (ScaiKey's public endpoints, the control API).
    permission: str | None = None
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        regex = re.sub(r"\\\{(\w+)\\\}", _group_for, re.escape(self.template))
        object.__setattr__(self, "pattern", re.compile(f"^{regex}$"))

    @property
    def name(self) -> str:
        return f"{self.method} {self.template}"


def _group_for(match: re.Match[str]) -> str:
    name = match.group(1)
    # `{path}` (ScaiVault's secret paths) spans slashes; every other parameter is one segment.
    return f"(?P<{name}>.+)" if name == "path" else f"(?P<{name}>[^/]+)"


@dataclass(frozen=True)
class RouteMatch:
    route: Route | None
    params: dict[str, str]
    # Methods the path answers to, for a 405 when `route` is None but the path exists.
    allowed: tuple[str, ...] = ()


class Router:
    """Finds the route of a method and path."""

    def __init__(self, routes: list[Route]) -> None:
        self.routes = routes

    def match(self, method: str, path: str) -> RouteMatch:
        allowed: list[str] = []
        for route in self.routes:
            found = route.pattern.match(path)
            if found is None:
                continue
            if route.method == method:
                return RouteMatch(route, found.groupdict())
            allowed.append(route.method)
        return RouteMatch(None, {}, tuple(allowed))
