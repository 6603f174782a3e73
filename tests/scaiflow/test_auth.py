"""ScaiKey JWT and shared-token authentication (SPEC §1)."""

import base64
import json
import time

import jwt
import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from scaiflow.identity import scaikey as auth
from tenants import authentication as authn
from tenants.models import Tenant
from tests.conftest import API_TOKEN

ME = "/api/v1/tenants/me"
JWKS_URL = "https://scaikey.test/.well-known/jwks.json"


def get_me(client, token):
    return client.get(ME, HTTP_AUTHORIZATION=f"Bearer {token}")


def assert_unauthenticated(response):
    assert response.status_code == 401, response.content
    assert response.json()["detail"]["error"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.fixture
def client(db, anonymous_client):
    return anonymous_client


class TestTokens:
    def test_valid_token_authenticates(self, client, make_token):
        response = get_me(client, make_token(tenant="acme", sub="alice", roles=("tenant_admin",)))
        assert response.status_code == 200
        assert response.json() == {
            "slug": "acme",
            "name": "acme",
            "auth_mode": "scaikey",
            "roles": ["tenant_admin"],
            "scaigrid_credentials": None,
        }

    def test_expired(self, client, make_token):
        assert_unauthenticated(get_me(client, make_token(exp=int(time.time()) - 120)))

    def test_not_before_in_the_future(self, client, make_token):
        assert_unauthenticated(get_me(client, make_token(nbf=int(time.time()) + 600)))

    @pytest.mark.parametrize("claim", ["exp", "aud", "iss", "sub"])
    def test_missing_required_claim(self, client, make_token, claim):
        assert_unauthenticated(get_me(client, make_token(**{claim: None})))

    def test_wrong_audience(self, client, make_token):
        assert_unauthenticated(get_me(client, make_token(aud="someone-else")))

    def test_issuer_that_only_starts_with_the_right_one(self, client, make_token):
        assert_unauthenticated(get_me(client, make_token(iss="https://scaikey.test.evil.example")))

    def test_issuer_that_contains_the_right_one(self, client, make_token):
        assert_unauthenticated(get_me(client, make_token(iss="https://scaikey.tes")))

    def test_alg_none(self, client, make_token):
        token = jwt.encode(
            {"iss": "https://scaikey.test", "aud": "scaiflow-test", "sub": "x", "tenant": "acme",
             "exp": int(time.time()) + 60},
            key=None,
            algorithm="none",
        )  # fmt: skip
        assert_unauthenticated(get_me(client, token))

    def test_hs256_signed_with_the_public_key_is_refused(self, client, scaikey_public_pem):
        # Algorithm confusion: the public key is public; it must never work as an HMAC secret.
        header = {"alg": "HS256", "typ": "JWT"}
        payload = {"iss": "https://scaikey.test", "aud": "scaiflow-test", "sub": "mallory",
                   "tenant": "acme", "exp": int(time.time()) + 60}  # fmt: skip
        segments = [
            base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=")
            for part in (header, payload)
        ]
        import hashlib
        import hmac

        signing_input = b".".join(segments)
        signature = hmac.new(scaikey_public_pem.encode(), signing_input, hashlib.sha256).digest()
        token = b".".join([*segments, base64.urlsafe_b64encode(signature).rstrip(b"=")]).decode()
        assert_unauthenticated(get_me(client, token))

    def test_token_from_an_unknown_key(self, client, make_token):
        stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        assert_unauthenticated(get_me(client, make_token(key=stranger)))

    @pytest.mark.parametrize("garbage", ["garbage", "a.b.c", "éé", "x" * 5000, "..."])
    def test_garbage(self, client, garbage):
        assert_unauthenticated(get_me(client, garbage))

    def test_not_a_bearer_header(self, client):
        response = client.get(ME, HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz")
        assert_unauthenticated(response)

    def test_no_credentials(self, client):
        assert_unauthenticated(client.get(ME))

    def test_tenant_claim_missing_or_invalid(self, client, make_token):
        assert_unauthenticated(get_me(client, make_token(tenant=None)))
        assert_unauthenticated(get_me(client, make_token(tenant="Not A Slug!")))
        assert not Tenant.objects.exists()

    def test_tenant_claim_name_is_configurable(self, client, make_token, settings):
        settings.SCAIKEY_TENANT_CLAIM = "org"
        response = get_me(client, make_token(tenant=None, org="initech"))
        assert response.status_code == 200
        assert response.json()["slug"] == "initech"

    def test_roles_must_be_a_list(self, client, make_token):
        assert_unauthenticated(get_me(client, make_token(roles="tenant_admin")))

    def test_es256_token(self, client, make_token, settings):
        key = ec.generate_private_key(ec.SECP256R1())
        settings.SCAIKEY_PUBLIC_KEY = (
            key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        assert get_me(client, make_token(key=key, algorithm="ES256")).status_code == 200


class TestTenantProvisioning:
    def test_tenant_created_on_first_sight_once(self, client, make_token):
        assert not Tenant.objects.filter(slug="newco").exists()
        for _ in range(2):
            assert get_me(client, make_token(tenant="newco")).status_code == 200
        assert Tenant.objects.filter(slug="newco").count() == 1

    def test_raw_token_kept_for_forwarding(self, rf, make_token, db):
        token = make_token(tenant="acme", sub="alice", roles=("tenant_admin", 7))
        request = rf.get(ME, HTTP_AUTHORIZATION=f"Bearer {token}")
        principal, raw = authn.ScaiKeyJWTAuthentication().authenticate(request)
        assert raw == token
        assert principal.token == token
        assert principal.auth_mode == "scaikey"
        assert principal.roles == frozenset({"tenant_admin"})
        assert principal.actor == "scaikey:alice"
        assert token not in repr(principal)


class TestSharedToken:
    def test_right_token_is_the_default_tenant_service_principal(self, client):
        response = get_me(client, API_TOKEN)
        assert response.status_code == 200
        assert response.json() == {
            "slug": "default",
            "name": "default",
            "auth_mode": "api_token",
            "roles": [],
            "scaigrid_credentials": None,
        }

    def test_default_tenant_is_configurable(self, client, settings):
        settings.SCAIFLOW_DEFAULT_TENANT = "legacy"
        assert get_me(client, API_TOKEN).json()["slug"] == "legacy"

    def test_wrong_token(self, client):
        assert_unauthenticated(get_me(client, API_TOKEN + "x"))
        assert_unauthenticated(get_me(client, API_TOKEN[:-1]))

    def test_unset_turns_the_mode_off(self, client, settings):
        settings.SCAIFLOW_API_TOKEN = ""
        assert_unauthenticated(get_me(client, API_TOKEN))
        assert_unauthenticated(get_me(client, ""))

    def test_compared_in_constant_time(self, client, monkeypatch):
        seen = []
        real = authn.hmac.compare_digest

        def spy(a, b):
            seen.append((a, b))
            return real(a, b)

        monkeypatch.setattr(authn.hmac, "compare_digest", spy)
        get_me(client, "not-the-token")
        assert seen


def jwks_document(*keys):
    documents = []
    for kid, private_key in keys:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key()))
        documents.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
    return {"keys": documents}


@pytest.fixture
def jwks(settings):
    """ScaiKey verified through a JWKS URL served by `responses`; yields a key registry."""
    settings.SCAIKEY_JWKS_URL = JWKS_URL
    keys = {"k1": rsa.generate_private_key(public_exponent=65537, key_size=2048)}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(
            responses.GET,
            JWKS_URL,
            callback=lambda request: (200, {}, json.dumps(jwks_document(*keys.items()))),
        )
        yield keys, mock


def fetches(mock):
    return sum(1 for call in mock.calls if call.request.url == JWKS_URL)


class TestJWKS:
    def test_token_verified_by_jwks(self, client, make_token, jwks):
        keys, mock = jwks
        token = make_token(key=keys["k1"], headers={"kid": "k1"})
        assert get_me(client, token).status_code == 200
        assert get_me(client, token).status_code == 200
        assert fetches(mock) == 1  # cached

    def test_new_kid_accepted_after_one_refetch(self, client, make_token, jwks, monkeypatch):
        keys, mock = jwks
        assert get_me(client, make_token(key=keys["k1"], headers={"kid": "k1"})).status_code == 200
        keys["k2"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        # ScaiKey rotated its key after our last fetch, more than a cooldown ago.
        clock = time.monotonic() + 61
        monkeypatch.setattr(auth.time, "monotonic", lambda: clock)
        assert get_me(client, make_token(key=keys["k2"], headers={"kid": "k2"})).status_code == 200
        assert fetches(mock) == 2

    def test_random_unknown_kids_cost_one_fetch_per_cooldown(self, client, make_token, jwks):
        keys, mock = jwks
        import uuid

        for _ in range(1000):
            token = make_token(key=keys["k1"], headers={"kid": uuid.uuid4().hex})
            assert_unauthenticated(get_me(client, token))
        assert fetches(mock) == 1

    def test_failing_jwks_keeps_the_last_good_keys(self, client, make_token, jwks, monkeypatch):
        keys, mock = jwks
        token = make_token(key=keys["k1"], headers={"kid": "k1"})
        assert get_me(client, token).status_code == 200
        mock.replace(responses.GET, JWKS_URL, status=503)
        clock = time.monotonic() + 3 * 3600  # old enough that the keys are refreshed
        monkeypatch.setattr(auth.time, "monotonic", lambda: clock)
        unknown = make_token(key=keys["k1"], headers={"kid": "unknown"})
        assert_unauthenticated(get_me(client, unknown))
        assert get_me(client, token).status_code == 200
        assert fetches(mock) == 2

    def test_jwks_without_usable_keys_is_refused(self, client, make_token, jwks):
        keys, mock = jwks
        mock.replace(responses.GET, JWKS_URL, json={"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})
        assert_unauthenticated(get_me(client, make_token(key=keys["k1"], headers={"kid": "k1"})))


class TestVerifiedTokenReuse:
    """What a remembered token must still guarantee (the cache itself: test_auth_cache.py)."""

    @pytest.fixture
    def checks(self, monkeypatch):
        """Counts the full checks (signature and claims) the verifier runs."""
        count = [0]
        real = auth.ScaiKeyVerifier._verify

        def counted(self, token):
            count[0] += 1
            return real(self, token)

        monkeypatch.setattr(auth.ScaiKeyVerifier, "_verify", counted)
        return count

    def test_a_tampered_copy_of_a_verified_token_is_refused(self, client, make_token, checks):
        token = make_token()
        assert get_me(client, token).status_code == 200
        header, payload, signature = token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims["tenant"] = "globex"
        forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        assert_unauthenticated(get_me(client, f"{header}.{forged}.{signature}"))

    def test_changed_settings_check_tokens_again(self, client, make_token, checks, settings):
        token = make_token()
        assert get_me(client, token).status_code == 200
        settings.SCAIKEY_AUDIENCE = "another-service"
        assert_unauthenticated(get_me(client, token))
        assert checks[0] == 2

    def test_callers_cannot_change_the_kept_claims(self, make_token, db):
        verifier = auth.ScaiKeyVerifier()
        token = make_token()
        verifier.claims(token)["sub"] = "mallory"
        assert verifier.claims(token)["sub"] == "alice"
