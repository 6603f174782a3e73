"""ScaiKey: the JWKS, the dev token endpoint, key rotation; verified with PyJWT."""

from __future__ import annotations

import jwt
import pytest
import requests


def _verify(devstack, token: str) -> dict:
    signing_key = jwt.PyJWKClient(devstack.jwks_url, cache_keys=False).get_signing_key_from_jwt(
        token
    )
    return jwt.decode(
        token,
        signing_key.key,
        algorithms=["RS256"],
        audience=devstack.audience,
        issuer=devstack.issuer,
    )


def test_token_endpoint_mints_a_jwt_the_jwks_verifies(devstack):
    response = requests.post(
        f"{devstack.url}/scaikey/token",
        json={"tenant": "acme", "sub": "ada", "roles": ["tenant_admin"], "ttl": 120},
        timeout=5,
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 120
    claims = _verify(devstack, body["access_token"])
    assert claims["sub"] == "ada"
    assert claims["tenant"] == "acme"
    assert claims["roles"] == ["tenant_admin"]
    assert claims["iss"] == f"{devstack.url}/scaikey"
    assert claims["aud"] == "scaiflow"
    assert claims["exp"] - claims["iat"] == 120


def test_the_fixture_mints_the_same_tokens(devstack):
    claims = _verify(devstack, devstack.mint_token("globex", "gus", ["viewer"]))

    assert (claims["tenant"], claims["sub"], claims["roles"]) == ("globex", "gus", ["viewer"])


def test_extra_claims_and_dropped_claims(devstack):
    token = devstack.mint_token(claims={"org": "acme", "tenant": None})

    claims = _verify(devstack, token)

    assert claims["org"] == "acme"
    assert "tenant" not in claims


def test_jwks_publishes_an_rs256_key_with_a_kid(devstack):
    keys = requests.get(devstack.jwks_url, timeout=5).json()["keys"]

    assert len(keys) == 1
    assert keys[0]["kty"] == "RSA"
    assert keys[0]["alg"] == "RS256"
    assert keys[0]["use"] == "sig"
    assert keys[0]["kid"] == devstack.state()["scaikey"]["kid"]
    assert jwt.get_unverified_header(devstack.mint_token())["kid"] == keys[0]["kid"]


def test_openid_configuration_names_issuer_and_jwks(devstack):
    document = requests.get(f"{devstack.issuer}/.well-known/openid-configuration", timeout=5).json()

    assert document["issuer"] == devstack.issuer
    assert document["jwks_uri"] == devstack.jwks_url


@pytest.mark.parametrize(
    "body",
    [
        {"sub": "alice"},
        {"tenant": "acme"},
        {"tenant": "acme", "sub": "alice", "roles": "admin"},
        {"tenant": "acme", "sub": "alice", "ttl": "long"},
        ["tenant", "acme"],
    ],
)
def test_token_endpoint_rejects_bad_requests(devstack, body):
    response = requests.post(f"{devstack.url}/scaikey/token", json=body, timeout=5)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_rotation_signs_with_a_new_kid_and_keeps_the_old_published(devstack):
    old_token = devstack.mint_token()
    old_kid = jwt.get_unverified_header(old_token)["kid"]

    rotated = requests.post(f"{devstack.url}/_devstack/scaikey/rotate", json={}, timeout=5)

    assert rotated.status_code == 200
    new_kid = rotated.json()["kid"]
    assert new_kid != old_kid
    assert rotated.json()["kids"] == [old_kid, new_kid]
    new_token = devstack.mint_token()
    assert jwt.get_unverified_header(new_token)["kid"] == new_kid
    assert _verify(devstack, new_token)["sub"] == "alice"
    assert _verify(devstack, old_token)["sub"] == "alice"


def test_a_verifier_with_a_stale_jwks_meets_an_unknown_kid(devstack):
    stale = jwt.PyJWKClient(devstack.jwks_url)
    old_kid = stale.get_signing_key_from_jwt(devstack.mint_token()).key_id

    new_kid = devstack.rotate_key(retire_old=True)

    assert [key.key_id for key in stale.get_jwk_set().keys] == [old_kid]
    fresh = jwt.PyJWKClient(devstack.jwks_url).get_jwk_set().keys
    assert [key.key_id for key in fresh] == [new_kid]
    assert _verify(devstack, devstack.mint_token())["sub"] == "alice"


def test_reset_undoes_rotations(devstack):
    first_kid = devstack.state()["scaikey"]["kid"]
    devstack.rotate_key()
    devstack.rotate_key(retire_old=True)

    devstack.reset()

    assert [key["kid"] for key in requests.get(devstack.jwks_url, timeout=5).json()["keys"]] == [
        first_kid
    ]


def test_jwks_fetches_are_in_the_call_log(devstack):
    requests.get(devstack.jwks_url, timeout=5)
    requests.get(devstack.jwks_url, timeout=5)

    assert devstack.count("GET /.well-known/jwks.json") == 2
