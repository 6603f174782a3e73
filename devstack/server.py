"""The devstack server: ScaiGrid, ScaiQueue, ScaiVault and ScaiKey stand-ins on one port.

`Devstack` binds at construction (port 0 picks a free one), so `url` is known before it
serves. `start()` serves from a background daemon thread, `serve_forever()` from the calling
one; `stop()` lets hanging connections go and closes every open socket, so it never waits on
a client. Each connection has its own daemon thread: a hanging or slow request does not hold
up the others.

A request goes: faults (faults.py) → route → credential and permission (auth.py) → handler →
call log (state.py). Error bodies are the upstream shape `{"error", "message"}`.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from devstack import control, oidc, scaigrid, scaikey, scaiqueue, scaivault
from devstack.auth import DEFAULT_API_KEY, DEFAULT_VAULT_TOKEN, Caller, authenticate, require
from devstack.faults import ACTION_HANG, ACTION_RACE, ACTION_SLOW, ACTION_STATUS, Faults
from devstack.http import ApiError, Request, Response, RouteMatch, Router, error_response
from devstack.scaikey import DEFAULT_AUDIENCE, SigningKeys
from devstack.state import State

logger = logging.getLogger("devstack")

MAX_BODY_BYTES = 10 * 1024 * 1024
# An idle keep-alive connection is closed after this long.
IDLE_TIMEOUT_SECONDS = 30


class Devstack:
    """One devstack: its state, faults, ScaiKey keys and HTTP server."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        audience: str = DEFAULT_AUDIENCE,
        access_log: bool = False,
    ) -> None:
        self.state = State()
        self.faults = Faults()
        self.router = Router(
            scaikey.ROUTES
            + oidc.ROUTES
            + scaigrid.ROUTES
            + scaiqueue.ROUTES
            + scaivault.ROUTES
            + control.ROUTES
        )
        self.access_log = access_log
        self._httpd = _Server((host, port), _Handler)
        self._httpd.stack = self
        bound_host, bound_port = self._httpd.server_address[:2]
        shown_host = "127.0.0.1" if bound_host in ("0.0.0.0", "") else bound_host  # noqa: S104
        self.url = f"http://{shown_host}:{bound_port}"
        self.signing = SigningKeys(issuer=f"{self.url}/scaikey", audience=audience)
        self.oidc = oidc.OidcProvider()
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def issuer(self) -> str:
        return self.signing.issuer

    @property
    def audience(self) -> str:
        return self.signing.audience

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/.well-known/jwks.json"

    def env(self, *, vault: bool = False) -> dict[str, str]:
        """The settings (SPEC §9 names) that point ScaiFlow at this devstack.

        With `vault`, tenant keys go to devstack's ScaiVault instead of the database.
        `SCAIGRID_API_KEY` is the default key: ScaiFlow's dev-only fallback credential.
        """
        env = {
            "SCAIGRID_BASE_URL": self.url,
            "SCAIGRID_ALLOWED_HOSTS": self.url,
            "SCAIGRID_API_KEY": DEFAULT_API_KEY,
            "SCAIQUEUE_BASE_URL": self.url,
            "SCAIKEY_JWKS_URL": self.jwks_url,
            "SCAIKEY_ISSUER": self.issuer,
            "SCAIKEY_AUDIENCE": self.audience,
        }
        if vault:
            env.update(SCAIVAULT_URL=self.url, SCAIVAULT_TOKEN=DEFAULT_VAULT_TOKEN)
        return env

    def snapshot(self) -> dict[str, Any]:
        """What `GET /_devstack/state` answers."""
        return {
            **self.state.snapshot(),
            "faults": self.faults.public(),
            "scaikey": {
                "issuer": self.issuer,
                "audience": self.audience,
                "jwks_url": self.jwks_url,
                "kid": self.signing.current.kid,
            },
        }

    def reset(self) -> None:
        """Back to as started: no faults (hanging connections let go), a fresh state, ScaiKey's
        first key."""
        self.faults.reset()
        self.state.reset()
        self.signing.restore()
        self.oidc.reset()

    def start(self) -> Devstack:
        """Serve from a background daemon thread."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.name = f"devstack:{self.port}"
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        """Stop serving; close every connection, hanging ones included."""
        self.faults.clear()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.close_connections()
        self._httpd.server_close()

    def handle(self, request: Request) -> Response | None:
        """Answer one request; None means close the connection without an answer."""
        matched = self.router.match(request.method, request.path)
        if request.path.startswith(control.PREFIX):
            return self._dispatch(request, matched)[0]
        call = self.state.record_call(
            method=request.method,
            path=request.path,
            query=request.query_string,
            endpoint=matched.route.name if matched.route else f"{request.method} {request.path}",
            request_id=request.header("x-request-id") or None,
            idempotency_key=request.header("idempotency-key") or None,
        )
        taken = self.faults.take(request.method, request.path)
        fault, released = taken if taken else (None, None)
        caller: Caller | None = None
        response: Response | None = None
        if fault is None:
            response, caller = self._dispatch(request, matched)
        elif fault.action == ACTION_SLOW:
            # Let go early (faults cleared, reset, stop): the request belongs to the past.
            if fault.wait(released):
                response, caller = self._dispatch(request, matched)
        elif fault.action == ACTION_STATUS:
            response = fault.response()
        elif fault.action == ACTION_RACE:
            caller = self._dispatch(request, matched)[1]
            response = fault.response()
        elif fault.action == ACTION_HANG:
            released.wait(fault.seconds)
        # ACTION_DROP: no answer at all.
        with self.state.lock:
            call.status = response.status if response else None
            call.auth = caller.describe() if caller else None
            call.fault = fault.id if fault else None
        return response

    def _dispatch(self, request: Request, matched: RouteMatch) -> tuple[Response, Caller | None]:
        """The route's answer, and the caller when one authenticated."""
        route = matched.route
        if route is None:
            if matched.allowed:
                message = f"{request.method} is not allowed here"
                return error_response(405, "method_not_allowed", message), None
            return error_response(404, "not_found", f"no endpoint at {request.path}"), None
        caller = None
        try:
            if route.permission is not None:
                caller = authenticate(request, self.state, self.signing)
                require(caller, route.permission)
            return route.handler(self, request, caller, **matched.params), caller
        except ApiError as exc:
            response = error_response(exc.status, exc.code, exc.message, **exc.extra)
            if exc.status == 401:
                response.headers["WWW-Authenticate"] = 'Bearer realm="devstack"'
            return response, caller
        except Exception:
            logger.exception("devstack: %s %s failed", request.method, request.path)
            return error_response(500, "internal_error", "devstack failed; see its log"), caller


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    stack: Devstack

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def close_connections(self) -> None:
        with self.connections_lock:
            connections, self.connections = self.connections, set()
        for connection in connections:
            with contextlib.suppress(OSError):  # already gone
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        # A client that went away or timed out is not devstack's error.
        if not isinstance(error, OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "devstack/1"
    timeout = IDLE_TIMEOUT_SECONDS
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        with contextlib.suppress(OSError):  # the client went away first
            super().finish()

    def _serve(self) -> None:
        started = time.monotonic()
        length_text = self.headers.get("Content-Length") or "0"
        if not length_text.isdigit() or int(length_text) > MAX_BODY_BYTES:
            self._write(error_response(413, "too_large", "no usable Content-Length, or too large"))
            self.close_connection = True
            return
        length = int(length_text)
        body = self.rfile.read(length) if length else b""
        path, _, query = self.path.partition("?")
        request = Request(
            method=self.command,
            path=path,
            query_string=query,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
        )
        response = self.server.stack.handle(request)
        if response is None:
            self.close_connection = True
            status = "-"
        else:
            request_id = request.header("x-request-id")
            if request_id:
                response.headers.setdefault("X-Request-ID", request_id)
            self._write(response)
            status = str(response.status)
        if self.server.stack.access_log:
            elapsed_ms = (time.monotonic() - started) * 1000
            sys.stderr.write(f"{self.command} {self.path} {status} {elapsed_ms:.0f}ms\n")

    def _write(self, response: Response) -> None:
        self.send_response(response.status)
        if response.status not in (204, 304):
            self.send_header("Content-Type", response.content_type or "application/octet-stream")
            self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD" and response.status not in (204, 304):
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: `_serve` writes its own access line when asked to."""
