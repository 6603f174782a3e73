"""The per-process caches of authentication: verified tokens and tenants by slug."""

import json
import time

import jwt
import pytest
import responses
from cryptography.hazmat.primitives.asymmetric import rsa

from scaiflow.core.lru import ExpiringLRU
from scaiflow.identity import scaikey as auth
from tenants import authentication as authn
from tenants.models import Tenant
from tests.scaiflow.test_auth import (
    JWKS_URL,
    assert_unauthenticated,
    fetches,
    get_me,
    jwks_document,
)


@pytest.fixture
def client(db, anonymous_client):
    return anonymous_client


@pytest.fixture
def decodes(monkeypatch):
    """Counts full verifications (signature and claims checks) of tokens."""
    calls = []
    real = jwt.decode

    def spy(token, *args, **kwargs):
        calls.append(token)
        return real(token, *args, **kwargs)

    monkeypatch.setattr(auth.jwt, "decode", spy)
    return calls


class TestExpiringLRU:
    def test_an_entry_expires_at_its_time(self):
        now = [100.0]
        lru = ExpiringLRU(4, clock=lambda: now[0])
        lru.put("a", 1, until=110.0)
        now[0] = 109.999
        assert lru.get("a") == 1
        now[0] = 110.0
        assert lru.get("a") is None
        assert len(lru) == 0

    def test_the_least_recently_used_entry_goes_when_full(self):
        lru = ExpiringLRU(2)
        lru.put("a", 1, until=float("inf"))
        lru.put("b", 2, until=float("inf"))
        assert lru.get("a") == 1  # now b is the least recently used
        lru.put("c", 3, until=float("inf"))
        assert (lru.get("a"), lru.get("b"), lru.get("c")) == (1, None, 3)
        assert len(lru) == 2


class TestVerifiedTokens:
    def test_a_token_is_verified_once(self, client, make_token, decodes):
        token = make_token()
        for _ in range(3):
            assert get_me(client, token).status_code == 200
        assert decodes == [token]

    def test_a_different_token_is_a_miss(self, client, make_token, decodes):
        first, second = make_token(sub="alice"), make_token(sub="alice")
        assert first != second  # another jti
        assert get_me(client, first).status_code == 200
        assert get_me(client, second).status_code == 200
        assert decodes == [first, second]

    def test_an_entry_lasts_until_the_tokens_exp_and_not_longer(self, client, make_token, decodes):
        exp = int(time.time()) + 300
        token = make_token(exp=exp)
        assert get_me(client, token).status_code == 200
        verified = auth.get_verifier().verified
        verified.clock = lambda: exp - 0.001
        assert get_me(client, token).status_code == 200
        assert len(decodes) == 1
        verified.clock = lambda: exp
        get_me(client, token)  # verified again (and still valid by the real clock)
        assert len(decodes) == 2

    def test_a_refused_token_is_not_kept(self, client, make_token, decodes):
        token = make_token(aud="someone-else")
        for _ in range(2):
            assert_unauthenticated(get_me(client, token))
        assert len(decodes) == 2

    def test_the_principal_is_built_per_request(self, client, make_token, rf):
        token = make_token(tenant="acme", sub="alice", roles=("tenant_admin",))
        request = rf.get("/", HTTP_AUTHORIZATION=f"Bearer {token}")
        first, _ = authn.ScaiKeyJWTAuthentication().authenticate(request)
        second, _ = authn.ScaiKeyJWTAuthentication().authenticate(request)
        assert first == second
        assert first.tenant is not second.tenant  # no shared related-object caches
        assert second.token == token and second.is_tenant_admin


@pytest.fixture
def jwks(settings):
    settings.SCAIKEY_JWKS_URL = JWKS_URL
    keys = {"k1": rsa.generate_private_key(public_exponent=65537, key_size=2048)}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(
            responses.GET,
            JWKS_URL,
            callback=lambda request: (200, {}, json.dumps(jwks_document(*keys.items()))),
        )
        yield keys, mock


