"""The one seam every outbound HTTP call goes through (SPEC §5).

It owns the sessions (one pooled `requests.Session` per upstream service), the (connect, read)
timeouts, retries (only idempotent methods, only on connection errors and 502/503/504),
request-id forwarding, the extraction of an upstream's error message, the mapping of every
failure to one `UpstreamError`, and the upstream metrics (by endpoint template, never a URL).
Service clients (scaigrid.py, scaiqueue.py, scaivault.py) are short lists of typed functions
on top of `call()`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import requests
from django.conf import settings
from django.views.decorators.debug import sensitive_variables
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from scaiflow.observability import metrics
from scaiflow.observability.context import current_request_id

USER_AGENT = "ScaiFlow/1"
IDEMPOTENT_METHODS = frozenset({"GET", "PUT", "DELETE"})
RETRY_STATUSES = (502, 503, 504)
MAX_MESSAGE_CHARS = 500


class UpstreamError(Exception):
    """An upstream call that did not give a usable answer.

    `status` is the HTTP status, or None when no answer came (timeout, refused connection);
    `message` is safe to show (never a credential); `code` is the upstream's own error code
    (its JSON `error`), when it gave one; `retryable` says whether trying again later could help.
    """

    def __init__(
        self,
        service: str,
        status: int | None,
        message: str,
        *,
        retryable: bool,
        code: str | None = None,
    ):
        self.service = service
        self.status = status
        self.message = message
        self.retryable = retryable
        self.code = code
        super().__init__(f"{service}: {message}")


_sessions: dict[str, requests.Session] = {}
_sessions_lock = threading.Lock()


def session_for(service: str) -> requests.Session:
    """The pooled session of one upstream service, created on first use."""
    with _sessions_lock:
        session = _sessions.get(service)
        if session is None:
            retry = Retry(
                total=2,
                connect=2,
                read=0,
                status=2,
                other=0,
                allowed_methods=IDEMPOTENT_METHODS,
                status_forcelist=RETRY_STATUSES,
                backoff_factor=0.2,
                raise_on_status=False,
                respect_retry_after_header=False,
            )
            adapter = HTTPAdapter(max_retries=retry, pool_connections=8, pool_maxsize=32)
            session = requests.Session()
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers["User-Agent"] = USER_AGENT
            _sessions[service] = session
        return session


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def upstream_message(response: requests.Response) -> str:
    """An upstream error's message: its JSON `message`, else `detail`, else `error`, else text."""
    body = _json_or_none(response)
    if isinstance(body, dict):
        for field in ("message", "detail", "error"):
            value = body.get(field)
            if isinstance(value, str) and value:
                return value[:MAX_MESSAGE_CHARS]
            if value:
                return json.dumps(value)[:MAX_MESSAGE_CHARS]
    text = response.text.strip()
    return text[:MAX_MESSAGE_CHARS] or f"HTTP {response.status_code}"


# While a deploy step runs, the seconds its upstream calls spent waiting (see `upstream_timer`).
_upstream_waited: ContextVar[list[float] | None] = ContextVar("upstream_waited", default=None)


@contextmanager
def upstream_timer() -> Iterator[list[float]]:
    """Sum the time `call` spends on upstream requests inside the block into `[seconds]`."""
    waited = [0.0]
    token = _upstream_waited.set(waited)
    try:
        yield waited
    finally:
        _upstream_waited.reset(token)


# The credential is in this frame and, as headers, in every frame of requests below it: an
# error report (Django's, for ADMINS) shows none of their variables.
@sensitive_variables()
def call(
    service: str,
    method: str,
    url: str,
    *,
    endpoint: str,
    credential: str,
    expected: Iterable[int] = (200, 201, 204),
    json_body: Any = None,
    data: bytes | str | None = None,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> requests.Response:
    """Send one request; return the response when its status is in `expected`.

    Raises UpstreamError for anything else: no answer (status None) or an unexpected status.
    `endpoint` is the path's template (`/v1/scopes/{scope}/queues`): the metrics' label.
    """
    all_headers = {"Authorization": f"Bearer {credential}", "X-Request-ID": current_request_id()}
    all_headers.update(headers or {})
    timeout = (settings.SCAIFLOW_UPSTREAM_CONNECT_TIMEOUT, settings.SCAIFLOW_UPSTREAM_READ_TIMEOUT)
    started = time.perf_counter()
    outcome = "error"
    try:
        response = session_for(service).request(
            method,
            url,
            json=json_body,
            data=data,
            headers=all_headers,
            params=params,
            timeout=timeout,
            allow_redirects=False,
        )
        outcome = str(response.status_code)
    except requests.Timeout:
        outcome = "timeout"
        raise UpstreamError(service, None, "timed out", retryable=True) from None
    except requests.ConnectionError:
        outcome = "connection_error"
        raise UpstreamError(service, None, "could not connect", retryable=True) from None
    except requests.RequestException as exc:
        raise UpstreamError(service, None, type(exc).__name__, retryable=False) from None
    finally:
        seconds = time.perf_counter() - started
        metrics.upstream_observe(service, endpoint, outcome, seconds)
        waited = _upstream_waited.get()
        if waited is not None:
            waited[0] += seconds
    if response.status_code not in set(expected):
        body = _json_or_none(response)
        code = body.get("error") if isinstance(body, dict) else None
        raise UpstreamError(
            service,
            response.status_code,
            upstream_message(response),
            retryable=response.status_code in RETRY_STATUSES or response.status_code == 429,
            code=code if isinstance(code, str) else None,
        )
    return response


def json_object(service: str, response: requests.Response, *required: str) -> dict[str, Any]:
    """The response body as a JSON object holding `required` keys, else an UpstreamError."""
    body = _json_or_none(response)
    if not isinstance(body, dict):
        raise UpstreamError(
            service, response.status_code, "answered something that is not a JSON object",
            retryable=False,
        )  # fmt: skip
    missing = [key for key in required if key not in body]
    if missing:
        raise UpstreamError(
            service, response.status_code, f"answer lacks {', '.join(missing)}", retryable=False
        )
    return body
