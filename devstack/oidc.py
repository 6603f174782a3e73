"""ScaiKey as an OpenID Connect provider, for development: the authorization code flow with
PKCE, so that "Sign in with ScaiKey" in the admin works against devstack.

- `GET /scaikey/authorize` (response_type=code, a registered client_id and its exact
  redirect_uri, state, nonce, code_challenge with S256) shows a small form: tenant, user and
  roles, plus, for testing relying parties, extra ID token claims (JSON; null drops one) and
  the key that signs. There is no password: this is a stand-in.
- `POST /scaikey/authorize` (the form) → 302 to redirect_uri with `code` and `state`.
- `POST /scaikey/token` with `grant_type=authorization_code` (form-encoded; JSON bodies are
  the dev token endpoint of scaikey.py) → `{"access_token", "id_token", ...}`. The code is
  good once, for 60 s, for its client and redirect_uri, and with the PKCE verifier; a client
  registered with a secret must send it (HTTP Basic or `client_secret` in the form).

Clients are registered with `Devstack.register_oidc_client` or
`POST /_devstack/scaikey/clients {"client_id", "redirect_uris", "client_secret"?}`; they stay
across a reset (they are configuration, not state).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode

import jwt

from devstack.http import ApiError, Request, Response, Route, json_response
from devstack.scaikey import ALGORITHM, SigningKey

if TYPE_CHECKING:
    from devstack.auth import Caller
    from devstack.server import Devstack

# The client `make run` and `manage.py devstack` register for ScaiFlow's admin (public: PKCE).
ADMIN_CLIENT_ID = "scaiflow-admin"
CALLBACK_PATH = "/admin/oidc/callback/"
CODE_TTL_SECONDS = 60
ID_TOKEN_TTL_SECONDS = 600
SIGN_WITH_UNKNOWN_KEY = "unknown"


@dataclass(frozen=True)
class OidcClient:
    client_id: str
    redirect_uris: tuple[str, ...]
    client_secret: str = ""


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str
    claims: dict[str, Any]
    sign_with: str
    expires: float


@dataclass
class OidcProvider:
    """The registered clients and the codes handed out and not yet used."""

    default_tenant: str = "demo"
    clients: dict[str, OidcClient] = field(default_factory=dict)
    _grants: dict[str, _Grant] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def register(self, client_id: str, redirect_uris: list[str], secret: str = "") -> OidcClient:
        client = OidcClient(client_id, tuple(redirect_uris), secret)
        with self._lock:
            self.clients[client_id] = client
        return client

    def register_admin(self, scaiflow_urls: list[str]) -> OidcClient:
        """ScaiFlow's admin as a client, at each of these base URLs."""
        uris = [f"{url.rstrip('/')}{CALLBACK_PATH}" for url in scaiflow_urls]
        return self.register(ADMIN_CLIENT_ID, uris)

    def reset(self) -> None:
        with self._lock:
            self._grants.clear()

    def issue(self, grant: _Grant) -> str:
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._grants[code] = grant
        return code

    def redeem(self, code: str) -> _Grant | None:
        with self._lock:
            return self._grants.pop(code, None)


def _form(request: Request) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(request.body.decode("utf-8")).items()}


def _html(status: int, title: str, body: str) -> Response:
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:32em;margin:3em auto}label{display:block;"
        "margin:.8em 0 .2em}input[type=text],textarea{width:100%}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return Response(status, page.encode(), "text/html; charset=utf-8")


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    return json_response(status, {"error": error, "error_description": description})


def _client_and_redirect(stack: Devstack, params: dict[str, str]) -> tuple[OidcClient, str]:
    """The registered client and its exact redirect URI, else an error page (never a
    redirect to a URI nobody registered)."""
    client = stack.oidc.clients.get(params.get("client_id", ""))
    if client is None:
        raise ApiError("invalid_client", "unknown client_id")
    redirect_uri = params.get("redirect_uri", "")
    if redirect_uri not in client.redirect_uris:
        raise ApiError("invalid_request", "redirect_uri is not registered for this client")
    return client, redirect_uri


AUTHORIZE_PARAMS = ("client_id", "redirect_uri", "state", "nonce", "code_challenge", "scope")


def get_authorize(stack: Devstack, request: Request, caller: Caller | None) -> Response:
    params = request.query
    try:
        _client_and_redirect(stack, params)
    except ApiError as exc:
        return _html(400, "Sign-in refused", f"<p>{escape(exc.message)}</p>")
    problems = []
    if params.get("response_type") != "code":
        problems.append("response_type must be code")
    if "openid" not in params.get("scope", "").split():
        problems.append("scope must include openid")
    if not params.get("code_challenge") or params.get("code_challenge_method") != "S256":
        problems.append("PKCE is required: code_challenge with code_challenge_method=S256")
    if problems:
        return _html(400, "Sign-in refused", f"<p>{escape('; '.join(problems))}</p>")
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{escape(params.get(name, ""))}">'
        for name in AUTHORIZE_PARAMS
    )
    tenant = escape(stack.oidc.default_tenant)
    body = (
        "<p>devstack's ScaiKey: no password, choose who you are.</p>"
        f'<form method="post" action="{escape(request.path)}">{hidden}'
        f'<label for="tenant">Tenant</label><input type="text" id="tenant" name="tenant" '
        f'value="{tenant}">'
        '<label for="sub">User (sub)</label><input type="text" id="sub" name="sub" '
        'value="developer">'
        '<label for="roles">Roles (space-separated)</label><input type="text" id="roles" '
        'name="roles" value="tenant_admin">'
        "<details><summary>For testing a client</summary>"
        '<label for="claims">Extra ID token claims (JSON; null drops a claim)</label>'
        '<textarea id="claims" name="claims" rows="3"></textarea>'
        '<label for="sign_with">Signed with</label><select id="sign_with" name="sign_with">'
        '<option value="">the published key</option>'
        f'<option value="{SIGN_WITH_UNKNOWN_KEY}">a key not in the JWKS</option></select>'
        "</details>"
        '<p><button type="submit" id="sign-in">Sign in</button></p></form>'
    )
    return _html(200, "Sign in to ScaiKey", body)