class TestVerifiedTokensAndKeyRotation:
    def test_a_withdrawn_key_stops_cached_tokens_once_the_keys_are_refetched(
        self, client, make_token, jwks, monkeypatch
    ):
        keys, mock = jwks
        old = make_token(key=keys["k1"], headers={"kid": "k1"})
        assert get_me(client, old).status_code == 200
        # ScaiKey withdraws k1 and signs with k2; a k2 token makes us refetch, a cooldown later.
        del keys["k1"]
        keys["k2"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        clock = time.monotonic() + 61
        monkeypatch.setattr(auth.time, "monotonic", lambda: clock)
        assert get_me(client, make_token(key=keys["k2"], headers={"kid": "k2"})).status_code == 200
        assert_unauthenticated(get_me(client, old))
        assert fetches(mock) == 2

    def test_keys_due_for_a_refresh_are_refreshed_before_a_cached_token_counts(
        self, client, make_token, jwks, monkeypatch
    ):
        keys, mock = jwks
        token = make_token(key=keys["k1"], headers={"kid": "k1"})
        assert get_me(client, token).status_code == 200
        clock = time.monotonic() + auth.JWKS_MAX_AGE_SECONDS + 1
        monkeypatch.setattr(auth.time, "monotonic", lambda: clock)
        keys.clear()
        keys["k9"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        assert_unauthenticated(get_me(client, token))
        assert fetches(mock) == 2


@pytest.fixture
def frozen_tenant_clock(monkeypatch):
    """The tenant cache's clock stands still: a slow machine cannot age an entry mid-test."""
    now = time.time()
    monkeypatch.setattr(authn._tenants, "clock", lambda: now)


class TestTenantsBySlug:
    def test_a_known_tenant_costs_no_query_once_kept(
        self,
        db,
        frozen_tenant_clock,
        django_capture_on_commit_callbacks,
        django_assert_num_queries,
    ):
        with django_capture_on_commit_callbacks(execute=True):
            first = authn.tenant_by_slug("acme")
        with django_assert_num_queries(0):
            second = authn.tenant_by_slug("acme")
        assert (second.pk, second.slug) == (first.pk, "acme")
        assert second is not first
        assert not second._state.adding

    def test_kept_only_once_the_transaction_commits(
        self, db, django_capture_on_commit_callbacks, django_assert_num_queries
    ):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            authn.tenant_by_slug("newco")  # created; its transaction may yet roll back
        assert len(callbacks) == 1
        with django_assert_num_queries(1):
            authn.tenant_by_slug("newco")

    def test_a_renamed_tenant_leaves_its_old_slug_to_a_new_tenant(
        self, client, make_token, django_capture_on_commit_callbacks
    ):
        token = make_token(tenant="acme")
        with django_capture_on_commit_callbacks(execute=True):
            assert get_me(client, token).status_code == 200
        renamed = Tenant.objects.get(slug="acme")
        renamed.slug = "acme-old"
        renamed.save()

        assert get_me(client, token).json()["slug"] == "acme"
        assert Tenant.objects.get(slug="acme").pk != renamed.pk

    def test_a_deleted_tenant_is_created_again_on_sight(
        self, client, make_token, django_capture_on_commit_callbacks
    ):
        token = make_token(tenant="acme")
        with django_capture_on_commit_callbacks(execute=True):
            assert get_me(client, token).status_code == 200
        Tenant.objects.get(slug="acme").delete()

        assert get_me(client, token).status_code == 200
        assert Tenant.objects.filter(slug="acme").exists()

    def test_a_change_made_elsewhere_shows_within_the_cache_time(
        self, db, django_capture_on_commit_callbacks, monkeypatch
    ):
        # Another process's change fires no signal here: the entry's age bounds the staleness.
        now = [1_000.0]
        monkeypatch.setattr(authn._tenants, "clock", lambda: now[0])
        with django_capture_on_commit_callbacks(execute=True):
            authn.tenant_by_slug("acme")
        Tenant.objects.filter(slug="acme").update(name="Acme Inc")  # no signal
        now[0] += authn.TENANT_CACHE_SECONDS - 0.001
        assert authn.tenant_by_slug("acme").name == ""
        now[0] += 0.001
        assert authn.tenant_by_slug("acme").name == "Acme Inc"

    def test_the_shared_token_uses_it_too(
        self, client, frozen_tenant_clock, django_capture_on_commit_callbacks
    ):
        from tests.conftest import API_TOKEN

        with django_capture_on_commit_callbacks(execute=True):
            assert get_me(client, API_TOKEN).status_code == 200
        Tenant.objects.filter(slug="default").update(name="Default")  # no signal
        assert get_me(client, API_TOKEN).json()["name"] == "default"  # served from the cache
