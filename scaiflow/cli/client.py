"""A small client of ScaiFlow's REST API for the `scaiflow` command (requests only).

It needs no Django settings: the server and the credential come from the caller (the command
reads `SCAIFLOW_URL` and `SCAIFLOW_TOKEN`, or `--url` and `--token`). Every answer that is not
a success becomes one `ClientError` carrying the API's error detail (SPEC §2) and the exit
status the command ends with, so a CI log can act on it.

Retries are bounded: a 503 or 429 answer (ScaiFlow did nothing) is retried after its
`Retry-After`, or an exponential backoff when it has none; a connection that could not be made
is retried too. A request that may have reached ScaiFlow (a read timeout, a reset) is retried
only when it is a GET. The token is sent in the `Authorization` header and nowhere else: it
never appears in a message, an error or a URL printed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

# The environment the command reads (documented in docs/ci.md).
URL_VARIABLE = "SCAIFLOW_URL"
TOKEN_VARIABLE = "SCAIFLOW_TOKEN"  # noqa: S105 (a variable's name)
ENVIRONMENT = (URL_VARIABLE, TOKEN_VARIABLE)

# Exit statuses: stable, documented in docs/ci.md.
EXIT_OK = 0
EXIT_COMPILE = 1
EXIT_USAGE = 2
EXIT_CONFLICT = 3
EXIT_AUTH = 4
EXIT_UPSTREAM = 5
EXIT_UNAVAILABLE = 6

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 120.0  # a deploy waits on ScaiGrid and ScaiQueue
DEFAULT_RETRIES = 3
DEFAULT_MAX_WAIT = 60.0  # seconds of waiting, all retries together
BACKOFF_SECONDS = 1.0

# The codes of SPEC §2 / §4 that do not follow from the HTTP status alone.
_CODE_EXITS = {
    "compile_error": EXIT_COMPILE,
    "flow_too_large": EXIT_COMPILE,
    "version_conflict": EXIT_CONFLICT,
    "deploy_in_progress": EXIT_CONFLICT,
    "missing_scaigrid_credentials": EXIT_AUTH,
}


def exit_status_of(status: int | None, code: str | None) -> int:
    """The command's exit status for an API error answer (`status` None: no answer at all)."""
    if code in _CODE_EXITS:
        return _CODE_EXITS[code]
    if status is None or status in (429, 503) or (status >= 500 and status != 502):
        return EXIT_UNAVAILABLE
    if status == 502:
        return EXIT_UPSTREAM
    if status in (401, 403):
        return EXIT_AUTH
    if status in (409, 412):
        return EXIT_CONFLICT
    return EXIT_USAGE


class ClientError(Exception):
    """A request that did not succeed: the API's error detail and the exit status it means.

    `detail` has at least `error` and `message` (SPEC §2's `detail`), and `fix` when known;
    errors that never reached ScaiFlow get a code of the client's own (`unreachable`,
    `invalid_answer`).
    """

    def __init__(self, status: int | None, detail: dict[str, Any]) -> None:
        self.status = status
        self.detail = detail
        self.code = str(detail.get("error") or "error")
        self.exit_status = exit_status_of(status, self.code)
        super().__init__(f"{self.code}: {detail.get('message', '')}")

    @property
    def message(self) -> str:
        return str(self.detail.get("message") or "")

    @property
    def fix(self) -> str:
        return str(self.detail.get("fix") or "")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