def post_authorize(stack: Devstack, request: Request, caller: Caller | None) -> Response:
    form = _form(request)
    try:
        _, redirect_uri = _client_and_redirect(stack, form)
        claims = json.loads(form.get("claims") or "{}")
        if not isinstance(claims, dict):
            raise ValueError("extra claims must be a JSON object")
    except ApiError as exc:
        return _html(400, "Sign-in refused", f"<p>{escape(exc.message)}</p>")
    except ValueError as exc:
        return _html(400, "Sign-in refused", f"<p>{escape(str(exc))}</p>")
    sub = form.get("sub", "").strip()
    if not sub:
        return _html(400, "Sign-in refused", "<p>a user (sub) is needed</p>")
    identity = {
        "sub": sub,
        "tenant": form.get("tenant", "").strip(),
        "roles": form.get("roles", "").split(),
    }
    code = stack.oidc.issue(
        _Grant(
            client_id=form["client_id"],
            redirect_uri=redirect_uri,
            code_challenge=form.get("code_challenge", ""),
            nonce=form.get("nonce", ""),
            claims={**identity, **claims},
            sign_with=form.get("sign_with", ""),
            expires=time.time() + CODE_TTL_SECONDS,
        )
    )
    query = urlencode({"code": code, "state": form.get("state", "")})
    return Response(302, b"", "", {"Location": f"{redirect_uri}?{query}"})


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str, str]:
    basic = request.header("authorization")
    if basic.lower().startswith("basic "):
        try:
            client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return "", ""
        return client_id, secret
    return form.get("client_id", ""), form.get("client_secret", "")


def _pkce_matches(verifier: str, challenge: str) -> bool:
    digest = hashlib.sha256(verifier.encode()).digest()
    expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return bool(verifier) and hmac.compare_digest(expected, challenge)


def exchange_code(stack: Devstack, request: Request) -> Response:
    """The token endpoint's authorization_code grant."""
    form = _form(request)
    if form.get("grant_type") != "authorization_code":
        return _oauth_error("unsupported_grant_type", "only authorization_code")
    client_id, secret = _client_credentials(request, form)
    client = stack.oidc.clients.get(client_id)
    if client is None or (
        client.client_secret and not hmac.compare_digest(client.client_secret, secret)
    ):
        return _oauth_error("invalid_client", "unknown client or wrong secret", 401)
    grant = stack.oidc.redeem(form.get("code", ""))
    if grant is None or grant.expires < time.time() or grant.client_id != client_id:
        return _oauth_error("invalid_grant", "unknown, used or expired code")
    if form.get("redirect_uri") != grant.redirect_uri:
        return _oauth_error("invalid_grant", "redirect_uri differs from the authorization's")
    if not _pkce_matches(form.get("code_verifier", ""), grant.code_challenge):
        return _oauth_error("invalid_grant", "code_verifier does not match the code_challenge")
    now = int(time.time())
    payload = {
        "iss": stack.issuer,
        "aud": client_id,
        "iat": now,
        "auth_time": now,
        "exp": now + ID_TOKEN_TTL_SECONDS,
        "nonce": grant.nonce,
        **grant.claims,
    }
    payload = {name: value for name, value in payload.items() if value is not None}
    key = SigningKey.generate() if grant.sign_with == SIGN_WITH_UNKNOWN_KEY else None
    key = key or stack.signing.current
    id_token = jwt.encode(payload, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})
    access_token = stack.signing.mint(
        tenant=str(grant.claims.get("tenant") or ""),
        sub=str(grant.claims.get("sub")),
        roles=list(grant.claims.get("roles") or []),
        ttl=ID_TOKEN_TTL_SECONDS,
    )
    return json_response(
        200,
        {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": ID_TOKEN_TTL_SECONDS,
            "id_token": id_token,
            "scope": "openid",
        },
        {"Cache-Control": "no-store"},
    )


def register_client(stack: Devstack, request: Request, caller: Caller | None) -> Response:
    body = request.json()
    uris = body.get("redirect_uris") if isinstance(body, dict) else None
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("client_id"), str)
        or not body["client_id"]
        or not isinstance(uris, list)
        or not all(isinstance(uri, str) for uri in uris)
    ):
        raise ApiError("invalid_request", "need client_id and a list of redirect_uris")
    client = stack.oidc.register(body["client_id"], uris, str(body.get("client_secret") or ""))
    return json_response(
        201, {"client_id": client.client_id, "redirect_uris": list(client.redirect_uris)}
    )


ROUTES = [
    Route("GET", "/scaikey/authorize", get_authorize),
    Route("POST", "/scaikey/authorize", post_authorize),
    Route("POST", "/_devstack/scaikey/clients", register_client),
]
