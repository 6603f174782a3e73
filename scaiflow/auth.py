"""Who is calling: ScaiKey JWTs and the legacy shared token (SPEC §1).

Both authentication classes put a `Principal` on `request.user`; views read the tenant, the
roles and the auth mode from it, and the deploy forwards `principal.token` upstream.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import jwt
import requests
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.signals import setting_changed
from django.dispatch import receiver
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from tenants.models import Role, Tenant
from tenants.services import tenant_get_or_create

logger = logging.getLogger("scaiflow.auth")

AUTH_MODE_SCAIKEY = "scaikey"
AUTH_MODE_API_TOKEN = "api_token"  # noqa: S105 - a mode's name, not a secret

# Asymmetric algorithms only: an HMAC algorithm would let anyone holding the public key sign.
ALLOWED_ALGORITHMS = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
)  # fmt: skip
CLOCK_SKEW_SECONDS = 10
# After a failed JWKS fetch, try again sooner than after a good one.
JWKS_RETRY_AFTER_FAILURE_SECONDS = 5
# Keys are refreshed at least this often, so keys ScaiKey withdrew stop working.
JWKS_MAX_AGE_SECONDS = 3600
# A verified token is trusted again without a new check for at most this long (and never past
# its `exp`), and at most this many tokens are remembered per process.
VERIFIED_TOKEN_SECONDS = 300
VERIFIED_TOKENS_MAX = 4096


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a ScaiKey subject or the shared-token service principal."""

    tenant: Tenant
    subject: str
    auth_mode: str
    roles: frozenset[str] = frozenset()
    # The caller's raw JWT, forwarded to ScaiGrid on deploy; never shown.
    token: str | None = field(default=None, repr=False)

    is_authenticated = True
    is_anonymous = False

    @property
    def is_tenant_admin(self) -> bool:
        return Role.TENANT_ADMIN in self.roles

    @property
    def actor(self) -> str:
        """How records name this caller, e.g. `scaikey:alice`."""
        return f"{self.auth_mode}:{self.subject}"

    def __str__(self) -> str:
        return self.actor


class InvalidToken(Exception):
    """A token that must not authenticate; the message is safe to show the caller."""


class JWKSKeySet:
    """The keys of a JWKS endpoint, fetched lazily and kept.

    A token naming an unknown `kid` triggers a refetch at most once per `refetch_seconds`, so
    a flood of made-up kids costs one upstream call a minute. A failed fetch keeps the last good
    key set (PyJWT's own client would drop it).
    """

    def __init__(self, url: str, refetch_seconds: float) -> None:
        self.url = url
        self.refetch_seconds = refetch_seconds
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._next_attempt_at = float("-inf")
        self._lock = threading.Lock()

    def key_for(self, kid: str | None) -> jwt.PyJWK:
        now = time.monotonic()
        key = self._lookup(kid)
        if key is None or now - self._fetched_at > JWKS_MAX_AGE_SECONDS:
            with self._lock:
                if now >= self._next_attempt_at:
                    self._refresh(now)
            key = self._lookup(kid)
        if key is None:
            raise InvalidToken("token is signed with a key ScaiKey does not publish")
        return key

    def _lookup(self, kid: str | None) -> jwt.PyJWK | None:
        keys = self._keys
        if kid is None:
            # A token without `kid` is acceptable only when there is no choice to make.
            return next(iter(keys.values())) if len(keys) == 1 else None
        return keys.get(kid)

    def _refresh(self, now: float) -> None:
        try:
            response = requests.get(
                self.url,
                timeout=(
                    settings.SCAIFLOW_UPSTREAM_CONNECT_TIMEOUT,
                    settings.SCAIFLOW_UPSTREAM_READ_TIMEOUT,
                ),
            )
            response.raise_for_status()
            keys = _parse_jwks(response.json())
        except (requests.RequestException, ValueError) as exc:
            self._next_attempt_at = now + JWKS_RETRY_AFTER_FAILURE_SECONDS
            logger.warning("JWKS fetch from %s failed (%s); keeping the last good keys",
                           self.url, type(exc).__name__)  # fmt: skip
            return
        self._keys = keys
        self._fetched_at = now
        self._next_attempt_at = now + self.refetch_seconds


def _parse_jwks(document: object) -> dict[str, jwt.PyJWK]:
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document")
    keys: dict[str, jwt.PyJWK] = {}
    for index, entry in enumerate(document["keys"]):
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK(entry)
        except jwt.PyJWTError:
            continue  # a key type we cannot use; the others still count
        keys[str(entry.get("kid", f"#{index}"))] = key
    if not keys:
        raise ValueError("JWKS has no usable signing keys")
    return keys


class VerifiedTokens:
    """The claims of tokens this process has verified, by the token's sha256.

    A client sends the same token with every request for its whole life; checking its
    signature and claims each time is the largest part of authenticating. An entry is served
    until the token's `exp` or for VERIFIED_TOKEN_SECONDS, whichever comes first; only tokens
    that passed every check are kept, and the oldest entries go first past `max_size`.
    """

    def __init__(self, max_size: int = VERIFIED_TOKENS_MAX) -> None:
        self.max_size = max_size
        self._entries: OrderedDict[bytes, tuple[float, dict]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str, now: float) -> dict | None:
        key = hashlib.sha256(token.encode()).digest()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if now >= entry[0]:
                del self._entries[key]
                return None
            return entry[1]

    def put(self, token: str, claims: dict, now: float) -> None:
        expires = claims.get("exp")
        if not isinstance(expires, int | float):
            return
        until = min(float(expires), now + VERIFIED_TOKEN_SECONDS)
        if until <= now:
            return
        key = hashlib.sha256(token.encode()).digest()
        with self._lock:
            self._entries[key] = (until, claims)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_size:
                self._entries.popitem(last=False)


