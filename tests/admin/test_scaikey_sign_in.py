""" "Sign in with ScaiKey" against devstack's ScaiKey over real HTTP: the whole code flow with
PKCE, the users and memberships it makes, and every refusal a message on the login page."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.test import Client

from tenants.groups import TENANT_ADMINS, TENANT_MEMBERS
from tenants.models import Role, ScaiKeyIdentity, Tenant, TenantMembership

pytestmark = pytest.mark.django_db

CLIENT_ID = "scaiflow-admin"
CALLBACK = "http://testserver/admin/oidc/callback/"


@pytest.fixture
def scaikey(devstack_settings, settings):
    devstack_settings.stack.oidc.register(CLIENT_ID, [CALLBACK])
    settings.SCAIKEY_OIDC_CLIENT_ID = CLIENT_ID
    settings.SCAIKEY_OIDC_CLIENT_SECRET = ""
    settings.SCAIKEY_OIDC_DISCOVERY_URL = ""
    return devstack_settings


def start(client: Client) -> str:
    """Our side of the start: the URL of ScaiKey's authorize page we are sent to."""
    response = client.get("/admin/oidc/login/")
    assert response.status_code == 302
    return response["Location"]


def consent(authorize_url: str, *, tenant="acme", sub="ada", roles="tenant_admin", **extra):
    """ScaiKey's side: fill its form; returns the callback path and query it redirects to."""
    page = requests.get(authorize_url, timeout=5)
    assert page.status_code == 200 and "Sign in to ScaiKey" in page.text
    params = {name: values[0] for name, values in parse_qs(urlsplit(authorize_url).query).items()}
    form = {**params, "tenant": tenant, "sub": sub, "roles": roles, **extra}
    answer = requests.post(authorize_url.split("?")[0], data=form, allow_redirects=False, timeout=5)
    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    assert location.startswith(CALLBACK)
    return location.removeprefix("http://testserver")


def sign_in(client: Client | None = None, **consent_fields):
    client = client or Client()
    response = client.get(consent(start(client), **consent_fields))
    return client, response


def refusal(client: Client, response) -> str:
    assert response.status_code == 302 and response["Location"] == "/admin/login/"
    (message,) = [str(m) for m in get_messages(response.wsgi_request)]
    if "_auth_user_id" not in client.session:  # else the login page sends them on
        page = client.get("/admin/login/")
        assert page.status_code == 200
        assert "Signing in with ScaiKey failed" in page.content.decode()
    return message


def test_the_login_page_offers_scaikey_only_when_configured(scaikey, settings):
    assert "Sign in with ScaiKey" in Client().get("/admin/login/").content.decode()
    settings.SCAIKEY_OIDC_CLIENT_ID = ""
    assert "Sign in with ScaiKey" not in Client().get("/admin/login/").content.decode()


def test_the_authorize_request_carries_state_nonce_and_pkce(scaikey):
    query = parse_qs(urlsplit(start(Client())).query)
    assert query["client_id"] == [CLIENT_ID] and query["redirect_uri"] == [CALLBACK]
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["state"][0] and query["nonce"][0] and query["scope"] == ["openid"]


def test_a_tenant_admin_signs_in_and_is_made_from_the_token(scaikey):
    client, response = sign_in(tenant="acme", sub="ada", roles="tenant_admin")
    assert response.status_code == 302 and response["Location"] == "/admin/"
    user = get_user_model().objects.get(username="scaikey:ada")
    assert user.is_staff and not user.is_superuser and not user.has_usable_password()
    identity = ScaiKeyIdentity.objects.get(user=user)
    assert (identity.issuer, identity.sub) == (scaikey.issuer, "ada")
    (membership,) = TenantMembership.objects.filter(user=user)
    assert (membership.tenant.slug, membership.role) == ("acme", Role.TENANT_ADMIN)
    assert set(user.groups.values_list("name", flat=True)) == {TENANT_ADMINS}
    page = client.get("/admin/tenants/tenant/")
    assert page.status_code == 200 and "acme" in page.content.decode()


