"""Who is calling: ScaiKey JWTs and the legacy shared token (SPEC §1).

Both authentication classes put a `Principal` on `request.user`; views read the tenant, the
roles and the auth mode from it, and the deploy forwards `principal.token` upstream.

Two per-process caches keep a repeated request off the signature check and the database
(docs/benchmarks.md "Events"):

- Verified tokens: the claims of a token whose signature checked out, keyed by the token's
  sha256, until the token's `exp` and never longer. An entry counts only while the key set it
  was checked against is still the current one: after a JWKS refetch, or once the keys are
  older than JWKS_MAX_AGE_SECONDS, the token is checked again, so a key ScaiKey withdrew
  stops working exactly when it would without the cache. A token is never revoked by other
  means (ScaiKey tokens are short-lived bearer tokens), so nothing else is lost.
- Tenants by slug, for TENANT_CACHE_SECONDS. A save or delete of a tenant in this process
  empties it at once; other processes see the change within TENANT_CACHE_SECONDS.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

import jwt
import requests
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.signals import setting_changed
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from scaiflow import metrics
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
# Per-process caches (see the module's docstring): bounded, so a flood of tokens costs memory
# for a few thousand entries at most.
VERIFIED_TOKENS_MAX = 4096
TENANTS_MAX = 1024
TENANT_CACHE_SECONDS = 10.0
# What a `sub` may be (whole string, `fullmatch`): OpenID Connect's at most 255 ASCII
# characters, printable and without whitespace. It is case-sensitive and kept as sent: `alice`
# and `Alice` are two subjects, as ScaiKey says; the deploy throttle folds case on its own.
SUBJECT_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")
# A role is a short name; anything else (`tenant_admin\n`, objects, numbers) is no role at all.
ROLE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")


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


class ExpiringLRU:
    """A thread-safe, bounded map whose entries expire at a wall-clock time of their own.

    When full, the least recently used entry goes. `clock` is `time.time` (tests move it).
    """

    def __init__(self, maxsize: int, clock: Callable[[], float] = time.time) -> None:
        self.maxsize = maxsize
        self.clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, object]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> object | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if self.clock() >= entry[0]:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: Hashable, value: object, *, until: float) -> None:
        with self._lock:
            self._entries[key] = (until, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


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
        self._generation = 0
        self._lock = threading.Lock()

    def generation(self) -> int | None:
        """Which fetch the current keys came from; None once they are due for a refresh."""
        if time.monotonic() - self._fetched_at > JWKS_MAX_AGE_SECONDS:
            return None
        return self._generation

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
        started, outcome = time.perf_counter(), "error"
        try:
            try:
                response = requests.get(
                    self.url,
                    timeout=(
                        settings.SCAIFLOW_UPSTREAM_CONNECT_TIMEOUT,
                        settings.SCAIFLOW_UPSTREAM_READ_TIMEOUT,
                    ),
                )
                outcome = str(response.status_code)
            except requests.Timeout:
                outcome = "timeout"
                raise
            except requests.ConnectionError:
                outcome = "connection_error"
                raise
            finally:
                # Not through deployments' seam (no credential, its own retry policy): the
                # same metrics, by hand.
                metrics.upstream_observe("scaikey", "jwks", outcome, time.perf_counter() - started)
            response.raise_for_status()
            keys = _parse_jwks(response.json())
        except (requests.RequestException, ValueError) as exc:
            self._next_attempt_at = now + JWKS_RETRY_AFTER_FAILURE_SECONDS
            logger.warning("JWKS fetch from %s failed (%s); keeping the last good keys",
                           self.url, type(exc).__name__)  # fmt: skip
            return
        self._keys = keys
        self._fetched_at = now
        self._generation += 1
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
        # sha256(token) -> (claims, key generation); lives as long as this verifier's keys.
        self.verified = ExpiringLRU(VERIFIED_TOKENS_MAX)

    def claims(self, token: str) -> dict:
        """The token's verified claims; a token verified before answers from `verified`."""
        digest = hashlib.sha256(token.encode()).digest()
        entry = self.verified.get(digest)
        if entry is not None and entry[1] == self._key_generation():
            return dict(entry[0])  # a copy: a caller's change must not reach the next request
        claims = self._verify(token)
        generation = self._key_generation()
        if generation is not None:
            self.verified.put(digest, (dict(claims), generation), until=float(claims["exp"]))
        return claims

    def _key_generation(self) -> int | None:
        return self.keyset.generation() if self.keyset is not None else 0

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
        tenant = tenant_by_slug(settings.SCAIFLOW_DEFAULT_TENANT)
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
    if not isinstance(subject, str) or not SUBJECT_PATTERN.fullmatch(subject):
        raise InvalidToken(
            "token 'sub' claim must be 1 to 255 printable ASCII characters without whitespace"
        )
    if not isinstance(slug, str):
        raise InvalidToken(f"token lacks the '{settings.SCAIKEY_TENANT_CLAIM}' claim")
    if not isinstance(roles, list):
        raise InvalidToken("token 'roles' claim must be a list")
    try:
        tenant = tenant_by_slug(slug)
    except ValidationError as exc:
        raise InvalidToken("token names an invalid tenant") from exc
    return Principal(
        tenant=tenant,
        subject=subject,
        auth_mode=AUTH_MODE_SCAIKEY,
        roles=frozenset(
            role for role in roles if isinstance(role, str) and ROLE_PATTERN.fullmatch(role)
        ),
        token=token,
    )


# --- Tenants by slug, cached per process -----------------------------------------------------

_tenants = ExpiringLRU(TENANTS_MAX)


def tenant_by_slug(slug: str) -> Tenant:
    """The tenant a token names, created on first sight; a fresh instance on every call.

    Only the row's values are kept, so no request sees another's related-object caches. A row
    is kept once its transaction commits: a tenant created in a transaction that then rolls
    back is never served from here.
    """
    row = _tenants.get(slug)
    if row is not None:
        return Tenant.from_db(*row)
    tenant = tenant_get_or_create(slug=slug)
    names = [field.attname for field in Tenant._meta.concrete_fields]
    row = (tenant._state.db, names, [getattr(tenant, name) for name in names])
    until = _tenants.clock() + TENANT_CACHE_SECONDS
    transaction.on_commit(lambda: _tenants.put(slug, row, until=until), using=tenant._state.db)
    return tenant


@receiver(post_save, sender=Tenant)
@receiver(post_delete, sender=Tenant)
def forget_cached_tenants(**kwargs) -> None:
    """A tenant renamed or deleted here is not served from the cache again (others: soon)."""
    _tenants.clear()
