"""The admin's "Sign in with ScaiKey" views: off to ScaiKey, and back with an ID token.

The OpenID Connect client is scaiflow.identity.oidc; who the user is and which tenant they
belong to then comes from the token (tenants.services.admin_user_from_scaikey). What ScaiKey or
the user can get wrong is a message on the login page, never an error page: a sign-in link that
is stale or replayed, a refused or forged token, ScaiKey not answering, a token whose claims
make no admin user. A bug of ours is not dressed up as one of those: it is a 500 and a logged
traceback.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime, timedelta

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    InvalidKeyIdError,
    JoseError,
)
from rest_framework.throttling import SimpleRateThrottle

from scaiflow.identity.oidc import scaikey_client, sign_in_enabled
from tenants.services import SignInRefused, admin_user_from_scaikey

logger = logging.getLogger("scaiflow.oidc")

# The login backend of the session: ScaiKey vouched for the user, no password was checked.
BACKEND = "django.contrib.auth.backends.ModelBackend"

_AGAIN = " Start again from the login page."
# Where Authlib keeps a pending sign-in (its state, nonce and PKCE verifier) in the session.
STATE_SESSION_PREFIX = "_state_scaikey_"
# Sign-ins one session may have pending (several tabs, a retry); the newest win.
MAX_PENDING_SIGN_INS = 3
_OPERATOR = "ScaiKey refused ScaiFlow's sign-in request; tell an operator."
# The `error` codes of OAuth 2.0 (RFC 6749, 4.1.2.1) and OpenID Connect (Core 1.0, 3.1.2.6), in
# words; any other code reads "ScaiKey refused the sign-in."
PROVIDER_ERRORS = {
    "access_denied": "the sign-in was declined at ScaiKey.",
    "login_required": "ScaiKey needs you to sign in there first." + _AGAIN,
    "interaction_required": "ScaiKey needs you to complete a step on its page." + _AGAIN,
    "consent_required": "ScaiKey needs your consent first." + _AGAIN,
    "account_selection_required": "ScaiKey needs you to choose an account." + _AGAIN,
    "temporarily_unavailable": "ScaiKey is temporarily unavailable. Try again later.",
    "server_error": "ScaiKey had an error. Try again later.",
    "invalid_request": _OPERATOR,
    "unauthorized_client": _OPERATOR,
    "unsupported_response_type": _OPERATOR,
    "invalid_scope": _OPERATOR,
    "invalid_request_uri": _OPERATOR,
    "invalid_request_object": _OPERATOR,
    "request_not_supported": _OPERATOR,
    "request_uri_not_supported": _OPERATOR,
    "registration_not_supported": _OPERATOR,
}
# What the exchange and the verification raise: ScaiKey unreachable or answering an HTTP error
# (requests), a refused code or a stale state (Authlib), a token that does not verify (joserfc).
VERIFICATION_ERRORS = (SignInRefused, requests.RequestException, AuthlibBaseError, JoseError)
# The first class the exception is an instance of gives the reason (subclasses first).
_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (requests.RequestException, "ScaiKey could not be reached. Try again later."),
    (MismatchingStateError, "the sign-in link is stale or was already used." + _AGAIN),
    (ExpiredTokenError, "ScaiKey's ID token has expired." + _AGAIN),
    (InvalidKeyIdError, "ScaiKey's ID token is signed with a key ScaiKey does not publish."),
    (BadSignatureError, "ScaiKey's ID token has a bad signature." + _AGAIN),
    # The token endpoint's refusal (e.g. invalid_grant); its description is only logged.
    (OAuthError, "ScaiKey refused the sign-in." + _AGAIN),
    (JoseError, "ScaiKey's ID token could not be verified." + _AGAIN),
)


def _refused(request: HttpRequest, reason: str) -> HttpResponse:
    messages.error(request, f"Signing in with ScaiKey failed: {reason}")
    return redirect("admin:login")


@never_cache
def sign_in(request: HttpRequest) -> HttpResponse:
    """Off to ScaiKey, with a fresh state, nonce and PKCE challenge in the session.

    Each start writes a session, so starts are limited per client address
    (SCAIFLOW_SIGN_IN_RATE), and a session keeps only its newest few pending sign-ins.
    """
    if not sign_in_enabled():
        return _refused(request, "it is not configured (SCAIKEY_OIDC_CLIENT_ID).")
    throttle = SignInStartThrottle()
    if not throttle.allow_request(request, None):
        return _throttled(request, throttle.wait())
    callback = request.build_absolute_uri(reverse("scaikey_callback"))
    try:
        response = scaikey_client().authorize_redirect(request, callback)
    except (requests.RequestException, ValueError, KeyError, RuntimeError) as exc:
        logger.warning("ScaiKey discovery failed: %s", exc)
        return _refused(request, "ScaiKey could not be reached. Try again later.")
    _pending_sign_ins_prune(request.session)
    return response


class SignInStartThrottle(SimpleRateThrottle):
    """Sign-in starts per client address, counted in the shared cache (so across processes).

    The address is REMOTE_ADDR: ScaiFlow trusts no X-Forwarded-For, which anyone can send.
    """

    def __init__(self) -> None:
        # The rate is read on each request, not once at import (SimpleRateThrottle's default).
        self.rate = settings.SCAIFLOW_SIGN_IN_RATE
        self.num_requests, self.duration = self.parse_rate(self.rate)

    def get_cache_key(self, request, view) -> str:
        return f"throttle:scaikey-sign-in:{request.META.get('REMOTE_ADDR', '')}"


def _throttled(request: HttpRequest, wait: float | None) -> HttpResponse:
    retry_after = max(1, math.ceil(wait or 1))
    response = render(
        request, "admin/sign_in_throttled.html", {"retry_after": retry_after}, status=429
    )
    response["Retry-After"] = str(retry_after)
    return response


def _pending_sign_ins_prune(session) -> None:
    """Keep the newest MAX_PENDING_SIGN_INS pending sign-ins: one cookie cannot pile them up."""
    pending = sorted(
        # A session has keys() but no iteration of its own.
        (key for key in session.keys() if key.startswith(STATE_SESSION_PREFIX)),  # noqa: SIM118
        key=lambda key: session[key].get("exp", 0),
        reverse=True,
    )
    for key in pending[MAX_PENDING_SIGN_INS:]:
        del session[key]


@never_cache
def callback(request: HttpRequest) -> HttpResponse:
    """ScaiKey's answer: verify it, make the user from the ID token, sign them in.

    Only the verification talks to ScaiKey, and only its failures become a message; the user
    is made outside it, so a bug there is a logged traceback and a 500, not a wrong reason.
    """
    if not sign_in_enabled():
        return _refused(request, "it is not configured (SCAIKEY_OIDC_CLIENT_ID).")
    if "error" in request.GET:
        return _provider_error(request)
    try:
        claims = _verified_claims(request)
    except VERIFICATION_ERRORS as exc:
        logger.warning("ScaiKey sign-in refused: %r", exc)
        return _refused(request, _reason(exc))
    try:
        user = admin_user_from_scaikey(issuer=claims["iss"], claims=claims)
    except SignInRefused as exc:
        return _refused(request, str(exc))
    login(request, user, backend=BACKEND)
    # Memberships are read at sign-in only: the session ends soon enough for a change in ScaiKey
    # to reach the admin at the next sign-in.
    request.session.set_expiry(_session_end(claims))
    return redirect("admin:index")


def _session_end(claims: dict) -> datetime:
    """When a ScaiKey admin session ends: the ID token's expiry or SCAIFLOW_ADMIN_SESSION_HOURS
    from now, whichever comes first; a fixed time, not extended by activity."""
    token_end = datetime.fromtimestamp(claims["exp"], tz=UTC)
    return min(token_end, timezone.now() + timedelta(hours=settings.SCAIFLOW_ADMIN_SESSION_HOURS))


def _provider_error(request: HttpRequest) -> HttpResponse:
    """ScaiKey sent the user back with an `error` instead of a code.

    Its `error_description` is anybody's text (the link needs no secret to forge), so the user
    reads a fixed message per `error` code and the operator the description, in the log. An
    answer to no sign-in pending in this session is dropped without a word.
    """
    state = request.GET.get("state", "")
    if not state or request.session.pop(f"{STATE_SESSION_PREFIX}{state}", None) is None:
        logger.info("ScaiKey sign-in error for no sign-in pending in this session: ignored")
        return redirect("admin:login")
    error = request.GET.get("error", "")
    logger.warning(
        "ScaiKey refused the sign-in: error=%r description=%r",
        error[:100],
        request.GET.get("error_description", "")[:500],
    )
    return _refused(request, PROVIDER_ERRORS.get(error, "ScaiKey refused the sign-in."))


def _verified_claims(request: HttpRequest) -> dict:
    """The claims of ScaiKey's ID token, once the code is exchanged and the token verified."""
    client = scaikey_client()
    # Authlib checks only what it is told to: the issuer discovery names, our client id.
    issuer = client.load_server_metadata().get("issuer")
    if not isinstance(issuer, str) or not issuer:
        raise SignInRefused("ScaiKey's discovery document names no issuer; tell an operator.")
    claims_options = {
        "iss": {"essential": True, "value": issuer},
        "aud": {"essential": True, "value": client.client_id},
    }
    token = client.authorize_access_token(request, claims_options=claims_options)
    claims = token.get("userinfo")
    if not claims:
        raise SignInRefused("ScaiKey sent no ID token.")
    return dict(claims)


def _reason(exc: Exception) -> str:
    """What went wrong, in words, without echoing the token or ScaiKey's own text."""
    if isinstance(exc, SignInRefused):
        return str(exc)
    if isinstance(exc, ClaimError) and not isinstance(exc, ExpiredTokenError):
        return f"ScaiKey's ID token has a wrong or missing {exc.claim!r}." + _AGAIN
    for cls, reason in _REASONS:
        if isinstance(exc, cls):
            return reason
    return "it was refused." + _AGAIN