def test_every_sign_in_makes_the_memberships_the_token_says(scaikey, globex):
    sign_in(tenant="acme", sub="ada", roles="tenant_admin")
    user = get_user_model().objects.get(username="scaikey:ada")
    TenantMembership.objects.create(user=user, tenant=globex, role=Role.MEMBER)  # by hand

    sign_in(tenant="acme", sub="ada", roles="")  # the role was removed in ScaiKey
    memberships = {(m.tenant.slug, m.role) for m in user.tenant_memberships.all()}
    assert memberships == {("acme", Role.MEMBER), ("globex", Role.MEMBER)}
    assert set(user.groups.values_list("name", flat=True)) == {TENANT_MEMBERS}

    sign_in(tenant="initech", sub="ada", roles="tenant_admin")  # moved to another tenant
    memberships = {(m.tenant.slug, m.role) for m in user.tenant_memberships.all()}
    assert memberships == {("initech", Role.TENANT_ADMIN), ("globex", Role.MEMBER)}
    assert get_user_model().objects.filter(username__startswith="scaikey:").count() == 1


def test_the_user_is_keyed_by_issuer_and_sub_not_by_name(scaikey):
    get_user_model().objects.create_user("scaikey:ada")  # made by hand, not by ScaiKey
    client, response = sign_in(sub="ada")
    assert "belongs to another sign-in" in refusal(client, response)
    assert not ScaiKeyIdentity.objects.exists()


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"tenant": ""}, "names no tenant"),
        ({"claims": json.dumps({"tenant": None})}, "names no tenant"),
        ({"tenant": "Not A Slug!"}, "not valid"),
        ({"claims": json.dumps({"aud": "someone-else"})}, "wrong or missing 'aud'"),
        ({"claims": json.dumps({"iss": "https://evil.example"})}, "wrong or missing 'iss'"),
        ({"claims": json.dumps({"nonce": "replayed-nonce"})}, "wrong or missing 'nonce'"),
        ({"claims": json.dumps({"exp": int(time.time()) - 3600})}, "has expired"),
        ({"sign_with": "unknown"}, "a key ScaiKey does not publish"),
    ],
)
def test_refusals_are_messages_on_the_login_page(scaikey, fields, reason):
    client, response = sign_in(**fields)
    message = refusal(client, response)
    assert reason in message and message.startswith("Signing in with ScaiKey failed")
    assert "_auth_user_id" not in client.session
    assert not get_user_model().objects.filter(username__startswith="scaikey:").exists()


def test_a_wrong_or_replayed_state_is_refused(scaikey):
    client = Client()
    callback = consent(start(client))
    path, _, query = callback.partition("?")
    forged = {**{k: v[0] for k, v in parse_qs(query).items()}, "state": "forged"}
    assert "stale or was already used" in refusal(client, client.get(path, forged))

    client, response = sign_in()
    assert response["Location"] == "/admin/"
    replay = client.get(response.wsgi_request.get_full_path())
    assert "stale or was already used" in refusal(client, replay)


def test_a_code_is_good_once_and_only_with_the_verifier(scaikey):
    client = Client()
    callback = consent(start(client))
    # Another browser (no session: no state, no verifier) cannot use the code.
    other = Client()
    assert "stale" in refusal(other, other.get(callback))
    # The code was not spent by that: the right browser still signs in.
    assert client.get(callback)["Location"] == "/admin/"
    # ScaiKey refuses the code without the PKCE verifier, and a second use.
    token = f"{scaikey.issuer}/token"
    code = parse_qs(urlsplit(callback).query)["code"][0]
    answer = requests.post(
        token,
        data={"grant_type": "authorization_code", "code": code, "client_id": CLIENT_ID,
              "redirect_uri": CALLBACK, "code_verifier": "x" * 43},
        timeout=5,
    )  # fmt: skip
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_scaikey_unreachable_is_a_message(scaikey, settings):
    settings.SCAIKEY_OIDC_DISCOVERY_URL = "http://127.0.0.1:9/.well-known/openid-configuration"
    client = Client()
    response = client.get("/admin/oidc/login/")
    assert "could not be reached" in refusal(client, response)


