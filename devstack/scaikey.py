"""The ScaiKey stand-in: a JWKS, a dev token endpoint, and key rotation (and, in oidc.py,
an OpenID Connect provider for the admin's "Sign in with ScaiKey").

An RS256 key with a `kid` is generated when the server starts. `POST /scaikey/token` mints a
JWT for any tenant/sub/roles (development only: there is no login). Rotation
(`POST /_devstack/scaikey/rotate`) makes a new signing key with a new `kid`; the old one stays
published unless told otherwise, so tokens already out keep verifying, and a verifier that
cached the old JWKS meets an unknown `kid` and has to refetch. Resetting devstack goes back to
the key generated at start, so every test starts with the same JWKS.

Tokens may be minted with a negative `ttl` (down to -3600 s), for tests of expired tokens.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from devstack.http import ApiError, Request, Response, Route, json_response

if TYPE_CHECKING:
    from devstack.auth import Caller
    from devstack.server import Devstack

ALGORITHM = "RS256"
DEFAULT_AUDIENCE = "scaiflow"
DEFAULT_TTL_SECONDS = 3600
MAX_TTL_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey

    @classmethod
    def generate(cls) -> SigningKey:
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(f"devstack-{secrets.token_hex(4)}", private_key)

    def jwk(self) -> dict[str, Any]:
        public = RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {**public, "kid": self.kid, "use": "sig", "alg": ALGORITHM}


class SigningKeys:
    """The published keys; the newest signs."""

    def __init__(self, issuer: str, audience: str = DEFAULT_AUDIENCE) -> None:
        self.issuer = issuer
        self.audience = audience
        self._lock = threading.Lock()
        self._initial = SigningKey.generate()
        self._keys: list[SigningKey] = [self._initial]

    @property
    def current(self) -> SigningKey:
        with self._lock:
            return self._keys[-1]

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            return {"keys": [key.jwk() for key in self._keys]}

    def rotate(self, *, retire_old: bool = False) -> SigningKey:
        """Sign with a new key from now on; `retire_old` stops publishing the earlier ones."""
        key = SigningKey.generate()
        with self._lock:
            self._keys = [key] if retire_old else [*self._keys, key]
        return key

    def restore(self) -> None:
        """Back to the key generated at start, alone: rotations are undone."""
        with self._lock:
            self._keys = [self._initial]

    def mint(
        self,
        *,
        tenant: str,
        sub: str,
        roles: list[str] | tuple[str, ...] = (),
        ttl: int = DEFAULT_TTL_SECONDS,
        scopes: list[str] | None = None,
        claims: dict[str, Any] | None = None,
    ) -> str:
        """A signed JWT; `claims` are added last (a None value drops that claim)."""
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": sub,
            "tenant": tenant,
            "roles": list(roles),
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
        }
        if scopes is not None:
            payload["scopes"] = list(scopes)
        payload.update(claims or {})
        payload = {name: value for name, value in payload.items() if value is not None}
        key = self.current
        return jwt.encode(payload, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a token this ScaiKey signed; raises `jwt.PyJWTError` otherwise."""
        kid = jwt.get_unverified_header(token).get("kid")
        with self._lock:
            key = next((key for key in self._keys if key.kid == kid), None)
        if key is None:
            raise jwt.InvalidKeyError(f"unknown kid {kid!r}")
        return jwt.decode(
            token,
            key.private_key.public_key(),
            algorithms=[ALGORITHM],
            audience=self.audience,
            issuer=self.issuer,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )


def get_jwks(stack: Devstack, request: Request, caller: Caller | None) -> Response:
    return json_response(200, stack.signing.jwks(), {"Cache-Control": "max-age=60"})


def get_openid_configuration(stack: Devstack, request: Request, caller: Caller | None) -> Response:
    return json_response(
        200,
        {
            "issuer": stack.signing.issuer,
            "jwks_uri": stack.jwks_url,
            "authorization_endpoint": f"{stack.signing.issuer}/authorize",
            "token_endpoint": f"{stack.signing.issuer}/token",
            "id_token_signing_alg_values_supported": [ALGORITHM],
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "scopes_supported": ["openid"],
            "grant_types_supported": ["authorization_code"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "none",
            ],
        },
    )


def post_token(stack: Devstack, request: Request, caller: Caller | None) -> Response:
    """`{"tenant", "sub", "roles"?, "ttl"?, "scopes"?, "claims"?}` → a bearer token. A
    form-encoded body is OpenID Connect's token request (oidc.py)."""
    if request.header("content-type").startswith("application/x-www-form-urlencoded"):
        from devstack.oidc import exchange_code

        return exchange_code(stack, request)
    body = request.json()
    if not isinstance(body, dict):
        raise ApiError("invalid_request", "body must be a JSON object")
    tenant, sub = body.get("tenant"), body.get("sub")
    roles = body.get("roles", [])
    ttl = body.get("ttl", DEFAULT_TTL_SECONDS)
    scopes = body.get("scopes")
    claims = body.get("claims") or {}
    problems = []
    if not isinstance(tenant, str) or not tenant:
        problems.append("tenant must be a non-empty string")
    if not isinstance(sub, str) or not sub:
        problems.append("sub must be a non-empty string")
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        problems.append("roles must be a list of strings")
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not -3600 <= ttl <= MAX_TTL_SECONDS:
        problems.append(f"ttl must be an integer of seconds up to {MAX_TTL_SECONDS}")
    if scopes is not None and not isinstance(scopes, list):
        problems.append("scopes must be a list of strings")
    if not isinstance(claims, dict):
        problems.append("claims must be an object")
    if problems:
        raise ApiError("invalid_request", "; ".join(problems))
    token = stack.signing.mint(
        tenant=tenant, sub=sub, roles=roles, ttl=ttl, scopes=scopes, claims=claims
    )
    return json_response(200, {"access_token": token, "token_type": "Bearer", "expires_in": ttl})


ROUTES = [
    Route("GET", "/.well-known/jwks.json", get_jwks),
    Route("GET", "/scaikey/.well-known/openid-configuration", get_openid_configuration),
    Route("POST", "/scaikey/token", post_token),
]
