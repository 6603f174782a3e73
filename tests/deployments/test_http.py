"""The outbound seam against a real local HTTP server: retries, timeouts, headers, errors."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from deployments.clients.http import UpstreamError, call, json_object
from scaiflow.observability import context


class Upstream:
    """Answers each request with the next scripted (status, body, delay); records requests."""

    def __init__(self):
        self.script = []
        self.requests = []
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _handler(self):
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                upstream.requests.append(
                    (self.command, self.path, dict(self.headers), self.rfile.read(length))
                )
                status, body, delay = upstream.script.pop(0) if upstream.script else (200, b"{}", 0)
                time.sleep(delay)
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

        return Handler


@pytest.fixture
def upstream():
    server = Upstream()
    yield server
    server.server.shutdown()


def test_sends_credential_request_id_and_body(upstream):
    token = context.request_id_var.set("req-42")
    try:
        call(
            "svc",
            "POST",
            upstream.url + "/x",
            endpoint="/x",
            credential="sekret",
            json_body={"a": 1},
        )
    finally:
        context.request_id_var.reset(token)
    method, path, headers, body = upstream.requests[0]
    assert (method, path) == ("POST", "/x")
    assert headers["Authorization"] == "Bearer sekret"
    assert headers["X-Request-ID"] == "req-42"
    assert json.loads(body) == {"a": 1}


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_idempotent_methods_retry_on_502_503_504(upstream, method):
    upstream.script = [(502, b"", 0), (503, b"", 0), (200, b"{}", 0)]
    assert call("svc", method, upstream.url, endpoint="/x", credential="k").status_code == 200
    assert len(upstream.requests) == 3


def test_at_most_two_retries(upstream):
    upstream.script = [(504, b"", 0)] * 5
    with pytest.raises(UpstreamError) as caught:
        call("svc", "GET", upstream.url, endpoint="/x", credential="k")
    assert caught.value.status == 504
    assert caught.value.retryable
    assert len(upstream.requests) == 3


def test_post_is_never_retried(upstream):
    upstream.script = [(503, b'{"message": "busy"}', 0), (200, b"{}", 0)]
    with pytest.raises(UpstreamError) as caught:
        call("svc", "POST", upstream.url, endpoint="/x", credential="k")
    assert caught.value.status == 503
    assert caught.value.message == "busy"
    assert len(upstream.requests) == 1


def test_read_timeout_is_status_none(upstream, settings):
    settings.SCAIFLOW_UPSTREAM_READ_TIMEOUT = 0.2
    upstream.script = [(200, b"{}", 5.0)]
    started = time.monotonic()
    with pytest.raises(UpstreamError) as caught:
        call("svc", "POST", upstream.url, endpoint="/x", credential="k")
    assert caught.value.status is None
    # Well under the upstream's 5 s: the timeout ended the wait, with room for a busy machine.
    assert time.monotonic() - started < 3.0


def test_refused_connection_is_status_none(settings):
    settings.SCAIFLOW_UPSTREAM_CONNECT_TIMEOUT = 0.5
    with pytest.raises(UpstreamError) as caught:
        call("svc", "POST", "http://127.0.0.1:9", endpoint="/x", credential="sekret")
    assert caught.value.status is None
    assert "sekret" not in str(caught.value)
    assert caught.value.__cause__ is None  # nothing that could carry headers is chained


@pytest.mark.parametrize(
    ("body", "message", "code"),
    [
        (b'{"message": "m", "detail": "d", "error": "e"}', "m", "e"),
        (b'{"detail": "d", "error": "e"}', "d", "e"),
        (b'{"error": "e"}', "e", "e"),
        (b"<html>Bad gateway</html>", "<html>Bad gateway</html>", None),
        (b"x" * 2000, "x" * 500, None),
    ],
)
def test_upstream_message_extraction(upstream, body, message, code):
    upstream.script = [(400, body, 0)]
    with pytest.raises(UpstreamError) as caught:
        call("svc", "POST", upstream.url, endpoint="/x", credential="k")
    assert caught.value.message == message
    assert caught.value.code == code
    assert not caught.value.retryable


@pytest.mark.parametrize("body", [b"<html></html>", b'{"id": "co', b"[1, 2]", b'{"other": 1}'])
def test_malformed_answers_are_upstream_errors(upstream, body):
    upstream.script = [(200, body, 0)]
    response = call("svc", "GET", upstream.url, endpoint="/x", credential="k")
    with pytest.raises(UpstreamError):
        json_object("svc", response, "id")


def test_empty_error_body_names_the_status(upstream):
    upstream.script = [(418, b"", 0)]
    with pytest.raises(UpstreamError) as caught:
        call("svc", "POST", upstream.url, endpoint="/x", credential="k")
    assert caught.value.message == "HTTP 418"
