"""The admin's "Sign in with ScaiKey" views: off to ScaiKey, and back with an ID token.

The OpenID Connect client is scaiflow.identity.oidc; who the user is and which tenant they
belong to then comes from the token (tenants.services.admin_user_from_scaikey). Whatever goes
wrong is a message on the login page, never an error page: a sign-in link that is stale or
replayed, a refused or forged token, ScaiKey not answering.
"""

from __future__ import annotations

import logging

import requests
from authlib.common.errors import AuthlibBaseError
from django.contrib import messages
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.cache import never_cache
from joserfc.errors import JoseError

from scaiflow.identity.oidc import scaikey_client, sign_in_enabled
from tenants.services import SignInRefused, admin_user_from_scaikey

logger = logging.getLogger("scaiflow.oidc")

# The login backend of the session: ScaiKey vouched for the user, no password was checked.
BACKEND = "django.contrib.auth.backends.ModelBackend"


def _refused(request: HttpRequest, reason: str) -> HttpResponse:
    messages.error(request, f"Signing in with ScaiKey failed: {reason}")
    return redirect("admin:login")


@never_cache
def sign_in(request: HttpRequest) -> HttpResponse:
    """Off to ScaiKey, with a fresh state, nonce and PKCE challenge in the session."""
    if not sign_in_enabled():
        return _refused(request, "it is not configured (SCAIKEY_OIDC_CLIENT_ID).")
    callback = request.build_absolute_uri(reverse("scaikey_callback"))
    try:
        return scaikey_client().authorize_redirect(request, callback)
    except (requests.RequestException, ValueError, KeyError, RuntimeError) as exc:
        logger.warning("ScaiKey discovery failed: %s", exc)
        return _refused(request, "ScaiKey could not be reached. Try again later.")


@never_cache
def callback(request: HttpRequest) -> HttpResponse:
    """ScaiKey's answer: verify it, make the user from the ID token, sign them in."""
    if not sign_in_enabled():
        return _refused(request, "it is not configured (SCAIKEY_OIDC_CLIENT_ID).")
    client = scaikey_client()
    try:
        # Authlib checks only what it is told to: the issuer discovery names, our client id.
        issuer = client.load_server_metadata()["issuer"]
        claims_options = {
            "iss": {"essential": True, "value": issuer},
            "aud": {"essential": True, "value": client.client_id},
        }
        token = client.authorize_access_token(request, claims_options=claims_options)
        claims = token.get("userinfo")
        if not claims:
            raise SignInRefused("ScaiKey sent no ID token.")
        user = admin_user_from_scaikey(issuer=claims["iss"], claims=dict(claims))
    except SignInRefused as exc:
        return _refused(request, str(exc))
    except (AuthlibBaseError, JoseError) as exc:
        # State or nonce mismatch, refused code, a token that does not verify.
        logger.warning("ScaiKey sign-in refused: %s", exc)
        return _refused(request, f"{_reason(exc)} Start again from the login page.")
    except (requests.RequestException, ValueError, KeyError, RuntimeError) as exc:
        logger.warning("ScaiKey sign-in failed: %s", exc)
        return _refused(request, "ScaiKey could not be reached. Try again later.")
    login(request, user, backend=BACKEND)
    return redirect("admin:index")


def _reason(exc: Exception) -> str:
    """What went wrong, in words, without echoing the token."""
    name = type(exc).__name__
    reasons = {
        "MismatchingStateError": "the sign-in link is stale or was already used.",
        "ExpiredTokenError": "ScaiKey's ID token has expired.",
        "InvalidKeyIdError": "ScaiKey's ID token is signed with a key ScaiKey does not publish.",
        "BadSignatureError": "ScaiKey's ID token has a bad signature.",
    }
    if name in reasons:
        return reasons[name]
    claim = getattr(exc, "claim", None)
    if claim:
        return f"ScaiKey's ID token has a wrong or missing {claim!r}."
    description = getattr(exc, "description", None) or getattr(exc, "error", None)
    return f"ScaiKey refused: {description}." if description else "it was refused."
