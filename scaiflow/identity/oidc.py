""" "Sign in with ScaiKey" for the admin: the OpenID Connect client (authorization code flow with
PKCE, state and nonce, done by Authlib). The sign-in views are tenants/signin.py.

Authlib reads ScaiKey's endpoints and keys from discovery, keeps state, nonce and the PKCE
verifier in the session, and verifies the ID token: its signature by `kid` from the JWKS
(refetched once for an unknown `kid`), `iss`, `aud` (our client id), `exp` and `nonce`. Who
the user is and which tenant they belong to then comes from the token
(tenants.services.admin_user_from_scaikey). What ScaiKey or the user can get wrong is a
message on the login page, never an error page: a sign-in link that is stale or replayed, a
refused or forged token, ScaiKey not answering (tenants/signin.py says which).
"""

from __future__ import annotations

from functools import lru_cache

from authlib.integrations.django_client import OAuth
from django.conf import settings


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
