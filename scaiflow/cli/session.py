"""The command's HTTP session: bounded retries through urllib3's `Retry`, no redirects.

What is sent again, and when:
- a connection that could not be made (nothing reached ScaiFlow): any method;
- an answer of 503 or 429 (ScaiFlow did nothing), a read timeout or a reset: idempotent
  methods only, so a push or a deploy is never sent twice;
- after the answer's `Retry-After` (seconds or an HTTP date), else after 1, 2, 4… seconds;
- at most `retries` times, and never past `max_wait` seconds of waiting for one request: a
  wait that would pass it is not waited, the last answer or failure stands.

Redirects are never followed: the token would go wherever a `Location` says (the client
reports a 3xx as an error instead).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InvalidHeader, MaxRetryError, ResponseError
from urllib3.util.retry import Retry

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({429, 503})
BACKOFF_SECONDS = 1.0


@dataclass
class Waiting:
    """How a request's retries wait: the sleep to use, the budget, what was spent so far."""

    sleep: Callable[[float], None] = time.sleep
    budget: float = 60.0
    waited: float = 0.0


class BudgetedRetry(Retry):
    """urllib3's Retry with the command's waits: `Retry-After` when given, else 1, 2, 4… s,
    and a budget of waiting shared by the retries of one request (`Waiting`)."""

    # 413 (flow_too_large) waits for nobody: only what ScaiFlow refused for now.
    RETRY_AFTER_STATUS_CODES = RETRY_STATUSES

    def __init__(self, *args: Any, waiting: Waiting | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.waiting = waiting or Waiting()
        self.next_wait = 0.0

    def new(self, **kwargs: Any) -> BudgetedRetry:
        retry = super().new(**kwargs)
        retry.waiting = self.waiting
        return retry

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> BudgetedRetry:
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        wait = retry.wait_before_next(response)
        if self.waiting.waited + wait > self.waiting.budget:
            raise MaxRetryError(_pool, url or "", error or ResponseError("waiting budget spent"))
        retry.next_wait = wait
        return retry

    def wait_before_next(self, response: Any) -> float:
        if response is not None:
            after = retry_after(response.headers.get("Retry-After"))
            if after is not None:
                return after
        return BACKOFF_SECONDS * 2 ** max(len(self.history) - 1, 0)

    def sleep(self, response: Any = None) -> None:
        if self.next_wait > 0:
            self.waiting.sleep(self.next_wait)
            self.waiting.waited += self.next_wait


def retry_after(raw: str | None) -> float | None:
    """A `Retry-After` header's seconds (a number or an HTTP date, as urllib3 reads it); None
    when absent or neither (the backoff decides then)."""
    if not raw:
        return None
    try:
        return float(_HEADER_READER.parse_retry_after(raw))
    except (InvalidHeader, ValueError, OverflowError):
        return None


_HEADER_READER = Retry(total=0)


def new_session(*, retries: int, waiting: Waiting) -> requests.Session:
    """A session whose requests are retried as the module says and never redirected."""
    retry = BudgetedRetry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        allowed_methods=IDEMPOTENT_METHODS,
        status_forcelist=RETRY_STATUSES,
        raise_on_status=False,
        respect_retry_after_header=True,
        waiting=waiting,
    )
    adapter = HTTPAdapter(max_retries=retry)
    session = NoRedirectSession()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class NoRedirectSession(requests.Session):
    """A session that sees no redirect target anywhere: even with `allow_redirects=False`,
    requests would otherwise read a 3xx's whole body to prepare the next request."""

    def get_redirect_target(self, resp: requests.Response) -> None:
        return None
