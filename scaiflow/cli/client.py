"""A small client of ScaiFlow's REST API for the `scaiflow` command (requests only).

It needs no Django settings: the server and the credential come from the caller (the command
reads `SCAIFLOW_URL` and `SCAIFLOW_TOKEN`, or `--url` and `--token`). Every answer that is not
a success becomes one `ClientError` carrying the API's error detail (SPEC §2) and the exit
status the command ends with, so a CI log can act on it. Retries: `scaiflow.cli.session`.

It trusts the server no further than it must. The token is sent in the `Authorization` header
to SCAIFLOW_URL's scheme, host and port only, and never appears in a message, an error or a
URL printed: a page's `next` link is followed there and nowhere else (`_next_url`), and a
redirect is an error naming where it pointed, not followed. An answer is read up to a size
limit, parsed as strict JSON and checked for the fields the command uses (`answers`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urljoin, urlsplit, urlunsplit

import requests

from scaiflow.cli import answers
from scaiflow.cli.errors import ClientError
from scaiflow.cli.exits import EXIT_UNAVAILABLE
from scaiflow.cli.output import printable
from scaiflow.cli.session import Waiting, new_session, retry_after

# The environment the command reads (documented in docs/ci.md).
URL_VARIABLE = "SCAIFLOW_URL"
TOKEN_VARIABLE = "SCAIFLOW_TOKEN"  # noqa: S105 (a variable's name)
ENVIRONMENT = (URL_VARIABLE, TOKEN_VARIABLE)

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 120.0  # a deploy waits on ScaiGrid and ScaiQueue
DEFAULT_RETRIES = 3
DEFAULT_MAX_WAIT = 60.0  # seconds of waiting, all retries of one request together
MAX_ANSWER_BYTES = 64 * 1024 * 1024  # far above ScaiFlow's largest flow
MAX_PAGES = 10_000


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


def redacted(url: str) -> str:
    """`url` without any user or password in it: safe to print."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "(a malformed URL)"
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{port}" if port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@dataclass
class Client:
    """ScaiFlow's `/api/v1` at `base_url`, as the holder of `token`."""

    base_url: str
    token: str = field(repr=False)
    retries: int = DEFAULT_RETRIES
    max_wait: float = DEFAULT_MAX_WAIT
    sleep: Callable[[float], None] = time.sleep
    timeout: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT)
    max_answer_bytes: int = MAX_ANSWER_BYTES
    session: requests.Session | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # ScaiFlow's base URL; the API's own (…/api/v1) is taken as meaning it too.
        self.base_url = self.base_url.rstrip("/").removesuffix("/api/v1")
        self._waiting = Waiting(sleep=self.sleep, budget=self.max_wait)
        if self.session is None:
            self.session = new_session(retries=self.retries, waiting=self._waiting)
        self.session.headers["Authorization"] = f"Bearer {self.token}"
        self.session.headers["User-Agent"] = "scaiflow-cli"
        self.session.headers["Accept"] = "application/json"

    def __repr__(self) -> str:  # never the token
        return f"Client({redacted(self.base_url)!r})"

    # --- the endpoints -------------------------------------------------------------------

    def flow(self, flow_id: str) -> Answer:
        """`GET /flows/{id}`: the flow with its content; `ETag` its version."""
        answer = self.request("GET", f"/flows/{_segment(flow_id)}")
        answer.body = answers.flow(answer.status, answer.body, with_content=True)
        return answer

    def flows(self, *, search: str = "") -> Iterator[dict[str, Any]]:
        """`GET /flows`, every page: the tenant's flows (whose name holds `search`, in any
        case), most recently changed first."""
        query = urlencode({"page_size": 200, **({"search": search} if search else {})})
        for status, item in self._pages(f"/flows?{query}"):
            yield answers.flow(status, item)

    def flow_create(self, *, name: str, content: dict[str, Any]) -> Answer:
        """`POST /flows`: version 1."""
        answer = self.request("POST", "/flows", json={"name": name, "content": content})
        answer.body = answers.flow(answer.status, answer.body)
        return answer

    def flow_update(
        self, flow_id: str, *, name: str, content: dict[str, Any], if_match: int | None
    ) -> Answer:
        """`PATCH /flows/{id}`: a new version when the content changed; 412 when `if_match`
        is not the current version."""
        headers = {"If-Match": f'"{if_match}"'} if if_match is not None else {}
        body = {"name": name, "content": content}
        path = f"/flows/{_segment(flow_id)}"
        answer = self.request("PATCH", path, json=body, headers=headers)
        answer.body = answers.flow(answer.status, answer.body)
        return answer

    def deploy(
        self,
        flow_id: str,
        *,
        publish: bool | None = None,
        group_ids: list[str] | None = None,
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> Answer:
        """`POST /flows/{id}/deploy`: 201 with the deployment record."""
        body: dict[str, Any] = {}
        if publish is not None:
            body["publish_as_model"] = publish
        if group_ids:
            body["group_ids"] = group_ids
        headers = {}
        if if_match is not None:
            headers["If-Match"] = f'"{if_match}"'
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        path = f"/flows/{_segment(flow_id)}/deploy"
        answer = self.request("POST", path, json=body, headers=headers)
        answer.body = answers.deployment(answer.status, answer.body, deployed=True)
        return answer

    def deployments(self, *, flow_id: str | None = None, limit: int) -> list[dict[str, Any]]:
        """The latest `limit` (at least 1) deployments, newest first: the tenant's or one
        flow's."""
        path = f"/flows/{_segment(flow_id)}/deployments" if flow_id else "/deployments"
        found = []
        for status, record in self._pages(f"{path}?page_size={min(max(limit, 1), 200)}"):
            found.append(answers.deployment(status, record))
            if len(found) >= limit:
                break
        return found

    # --- the transport -------------------------------------------------------------------

    def _pages(self, path: str) -> Iterator[tuple[int, Any]]:
        """Every item of a list, with the status of the page it came on."""
        url: str | None = self._url(path)
        seen: set[str] = set()
        while url:
            if url in seen or len(seen) >= MAX_PAGES:
                raise answers.invalid(None, "its pages' next links go round in circles")
            seen.add(url)
            answer = self._send("GET", url)
            results, link = answers.page(answer.status, answer.body)
            for item in results:
                yield answer.status, item
            url = self._next_url(url, link) if link else None

    def _next_url(self, current: str, link: str) -> str:
        """Where a page's `next` link leads: SCAIFLOW_URL's scheme, host and port, with the
        link's path and query. A link to that origin is followed as it is; a link elsewhere
        (another host, another port, http for https) keeps only its path and query, so the
        token never leaves for another server and https is never downgraded."""
        try:
            target = urlsplit(urljoin(current, link))
        except ValueError:
            raise answers.invalid(None, "a page's next link is not a URL") from None
        origin = urlsplit(self.base_url)
        return urlunsplit((origin.scheme, origin.netloc, target.path, target.query, ""))

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """One API call (`path` under /api/v1) with bounded retries; raises ClientError for
        anything but a 2xx."""
        return self._send(method, self._url(path), json=json, headers=headers)

    def _send(
        self, method: str, url: str, *, json: Any = None, headers: dict[str, str] | None = None
    ) -> Answer:
        assert self.session is not None
        self._waiting.waited = 0.0
        try:
            response = self.session.request(
                method,
                url,
                json=json,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
                stream=True,
            )
            with response:
                if 300 <= response.status_code < 400:  # never followed, its body never read
                    raise self._redirect_error(response)
                body = self._read_body(response)
        except requests.RequestException as exc:
            raise self._network_error(exc) from None
        if 200 <= response.status_code < 300:
            return Answer(response.status_code, dict(response.headers), body)
        raise self._api_error(response, body)

    def _read_body(self, response: requests.Response) -> Any:
        """The answer's JSON (None when empty or not JSON), read up to `max_answer_bytes`."""
        chunks, size = [], 0
        for chunk in response.iter_content(chunk_size=65536):
            size += len(chunk)
            if size > self.max_answer_bytes:
                what = f"it is larger than {self.max_answer_bytes} bytes"
                raise answers.invalid(response.status_code, what)
            chunks.append(chunk)
        return parse_json(b"".join(chunks))

    def _url(self, path: str) -> str:
        return f"{self.base_url}/api/v1{path}"

    def _network_error(self, exc: requests.RequestException) -> ClientError:
        # Only the exception's class: its text may name the URL of a next link or a proxy.
        where = redacted(self.base_url)
        kind = "timed out" if isinstance(exc, requests.Timeout) else "could not be reached"
        return ClientError(
            None,
            {
                "error": "unreachable",
                "message": f"ScaiFlow at {where} {kind} ({type(exc).__name__}).",
                "fix": f"Check {URL_VARIABLE} and the network; ScaiFlow's /readyz says "
                "whether it is up.",
            },
        )

    def _redirect_error(self, response: requests.Response) -> ClientError:
        """A 3xx, which is never followed: where it pointed, and the fix."""
        location = response.headers.get("Location", "")
        try:
            target = urlsplit(urljoin(response.url, location)) if location else None
        except ValueError:
            target = None
        shown = printable(redacted(urlunsplit(target)), 300) if target else "nowhere it says"
        fix = f"Set {URL_VARIABLE} to ScaiFlow's own base URL: the command follows no redirect."
        origin = urlsplit(self.base_url)
        upgrade = target and (origin.scheme, target.scheme) == ("http", "https")
        if upgrade and target.hostname == origin.hostname:
            https = urlunsplit(("https", target.netloc.rpartition("@")[2], origin.path, "", ""))
            fix = f"Use https: {URL_VARIABLE}={printable(https, 300)}"
        detail = {
            "error": "redirected",
            "message": f"{redacted(self.base_url)} answered HTTP {response.status_code}, a "
            f"redirect to {shown}; not followed.",
            "fix": fix,
            "location": shown,
        }
        return ClientError(response.status_code, detail, exit_status=EXIT_UNAVAILABLE)

    def _api_error(self, response: requests.Response, body: Any) -> ClientError:
        detail = answers.error_detail(body)
        if detail is None:
            detail = {
                "error": "invalid_answer",
                "message": f"{redacted(self.base_url)} answered HTTP {response.status_code} "
                "without ScaiFlow's error body.",
                "fix": f"Check that {URL_VARIABLE} is ScaiFlow's base URL.",
            }
        if response.status_code == 429 and "retry_after" not in detail:
            detail["retry_after"] = retry_after(response.headers.get("Retry-After"))
        return ClientError(response.status_code, detail)


def _segment(value: str) -> str:
    """One path segment: an id with `/`, `..` or `?` in it stays one segment."""
    return quote(value, safe="")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(data: bytes) -> Any:
    """Strict JSON (no NaN or Infinity), None when empty or not JSON."""
    if not data:
        return None
    try:
        return json.loads(data, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return None