class ScaiKeyVerifier:
    """Verifies ScaiKey JWTs against the configured JWKS URL or PEM public key."""

    def __init__(self) -> None:
        self.keyset = (
            JWKSKeySet(settings.SCAIKEY_JWKS_URL, settings.SCAIKEY_JWKS_REFETCH_SECONDS)
            if settings.SCAIKEY_JWKS_URL
            else None
        )
        pem = settings.SCAIKEY_PUBLIC_KEY
        self.public_key = load_pem_public_key(pem.encode()) if pem and not self.keyset else None
        # Settings that change how tokens are checked make a new verifier, and so a new cache.
        self.verified = VerifiedTokens()

    def claims(self, token: str) -> dict:
        """The token's claims once it passed every check; raises InvalidToken otherwise."""
        now = time.time()
        claims = self.verified.get(token, now)
        if claims is None:
            claims = self._verify(token)
            self.verified.put(token, claims, now)
        return dict(claims)

    def _verify(self, token: str) -> dict:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("token is not a JWT") from exc
        algorithm = header.get("alg")
        if algorithm not in ALLOWED_ALGORITHMS:
            raise InvalidToken("token algorithm is not accepted")
        if self.keyset is not None:
            kid = header.get("kid")
            key = self.keyset.key_for(kid if isinstance(kid, str) else None).key
        elif self.public_key is not None:
            key = self.public_key
        else:
            raise InvalidToken("ScaiKey sign-in is not configured on this server")
        try:
            return jwt.decode(
                token,
                key=key,
                algorithms=[algorithm],
                audience=settings.SCAIKEY_AUDIENCE,
                issuer=settings.SCAIKEY_ISSUER,
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("token has expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise InvalidToken("token is not valid yet") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidToken(f"token lacks the '{exc.claim}' claim") from exc
        except jwt.InvalidAudienceError as exc:
            raise InvalidToken("token is not meant for ScaiFlow (aud)") from exc
        except jwt.InvalidIssuerError as exc:
            raise InvalidToken("token is not issued by ScaiKey (iss)") from exc
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise InvalidToken("token signature or claims are not valid") from exc


_verifier: ScaiKeyVerifier | None = None
_verifier_lock = threading.Lock()


def get_verifier() -> ScaiKeyVerifier:
    global _verifier
    if _verifier is None:
        with _verifier_lock:
            if _verifier is None:
                _verifier = ScaiKeyVerifier()
    return _verifier


@receiver(setting_changed)
def _reset_verifier(*, setting: str, **kwargs) -> None:
    global _verifier
    if setting.startswith("SCAIKEY_"):
        _verifier = None


def _bearer_token(request) -> str | None:
    parts = get_authorization_header(request).split()
    if len(parts) != 2 or parts[0].lower() != b"bearer":
        return None
    try:
        return parts[1].decode("ascii")
    except UnicodeDecodeError:
        return None


class SharedTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <SCAIFLOW_API_TOKEN>`: the default tenant's service principal."""

    def authenticate(self, request):
        expected = settings.SCAIFLOW_API_TOKEN
        token = _bearer_token(request)
        if not expected or token is None:
            return None
        if not hmac.compare_digest(token.encode(), expected.encode()):
            return None  # maybe a JWT: the next class decides
        tenant = tenant_get_or_create(slug=settings.SCAIFLOW_DEFAULT_TENANT)
        return Principal(tenant=tenant, subject="api-token", auth_mode=AUTH_MODE_API_TOKEN), None

    def authenticate_header(self, request):
        return 'Bearer realm="scaiflow"'


class ScaiKeyJWTAuthentication(BaseAuthentication):
    """`Authorization: Bearer <ScaiKey JWT>`. The tenant is created on first sight."""

    def authenticate(self, request):
        token = _bearer_token(request)
        if token is None:
            if get_authorization_header(request):
                raise AuthenticationFailed("Authorization header must be `Bearer <token>`")
            return None
        try:
            claims = get_verifier().claims(token)
            principal = _principal_from_claims(claims, token)
        except InvalidToken as exc:
            raise AuthenticationFailed(str(exc)) from None
        return principal, token

    def authenticate_header(self, request):
        return 'Bearer realm="scaiflow"'


def _principal_from_claims(claims: dict, token: str) -> Principal:
    subject = claims.get("sub")
    slug = claims.get(settings.SCAIKEY_TENANT_CLAIM)
    roles = claims.get("roles", [])
    if not isinstance(subject, str) or not subject:
        raise InvalidToken("token 'sub' claim must be a non-empty string")
    if not isinstance(slug, str):
        raise InvalidToken(f"token lacks the '{settings.SCAIKEY_TENANT_CLAIM}' claim")
    if not isinstance(roles, list):
        raise InvalidToken("token 'roles' claim must be a list")
    try:
        tenant = tenant_get_or_create(slug=slug)
    except ValidationError as exc:
        raise InvalidToken("token names an invalid tenant") from exc
    return Principal(
        tenant=tenant,
        subject=subject,
        auth_mode=AUTH_MODE_SCAIKEY,
        roles=frozenset(role for role in roles if isinstance(role, str)),
        token=token,
    )