def redacted(url: str) -> str:
    """`url` without any user or password in it: safe to print."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _retry_after(response: requests.Response) -> float | None:
    raw = response.headers.get("Retry-After", "").strip()
    if raw.isdigit():
        return float(raw)
    return None  # absent, or an HTTP date: the backoff decides


@dataclass
class Client:
    """ScaiFlow's `/api/v1` at `base_url`, as the holder of `token`."""

    base_url: str
    token: str
    retries: int = DEFAULT_RETRIES
    max_wait: float = DEFAULT_MAX_WAIT
    sleep: Callable[[float], None] = time.sleep
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        # ScaiFlow's base URL; the API's own (…/api/v1) is taken as meaning it too.
        self.base_url = self.base_url.rstrip("/").removesuffix("/api/v1")
        self.session.headers["Authorization"] = f"Bearer {self.token}"
        self.session.headers["User-Agent"] = "scaiflow-cli"
        self.session.headers["Accept"] = "application/json"

    def __repr__(self) -> str:  # never the token
        return f"Client({redacted(self.base_url)!r})"

    # --- the endpoints -------------------------------------------------------------------

    def flow(self, flow_id: str) -> Answer:
        """`GET /flows/{id}`: the flow with its content; `ETag` its version."""
        return self.request("GET", f"/flows/{flow_id}")

    def flows(self, *, search: str = "") -> Iterator[dict[str, Any]]:
        """`GET /flows`, every page: the tenant's flows (whose name holds `search`, in any
        case), most recently changed first."""
        query = urlencode({"page_size": 200, **({"search": search} if search else {})})
        return self._pages(f"/flows?{query}")

    def flow_create(self, *, name: str, content: dict[str, Any]) -> Answer:
        """`POST /flows`: version 1."""
        return self.request("POST", "/flows", json={"name": name, "content": content})

    def flow_update(
        self, flow_id: str, *, name: str, content: dict[str, Any], if_match: int | None
    ) -> Answer:
        """`PATCH /flows/{id}`: a new version when the content changed; 412 when `if_match`
        is not the current version."""
        headers = {"If-Match": f'"{if_match}"'} if if_match is not None else {}
        body = {"name": name, "content": content}
        return self.request("PATCH", f"/flows/{flow_id}", json=body, headers=headers)

    def flow_version(self, flow_id: str, number: int) -> Answer:
        """`GET /flows/{id}/versions/{n}`: one version with its content."""
        return self.request("GET", f"/flows/{flow_id}/versions/{number}")

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
        return self.request("POST", f"/flows/{flow_id}/deploy", json=body, headers=headers)

    def deployments(self, *, flow_id: str | None = None, limit: int) -> list[dict[str, Any]]:
        """The latest `limit` deployments, newest first: the tenant's or one flow's."""
        path = f"/flows/{flow_id}/deployments" if flow_id else "/deployments"
        found = []
        for record in self._pages(f"{path}?page_size={min(limit, 200)}"):
            found.append(record)
            if len(found) >= limit:
                break
        return found

    # --- the transport -------------------------------------------------------------------

    def _pages(self, path: str) -> Iterator[dict[str, Any]]:
        url: str | None = self.base_url + "/api/v1" + path
        while url:
            body = self.request("GET", url).body
            yield from body.get("results", [])
            url = body.get("next")

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """One API call with bounded retries; raises ClientError for anything but a 2xx."""
        url = path if path.startswith(("http://", "https://")) else self._url(path)
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self.session.request(
                    method,
                    url,
                    json=json,
                    headers=headers,
                    timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                failure = self._network_error(exc)
                retry = _never_sent(exc) or method == "GET"
                wait = BACKOFF_SECONDS * 2 ** (attempt - 1)
            else:
                if response.status_code < 400:
                    return Answer(response.status_code, dict(response.headers), _body(response))
                failure = self._api_error(response)
                retry = response.status_code in (429, 503)
                after = _retry_after(response)
                wait = after if after is not None else BACKOFF_SECONDS * 2 ** (attempt - 1)
            if not retry or attempt > self.retries or waited + wait > self.max_wait:
                raise failure
            self.sleep(wait)
            waited += wait

    def _url(self, path: str) -> str:
        return f"{self.base_url}/api/v1{path}"

    def _network_error(self, exc: requests.RequestException) -> ClientError:
        # The exception's text names the URL and the connection, never the headers.
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

    def _api_error(self, response: requests.Response) -> ClientError:
        body = _body(response)
        detail = body.get("detail") if isinstance(body, dict) else None
        if not isinstance(detail, dict) or "error" not in detail:
            detail = {
                "error": "invalid_answer",
                "message": f"{redacted(self.base_url)} answered HTTP {response.status_code} "
                "without ScaiFlow's error body.",
                "fix": f"Check that {URL_VARIABLE} is ScaiFlow's base URL.",
            }
        if response.status_code == 429 and "retry_after" not in detail:
            detail["retry_after"] = _retry_after(response)
        return ClientError(response.status_code, detail)


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request cannot have reached ScaiFlow (no connection was made): then even
    a POST is safe to send again. A reset or a read timeout may come after ScaiFlow acted."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError | ConnectTimeoutError)


def _body(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None