def test_without_a_client_id_the_views_say_so(settings):
    settings.SCAIKEY_OIDC_CLIENT_ID = ""
    client = Client()
    for url in ("/admin/oidc/login/", "/admin/oidc/callback/?code=x&state=y"):
        assert "not configured" in refusal(client, client.get(url))


def test_a_tenant_of_the_token_is_created(scaikey):
    sign_in(tenant="newco", sub="nia", roles="")
    assert Tenant.objects.filter(slug="newco").exists()


@pytest.mark.parametrize("bug", [KeyError("iss"), ValueError("bad"), RuntimeError("oops")])
def test_a_bug_after_the_token_is_verified_is_a_500_with_a_traceback(
    scaikey, monkeypatch, caplog, bug
):
    def broken(**kwargs):
        raise bug

    monkeypatch.setattr("tenants.signin.admin_user_from_scaikey", broken)
    client = Client(raise_request_exception=False)
    response = client.get(consent(start(client)))
    assert response.status_code == 500
    assert not [str(m) for m in get_messages(response.wsgi_request)]
    (logged,) = [r for r in caplog.records if r.name == "django.request" and r.exc_info]
    assert logged.exc_info[0] is type(bug)


def test_scaikey_unreachable_at_the_token_exchange_is_a_message(scaikey, monkeypatch):
    client = Client()
    callback = consent(start(client))

    def unreachable(self, *args, **kwargs):
        raise requests.ConnectionError("connection refused")

    monkeypatch.setattr(requests.Session, "send", unreachable)
    assert "could not be reached" in refusal(client, client.get(callback))


def test_a_code_scaikey_refuses_is_a_fixed_message(scaikey):
    client = Client()
    callback = consent(start(client))
    code = parse_qs(urlsplit(callback).query)["code"][0]
    scaikey.stack.oidc.redeem(code)  # spent elsewhere: the token endpoint says invalid_grant
    message = refusal(client, client.get(callback))
    assert "ScaiKey refused the sign-in." in message and "unknown, used" not in message


PHISHING = "Your account is locked. Call +1-555-0100\n2026 ERROR forged line"


def pending_state(client: Client) -> str:
    """Start a sign-in in this client's session; the state ScaiKey would send back."""
    return parse_qs(urlsplit(start(client)).query)["state"][0]


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        ("access_denied", "the sign-in was declined at ScaiKey."),
        ("temporarily_unavailable", "ScaiKey is temporarily unavailable."),
        ("invalid_scope", "tell an operator"),
        ("made_up_code", "ScaiKey refused the sign-in."),
    ],
)
def test_scaikey_error_answers_show_a_fixed_message_and_log_the_description(
    scaikey, caplog, error, shown
):
    client = Client()
    state = pending_state(client)
    response = client.get(
        "/admin/oidc/callback/",
        {"error": error, "error_description": PHISHING, "state": state},
    )
    message = refusal(client, response)
    assert shown in message and "555" not in message
    assert "555" not in client.get("/admin/login/").content.decode()
    (logged,) = [r for r in caplog.records if "refused the sign-in" in r.getMessage()]
    assert "\n" not in logged.getMessage() and "+1-555-0100\\n2026" in logged.getMessage()
    # The state is spent: the same answer again is not for a pending sign-in.
    again = client.get("/admin/oidc/callback/", {"error": error, "state": state})
    assert again["Location"] == "/admin/login/"
    assert not list(get_messages(again.wsgi_request))


@pytest.mark.parametrize("state", [None, "", "not-ours"])
def test_a_scaikey_error_for_no_pending_sign_in_is_ignored(scaikey, state):
    client = Client()
    pending_state(client)  # this session has a sign-in pending, but with another state
    query = {"error": "access_denied", "error_description": PHISHING}
    if state is not None:
        query["state"] = state
    response = client.get("/admin/oidc/callback/", query)
    assert response.status_code == 302 and response["Location"] == "/admin/login/"
    assert not list(get_messages(response.wsgi_request))
    assert "555" not in client.get("/admin/login/").content.decode()


