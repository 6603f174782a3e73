"""devstack's ScaiKey as an OpenID Connect provider: discovery, the authorize form, the code
grant with PKCE, client registration. Spoken to as a client would, with requests and PyJWT."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import requests

CALLBACK = "http://app.test/admin/oidc/callback/"


@pytest.fixture
def provider(devstack):
    devstack.stack.oidc.register("app", [CALLBACK])
    devstack.stack.oidc.register("private-app", [CALLBACK], secret="s3cret")
    return devstack


def challenge(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


def authorize(provider, *, client_id="app", verifier="v" * 50, **fields) -> str:
    """Through the form; returns the code."""
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": CALLBACK,
        "scope": "openid",
        "state": "st4te",
        "nonce": "n0nce",
        "code_challenge": challenge(verifier),
        "code_challenge_method": "S256",
    }
    url = f"{provider.issuer}/authorize"
    page = requests.get(f"{url}?{urlencode(params)}", timeout=5)
    assert page.status_code == 200 and 'name="tenant" value="demo"' in page.text
    form = {**params, "tenant": "acme", "sub": "ada", "roles": "tenant_admin", **fields}
    answer = requests.post(url, data=form, allow_redirects=False, timeout=5)
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    query = parse_qs(location.query)
    assert query["state"] == ["st4te"]
    return query["code"][0]


def exchange(provider, code, *, client_id="app", verifier="v" * 50, auth=None, **extra):
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "client_id": client_id,
        "code_verifier": verifier,
        **extra,
    }
    return requests.post(f"{provider.issuer}/token", data=form, auth=auth, timeout=5)


def test_discovery_names_the_code_flow_endpoints(provider):
    meta = requests.get(f"{provider.issuer}/.well-known/openid-configuration", timeout=5).json()
    assert meta["issuer"] == provider.issuer
    assert meta["authorization_endpoint"] == f"{provider.issuer}/authorize"
    assert meta["token_endpoint"] == f"{provider.issuer}/token"
    assert meta["jwks_uri"] == provider.jwks_url
    assert meta["code_challenge_methods_supported"] == ["S256"]


def test_the_code_flow_answers_an_id_token_the_jwks_verifies(provider):
    code = authorize(provider)
    answer = exchange(provider, code)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    key = jwt.PyJWKClient(provider.jwks_url, cache_keys=False).get_signing_key_from_jwt(
        body["id_token"]
    )
    claims = jwt.decode(
        body["id_token"], key.key, algorithms=["RS256"], audience="app", issuer=provider.issuer
    )
    assert (claims["sub"], claims["tenant"], claims["roles"]) == ("ada", "acme", ["tenant_admin"])
    assert claims["nonce"] == "n0nce"
    # The access token is a ScaiKey JWT for ScaiFlow's API, like the dev token endpoint's.
    api = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert (api["aud"], api["tenant"]) == (provider.audience, "acme")


def test_a_code_is_good_once(provider):
    code = authorize(provider)
    assert exchange(provider, code).status_code == 200
    again = exchange(provider, code)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "change",
    [{"verifier": "w" * 50}, {"verifier": ""}, {"redirect_uri": "http://app.test/other"}],
)
def test_the_code_needs_the_verifier_and_the_same_redirect_uri(provider, change):
    code = authorize(provider)
    answer = exchange(provider, code, **change)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_a_confidential_client_must_send_its_secret(provider):
    code = authorize(provider, client_id="private-app")
    refused = exchange(provider, code, client_id="private-app")
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    code = authorize(provider, client_id="private-app")
    assert exchange(provider, code, client_id="private-app", auth=("private-app", "s3cret")).ok


def test_extra_claims_and_an_unpublished_key_for_testing_clients(provider):
    code = authorize(provider, claims='{"tenant": null, "aud": "other"}', sign_with="unknown")
    token = exchange(provider, code).json()["id_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert "tenant" not in claims and claims["aud"] == "other"
    kids = {key["kid"] for key in requests.get(provider.jwks_url, timeout=5).json()["keys"]}
    assert jwt.get_unverified_header(token)["kid"] not in kids


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"client_id": "nobody"}, "unknown client_id"),
        ({"redirect_uri": "http://evil.test/cb"}, "not registered"),
        ({"code_challenge_method": "plain"}, "PKCE is required"),
        ({"scope": "email"}, "openid"),
    ],
)
def test_the_authorize_page_refuses_bad_requests_without_redirecting(provider, params, reason):
    query = {
        "response_type": "code",
        "client_id": "app",
        "redirect_uri": CALLBACK,
        "scope": "openid",
        "state": "s",
        "nonce": "n",
        "code_challenge": challenge(secrets.token_urlsafe(40)),
        "code_challenge_method": "S256",
        **params,
    }
    page = requests.get(
        f"{provider.issuer}/authorize?{urlencode(query)}", allow_redirects=False, timeout=5
    )
    assert page.status_code == 400 and reason in page.text


def test_clients_are_registered_through_the_control_api(devstack):
    answer = requests.post(
        f"{devstack.url}/_devstack/scaikey/clients",
        json={"client_id": "mine", "redirect_uris": [CALLBACK]},
        timeout=5,
    )
    assert answer.status_code == 201
    assert devstack.stack.oidc.clients["mine"].redirect_uris == (CALLBACK,)
    bad = requests.post(f"{devstack.url}/_devstack/scaikey/clients", json={"x": 1}, timeout=5)
    assert bad.status_code == 400
