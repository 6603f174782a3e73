"""A fake ScaiFlow on loopback for the command's tests: a real HTTP server in a thread, so
urllib3's retries, timeouts and redirects run as they do against a real one.

`answer(method, path)` decides each reply: scripted per route (`on`), or whatever a test
sets (`respond`). Every request is recorded with its headers (`seen`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # bytes as they are; anything else as JSON
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        return b"" if self.body is None else json.dumps(self.body).encode()


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


NOT_FOUND = Reply(404, {"detail": {"error": "not_found", "message": "No such thing."}})


class FakeScaiFlow:
    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Reply]] = {}
        self.respond: Callable[[str, str], Reply] | None = None
        self.seen: list[Seen] = []
        self._server = _QuietServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        # A short poll: shutdown() waits for it, once per test.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def on(self, method: str, path: str, *replies: Reply) -> None:
        """Answer `method path` (with its query, or without to match any) with `replies` in
        turn, the last one again and again."""
        self.routes[(method, path)] = list(replies)

    def answer(self, method: str, path: str) -> Reply:
        if self.respond is not None:
            return self.respond(method, path)
        replies = self.routes.get((method, path)) or self.routes.get((method, path.split("?")[0]))
        if not replies:
            return NOT_FOUND
        return replies.pop(0) if len(replies) > 1 else replies[0]

    def start(self) -> FakeScaiFlow:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up mid-answer (a redirect's body unread): what it should do


def _handler(fake: FakeScaiFlow) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else each answer waits on a delayed ACK

        def log_message(self, *args: Any) -> None:
            pass

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            fake.seen.append(Seen(self.command, self.path, dict(self.headers), body))
            reply = fake.answer(self.command, self.path)
            if reply.delay:
                time.sleep(reply.delay)
            payload = reply.payload()
            try:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up first (a timeout): what it should do

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _any

    return Handler