@pytest.mark.parametrize(
    "sub",
    [
        "x\n2026 INFO forged",
        "ada\n",
        " ada",
        "ada ",
        "a\tda",
        "\u0430da",  # a Cyrillic letter a: looks like "ada"
        "x" * 256,
    ],
)
def test_a_sub_the_api_refuses_is_refused_by_the_sign_in_too(scaikey, sub):
    client, response = sign_in(claims=json.dumps({"sub": sub}))
    message = refusal(client, response)
    assert "'sub' claim must be" in message and "\n" not in message
    assert "_auth_user_id" not in client.session
    assert not get_user_model().objects.filter(username__startswith="scaikey:").exists()
    assert not ScaiKeyIdentity.objects.exists()


def test_a_valid_sub_too_long_for_an_admin_username_is_refused_clearly(scaikey):
    fits = "s" * 142  # "scaikey:" and 142 characters: Django's 150
    client, response = sign_in(sub=fits)
    assert response["Location"] == "/admin/"
    assert get_user_model().objects.filter(username=f"scaikey:{fits}").exists()

    client, response = sign_in(sub="t" * 143)
    assert "143 characters long; the admin takes at most 142" in refusal(client, response)
    assert ScaiKeyIdentity.objects.count() == 1


def test_roles_are_read_as_the_api_reads_them(scaikey):
    # Not a list: the API refuses such a token, so does the sign-in.
    client, response = sign_in(claims=json.dumps({"roles": "tenant_admin"}))
    assert "'roles' claim must be a list" in refusal(client, response)
    assert not TenantMembership.objects.exists()
    # Entries that are no role name grant nothing.
    sign_in(sub="ada", claims=json.dumps({"roles": ["tenant_admin\n", {"x": 1}, "member"]}))
    (membership,) = TenantMembership.objects.all()
    assert membership.role == Role.MEMBER


def pending_states(client: Client) -> set[str]:
    prefix = "_state_scaikey_"
    keys = client.session.keys()  # a session has keys() but no iteration of its own
    return {key.removeprefix(prefix) for key in keys if key.startswith(prefix)}


def test_a_session_keeps_only_its_newest_pending_sign_ins(scaikey):
    client = Client()
    urls = [start(client) for _ in range(8)]
    states = [parse_qs(urlsplit(url).query)["state"][0] for url in urls]
    assert pending_states(client) == set(states[-3:])
    # The oldest is forgotten; the newest still signs in.
    assert "stale" in refusal(client, client.get(consent(urls[0])))
    assert client.get(consent(urls[-1]))["Location"] == "/admin/"


def test_starts_are_limited_per_client_address_with_a_429_page(scaikey, settings):
    settings.SCAIFLOW_SIGN_IN_RATE = "3/min"
    client = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(3):
        assert client.get("/admin/oidc/login/").status_code == 302
    refused = client.get("/admin/oidc/login/", HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert refused.status_code == 429 and refused["Content-Type"].startswith("text/html")
    assert 0 < int(refused["Retry-After"]) <= 60
    assert "Too many sign-ins with ScaiKey" in refused.content.decode()
    assert len(pending_states(client)) == 3
    # Another address is not affected.
    assert Client(REMOTE_ADDR="203.0.113.8").get("/admin/oidc/login/").status_code == 302


def test_a_scaikey_session_ends_with_the_id_token(scaikey):
    client, response = sign_in()
    assert response["Location"] == "/admin/"
    # devstack's ID tokens live 600 s; the session is not extended by activity.
    assert 590 <= client.session.get_expiry_age() <= 600
    client.get("/admin/")
    assert client.session.get_expiry_age() <= 600


def test_a_scaikey_session_lasts_at_most_scaiflow_admin_session_hours(scaikey, settings):
    settings.SCAIFLOW_ADMIN_SESSION_HOURS = 0.05  # 3 minutes, sooner than the token
    client, response = sign_in()
    assert response["Location"] == "/admin/"
    assert 170 <= client.session.get_expiry_age() <= 180


def test_a_password_session_keeps_djangos_age(settings):
    user = get_user_model().objects.create_user("opal", password="pw-Xy7-long", is_staff=True)
    client = Client()
    client.post("/admin/login/", {"username": user.username, "password": "pw-Xy7-long"})
    assert client.session.get_expiry_age() == settings.SESSION_COOKIE_AGE
