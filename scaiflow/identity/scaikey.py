"""ScaiKey JWTs: their signature checked against ScaiKey's keys (a JWKS URL or a PEM key).

`get_verifier().claims(token)` answers a token's verified claims; what they say (who, which
tenant, which roles) is read by scaiflow.identity.claims. The DRF authentication classes that
turn them into a `Principal` of a tenant are the tenants app's (tenants/authentication.py).

Verified tokens are kept per process (docs/benchmarks.md "Events"): the claims of a token whose
signature checked out, keyed by the token's sha256, until the token's `exp` and never longer. An
entry counts only while the key set it was checked against is still the current one: after a
JWKS refetch, or once the keys are older than JWKS_MAX_AGE_SECONDS, the token is checked again,
so a key ScaiKey withdrew stops working exactly when it would without the cache. A token is
never revoked by other means (ScaiKey tokens are short-lived bearer tokens), so nothing else is
lost.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time

import jwt
import requests
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from rest_framework.authentication import get_authorization_header

from scaiflow.core.lru import ExpiringLRU
from scaiflow.observability import metrics

logger = logging.getLogger("scaiflow.auth")

# Asymmetric algorithms only: an HMAC algorithm would let anyone holding the public key sign.
ALLOWED_ALGORITHMS = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
)  # fmt: skip
CLOCK_SKEW_SECONDS = 10
# After a failed JWKS fetch, try again sooner than after a good one.
JWKS_RETRY_AFTER_FAILURE_SECONDS = 5
# Keys are refreshed at least this often, so keys ScaiKey withdrew stop working.
JWKS_MAX_AGE_SECONDS = 3600
# Bounded, so a flood of tokens costs memory for a few thousand entries at most.
VERIFIED_TOKENS_MAX = 4096


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


def bearer_token(request) -> str | None:
    parts = get_authorization_header(request).split()
    if len(parts) != 2 or parts[0].lower() != b"bearer":
        return None
    try:
        return parts[1].decode("ascii")
    except UnicodeDecodeError:
        return None
