""" "Sign in with ScaiKey" for the admin: OpenID Connect's authorization code flow with PKCE,
state and nonce, done by Authlib.

Authlib reads ScaiKey's endpoints and keys from discovery, keeps state, nonce and the PKCE
verifier in the session, and verifies the ID token: its signature by `kid` from the JWKS
(refetched once for an unknown `kid`), `iss`, `aud` (our client id), `exp` and `nonce`. Who
the user is and which tenant they belong to then comes from the token
(tenants.services.admin_user_from_scaikey). Whatever goes wrong is a message on the login
page, never an error page: a sign-in link that is stale or replayed, a refused or forged
token, ScaiKey not answering.
"""

from __future__ import annotations

import logging
from functools import lru_cache

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.django_client import OAuth
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.cache import never_cache
from joserfc.errors import JoseError

from tenants.services import SignInRefused, admin_user_from_scaikey

logger = logging.getLogger("scaiflow.oidc")

# The login backend of the session: ScaiKey vouched for the user, no password was checked.
BACKEND = "django.contrib.auth.backends.ModelBackend"


def sign_in_enabled() -> bool:
    return bool(settings.SCAIKEY_OIDC_CLIENT_ID)


def discovery_url() -> str:
    return settings.SCAIKEY_OIDC_DISCOVERY_URL or (
        f"{settings.SCAIKEY_ISSUER.rstrip('/')}/.well-known/openid-configuration"
    )


@lru_cache(maxsize=4)
def _client(client_id: str, client_secret: str, metadata_url: str):
    """One client per configuration: it keeps the discovery document and the JWKS."""
    kwargs = {"scope": "openid", "code_challenge_method": "S256"}
    timeout = (settings.SCAIFLOW_UPSTREAM_CONNECT_TIMEOUT, settings.SCAIFLOW_UPSTREAM_READ_TIMEOUT)
    if not client_secret:
        kwargs["token_endpoint_auth_method"] = "none"  # noqa: S105 - a public client: PKCE alone
    return OAuth().register(
        name="scaikey",
        client_id=client_id,
        client_secret=client_secret or None,
        server_metadata_url=metadata_url,
        client_kwargs={**kwargs, "timeout": timeout},
    )


def scaikey_client():
    return _client(
        settings.SCAIKEY_OIDC_CLIENT_ID, settings.SCAIKEY_OIDC_CLIENT_SECRET, discovery_url()
    )


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
