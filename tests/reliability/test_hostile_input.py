"""Hostile input through `POST /flows`, `PUT`/`PATCH /flows/{id}`, `POST /flows/{id}/compile` and
the legacy `POST /dev/deploy`: never a 500, always SPEC §2's error body.

- Fixed cases (in `make test`): oversized bodies, deep nesting, invalid UTF-8, NaN/Infinity
  literals, numbers JSON cannot hold, lone surrogates, wrong content types, bodies that are not
  objects. Each must be a 4xx with the error body, and with the code the SPEC names.
- Generated malformed flows (hypothesis): FlowGraphs that are wrong in every way the generator
  can think of (types, kinds, data, edges to nowhere, cycles, templates naming anything), each
  saved, compiled and deployed through the legacy path. 1,000 of them in the `reliability`
  run, a few dozen in `make test`. Upstream is devstack: the flows that do compile really
  deploy.
"""

from __future__ import annotations

import copy
import json
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from tests.conftest import API_TOKEN
from tests.deployments.conftest import SIMPLE_FLOW

FLOWS = "/api/v1/flows"
LEGACY = "/api/v1/dev/deploy"
MAX_BYTES = 2 * 1024 * 1024  # SCAIFLOW_MAX_FLOW_BYTES's default, the one production runs with

FAST_EXAMPLES = 25
FULL_EXAMPLES = 1_000


def assert_error_body(response, status: int | None = None, code: str | None = None) -> dict:
    """A 4xx (never a 500) in SPEC §2's JSON body; optionally this status and code."""
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])
    if status is not None:
        assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    detail = response.json()["detail"]
    assert isinstance(detail["error"], str) and isinstance(detail["message"], str)
    if code is not None:
        assert detail["error"] == code, detail
    return detail


@pytest.fixture
def upstream(db, devstack_settings, settings):
    """Devstack as ScaiGrid; the legacy path deploys for acme with devstack's key."""
    settings.SCAIFLOW_DEPLOY_RATE = "100000/min"
    settings.SCAIFLOW_DEPLOY_TENANT_RATE = "100000/min"
    settings.SCAIFLOW_DEFAULT_TENANT = "acme"
    settings.SCAIGRID_API_KEY = devstack_settings.api_key
    settings.SCAIFLOW_MAX_FLOW_BYTES = MAX_BYTES
    return devstack_settings


@pytest.fixture
def clients(upstream) -> dict[str, APIClient]:
    jwt = upstream.mint_token(tenant="acme", sub="mallory")
    user, service = APIClient(), APIClient()
    user.credentials(HTTP_AUTHORIZATION=f"Bearer {jwt}")
    service.credentials(HTTP_AUTHORIZATION=f"Bearer {API_TOKEN}")
    return {"user": user, "service": service}


@pytest.fixture
def flow_id(clients) -> str:
    created = clients["user"].post(FLOWS, {"name": "Target", "content": {}}, format="json")
    assert created.status_code == 201
    return created.json()["id"]


# --- Fixed hostile bodies ----------------------------------------------------------------------

TARGETS = [
    "POST /flows",
    "PUT /flows/{id}",
    "PATCH /flows/{id}",
    "POST compile",
    "POST /dev/deploy",
]


def send(clients, flow_id: str, target: str, body: bytes, content_type: str | None, **extra):
    method, _, where = target.partition(" ")
    path = {
        "/flows": FLOWS,
        "/flows/{id}": f"{FLOWS}/{flow_id}",
        "compile": f"{FLOWS}/{flow_id}/compile",
        "/dev/deploy": LEGACY,
    }[where]
    client = clients["service" if where == "/dev/deploy" else "user"]
    if content_type is None:
        # No Content-Type header at all (the test client would default to multipart).
        return client.generic(method, path, body, content_type="", **extra)
    return client.generic(method, path, body, content_type=content_type, **extra)


def flow_body(content: str) -> bytes:
    return b'{"name": "Hostile", "content": ' + content.encode() + b"}"


BAD_JSON = {
    "invalid UTF-8": b'{"name": "\xff\xfe", "content": {}}',
    "UTF-16": json.dumps({"name": "x", "content": {}}).encode("utf-16"),
    "UTF-8 with a BOM": b'\xef\xbb\xbf{"name": "x", "content": {}}',
    "NaN": flow_body('{"x": NaN}'),
    "Infinity": flow_body('{"x": Infinity}'),
    "-Infinity": flow_body('{"x": -Infinity}'),
    "deep nesting": b"[" * 100_000 + b"]" * 100_000,
    "nesting over the depth limit": flow_body("[" * 65 + "]" * 65),
    "truncated": b'{"name": "x", "content": {',
    "a 5000-digit number": flow_body("{" + '"x": ' + "9" * 5000 + "}"),
    "trailing garbage": b'{"name": "x", "content": {}} {}',
    "a lone comma": b",",
}
NOT_AN_OBJECT = {
    "empty": b"",
    "null": b"null",
    "a list": b"[]",
    "a string": b'"flow"',
    "a number": b"42",
    "content is a list": flow_body("[]"),
    "content is a string": flow_body('"nodes"'),
    "name is a number": b'{"name": 7, "content": {}}',
}
# Compile's body is `{"version"?: int}`: the flow-shaped bodies above are its wrong shapes too.
COMPILE_BODIES = {
    "content is a list": b'{"version": []}',
    "content is a string": b'{"version": "one"}',
    "name is a number": b'{"version": 0}',
    "a number": b'{"version": true}',
}
# Compile's body is optional (none compiles the latest version); PATCH without fields changes
# nothing. Both answer 200 to an empty body, rightly.
OPTIONAL_BODIES = {
    ("POST compile", "empty"),
    ("POST compile", "null"),
    ("PATCH /flows/{id}", "empty"),
}
UNREPRESENTABLE = {
    "a number out of float range": flow_body('{"x": 1e999}'),
    "a lone surrogate in the content": flow_body('{"x": "\\ud800"}'),
    "a lone surrogate in the name": b'{"name": "\\udfff", "content": {}}',
    "a NUL in the name": b'{"name": "a\\u0000b", "content": {}}',
}
WRONG_TYPES = {
    "text/plain": "text/plain",
    "form": "application/x-www-form-urlencoded",
    "multipart": "multipart/form-data; boundary=xyz",
    "XML": "application/xml",
    "JSON with a suffix": "application/problem+json",
    "none": None,
}


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("case", list(BAD_JSON))
def test_malformed_json_is_a_400(clients, flow_id, target, case):
    response = send(clients, flow_id, target, BAD_JSON[case], "application/json")
    assert_error_body(response, 400, "invalid_request")


@pytest.mark.parametrize(
    ("target", "case"),
    [
        (target, case)
        for target in TARGETS
        for case in NOT_AN_OBJECT
        if (target, case) not in OPTIONAL_BODIES  # there no body is a valid request
    ],
)
def test_bodies_of_the_wrong_shape_are_a_400(clients, flow_id, target, case):
    body = NOT_AN_OBJECT[case] if target != "POST compile" else COMPILE_BODIES.get(case, b"[]")
    response = send(clients, flow_id, target, body, "application/json")
    assert_error_body(response, 400)


def test_a_list_body_to_compile_is_a_400_not_the_latest_version(clients, flow_id):
    """`[]` is falsy: compile took it for "no body" and compiled the latest version."""
    response = send(clients, flow_id, "POST compile", b"[]", "application/json")
    assert_error_body(response, 400, "invalid_request")


@pytest.mark.parametrize("target", [t for t in TARGETS if t != "POST compile"])
@pytest.mark.parametrize("case", list(UNREPRESENTABLE))
def test_values_that_cannot_be_stored_are_a_400(clients, flow_id, target, case):
    """Valid JSON whose values JSON output, UTF-8 or the database cannot hold."""
    response = send(clients, flow_id, target, UNREPRESENTABLE[case], "application/json")
    assert_error_body(response, 400)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("case", list(WRONG_TYPES))
def test_wrong_content_types_are_a_415(clients, flow_id, target, case):
    body = json.dumps({"name": "x", "content": {}}).encode()
    response = send(clients, flow_id, target, body, WRONG_TYPES[case])
    detail = assert_error_body(response, 415, "unsupported_media_type")
    assert "application/json" in detail["fix"]


@pytest.mark.parametrize("target", TARGETS)
def test_an_oversized_body_is_a_413(clients, flow_id, target):
    padding = "x" * MAX_BYTES
    body = flow_body(json.dumps({"padding": padding}))
    response = send(clients, flow_id, target, body, "application/json")
    assert assert_error_body(response, 413, "flow_too_large")["limit"] == MAX_BYTES


@pytest.mark.parametrize("target", TARGETS)
def test_an_oversized_declared_length_is_a_413_before_reading(clients, flow_id, target):
    response = send(
        clients, flow_id, target, b"{}", "application/json", CONTENT_LENGTH=str(MAX_BYTES + 1)
    )
    assert_error_body(response, 413, "flow_too_large")


def test_a_legacy_deploy_of_a_flow_named_with_a_nul_is_not_a_500(clients):
    """The record keeps the content's name: with a NUL it failed to save on PostgreSQL."""
    flow = {"name": "a\x00b", "nodes": [{"id": "a\x00", "kind": "x\x00"}], "edges": []}
    response = clients["service"].post(LEGACY, {"content": flow}, format="json")
    detail = assert_error_body(response, 400, "compile_error")
    assert "\x00" not in json.dumps(detail)


def test_error_details_hold_no_nul():
    """Details quote what callers sent, and are stored: PostgreSQL's jsonb cannot hold NUL."""
    from scaiflow.core.errors import InvalidRequest

    detail = InvalidRequest("bad \x00", fields={"n\x00": ["x\x00"]}).as_detail()
    assert detail == {
        "error": "invalid_request",
        "message": "bad \ufffd",
        "fields": {"n\ufffd": ["x\ufffd"]},
    }


# --- Found by a black-box probe of every endpoint (docs/reliability.md) ------------------------

HUGE_TAG = "9" * 5_000  # int() refuses 4,300 digits and more


@pytest.mark.parametrize(
    "target", ["PUT /flows/{id}", "PATCH /flows/{id}", "DELETE /flows/{id}", "POST deploy"]
)
@pytest.mark.parametrize(
    "tag", [HUGE_TAG, f'"{HUGE_TAG}"', f'W/"{HUGE_TAG}", "1x"', "0" * 11 + "1"]
)
def test_if_match_tags_that_are_not_small_versions_never_match(clients, flow_id, target, tag):
    """Was a 500: `int()` of a 5,000-digit tag raised ValueError in parse_if_match."""
    method, _, where = target.partition(" ")
    path = f"{FLOWS}/{flow_id}" + ("/deploy" if where == "deploy" else "")
    body = json.dumps({"name": "x", "content": {}} if method != "POST" else {})
    response = clients["user"].generic(
        method, path, body, content_type="application/json", HTTP_IF_MATCH=tag
    )
    assert assert_error_body(response, 412, "version_conflict")["current_version"] == 1


CREDENTIALS = "/api/v1/tenants/me/scaigrid_credentials"
UNPARSABLE_URLS = ["http://[127.0.0.1]", "http://[::1", "https://[scaigrid.example]", "http://]x["]


@pytest.fixture
def acme_admin_client(upstream) -> APIClient:
    client = APIClient()
    token = upstream.mint_token(tenant="acme", sub="mallory", roles=["tenant_admin"])
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.mark.parametrize("base_url", UNPARSABLE_URLS)
def test_a_base_url_that_does_not_parse_is_a_400_naming_the_field(acme_admin_client, base_url):
    """Was a 500: urlsplit raised ValueError outside the validator's `try`."""
    body = {"api_key": "sgk_probe_0123456789", "base_url": base_url}
    response = acme_admin_client.post(CREDENTIALS, body, format="json")
    detail = assert_error_body(response, 400, "invalid_request")
    assert list(detail["fields"]) == ["base_url"]


@pytest.mark.parametrize("base_url", UNPARSABLE_URLS)
def test_a_base_url_that_does_not_parse_is_a_form_error_in_the_admin(db, base_url):
    from django.contrib.auth import get_user_model
    from django.test import Client

    from tenants.models import Tenant, TenantCredential

    tenant = Tenant.objects.create(slug="acme")
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", "r@example.com", "pw"))
    response = client.post(
        f"/admin/tenants/tenant/{tenant.pk}/change/",
        {"slug": "acme", "name": "", "_save": "Save", "scaigrid_api_key": "sgk_probe_0123456789",
         "scaigrid_base_url": base_url},
    )  # fmt: skip
    assert response.status_code == 200  # the form again, with its error
    assert "scaigrid_base_url" in response.context["adminform"].form.errors
    assert not TenantCredential.objects.exists()


@pytest.mark.parametrize(
    "claims",
    [
        {"tenant": "acme\n"},
        {"tenant": "acme\r\nglobex"},
        {"sub": "mallory\n2026-01-01 INFO tenants forged"},
        {"sub": "mallory "},
        {"sub": "x" * 256},
    ],
)
def test_identifiers_from_a_token_must_match_as_a_whole(upstream, claims):
    """Was 200: `$` matched before a final newline, so `acme\n` became a tenant of its own."""
    from tenants.models import Tenant

    client = APIClient()
    token = upstream.mint_token(tenant="acme", sub="mallory", roles=["tenant_admin"], claims=claims)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert_error_body(client.get("/api/v1/tenants/me"), 401, "not_authenticated")
    assert not Tenant.objects.exclude(slug="acme").exists()


def test_roles_must_match_as_a_whole(upstream):
    client = APIClient()
    roles = ["tenant_admin\n", " tenant_admin", "member"]
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {upstream.mint_token(roles=roles)}")
    assert client.get("/api/v1/tenants/me").json()["roles"] == ["member"]
    body = {"api_key": "sgk_probe_0123456789"}
    assert_error_body(client.post(CREDENTIALS, body, format="json"), 403)


def test_a_value_with_newlines_stays_on_one_log_line(db):
    """Was a forged, well-formed line: a `sub` with a newline went into the log as it was."""
    import logging

    console = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    record = logging.getLogger("tenants").makeRecord(
        "tenants", logging.INFO, __file__, 1, "ScaiGrid key of tenant %s set by %s",
        ("acme", "scaikey:x\n2026-01-01 INFO forged\r\u2028\x1b[2J"), None,
    )  # fmt: skip
    assert console.filter(record)
    line = console.format(record)
    assert "\n" not in line and "\r" not in line and "\u2028" not in line and "\x1b" not in line
    assert line.endswith("set by scaikey:x\\n2026-01-01 INFO forged\\r\\u2028\\x1b[2J")


def test_a_base_url_must_match_an_allowed_entry_in_scheme_port_and_path(
    acme_admin_client, upstream
):
    """Was accepted: only the host was checked, and a deploy sent the tenant's key to
    `http://<allowed host>:22` or `…/../../admin`."""
    from tenants.models import TenantCredential

    grid = upstream.url  # SCAIGRID_ALLOWED_HOSTS is devstack's URL, http and its port
    port = int(grid.rsplit(":", 1)[1])
    for base_url in [
        "http://127.0.0.1:22",
        "http://127.0.0.1:6379",
        "http://127.0.0.1",
        f"https://127.0.0.1:{port}",
        f"{grid}/../../admin",
        f"{grid}/admin",
        f"{grid}/%2e%2e/admin",
    ]:
        body = {"api_key": "sgk_probe_0123456789", "base_url": base_url}
        response = acme_admin_client.post(CREDENTIALS, body, format="json")
        assert list(assert_error_body(response, 400)["fields"]) == ["base_url"], base_url
    assert not TenantCredential.objects.exists()
    body = {"api_key": "sgk_probe_0123456789", "base_url": f"{grid}/"}
    assert acme_admin_client.post(CREDENTIALS, body, format="json").json()["base_url"] == grid


def test_a_base_url_stored_under_a_looser_allowlist_gets_no_key(upstream, clients):
    """A record from before the allowlist named ports and paths: the deploy refuses to send the
    tenant's key (or the caller's JWT) there, and says to set the key again."""
    from tenants.credentials import credential_store
    from tenants.models import Tenant

    acme = Tenant.objects.get_or_create(slug="acme")[0]
    credential_store().set(
        tenant=acme, api_key="sgk_probe_0123456789", base_url="http://127.0.0.1:6379", actor="t"
    )
    body = {"name": "Echo", "content": copy.deepcopy(SIMPLE_FLOW)}
    echo = clients["user"].post(FLOWS, body, format="json").json()["id"]
    response = clients["user"].post(f"{FLOWS}/{echo}/deploy", {}, format="json")
    assert_error_body(response, 412, "missing_scaigrid_credentials")
    body = {"content": copy.deepcopy(SIMPLE_FLOW)}
    response = clients["service"].post(LEGACY, body, format="json")
    assert_error_body(response, 412, "missing_scaigrid_credentials")


def test_more_subjects_never_mean_more_deploys(upstream, clients, flow_id, settings):
    """Was a budget per (tenant, sub): `alice`, `Alice`, `alice2` and the legacy token each had
    their own, and GET/OPTIONS/405 on a deploy path used the budget up."""
    settings.SCAIFLOW_DEPLOY_RATE = "3/min"
    settings.SCAIFLOW_DEPLOY_TENANT_RATE = "5/min"
    deploy = f"{FLOWS}/{flow_id}/deploy"

    def caller(sub: str) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {upstream.mint_token(sub=sub)}")
        return client

    def attempt(client: APIClient) -> int:
        return client.post(deploy, {}, format="json").status_code

    alice, alice_upper = caller("alice"), caller("Alice")
    for _ in range(10):  # none of these is a deploy attempt
        assert alice.get(deploy).status_code == 405
        assert alice.options(deploy).status_code == 200
    assert [attempt(alice), attempt(alice_upper), attempt(alice)] == [400, 400, 400]
    # `Alice` is `alice` to the per-principal budget; refused attempts use up nothing.
    for _ in range(5):
        assert attempt(alice_upper) == 429
    assert [attempt(caller("alice2")), attempt(caller("bob"))] == [400, 400]
    # The tenant's five are gone: a new subject, and the legacy token, are refused too.
    response = caller("carol").post(deploy, {}, format="json")
    assert int(assert_error_body(response, 429, "throttled")["retry_after"]) > 0
    legacy = clients["service"].post(LEGACY, {"content": {}}, format="json")
    assert_error_body(legacy, 429, "throttled")
    # Another tenant's budget is its own.
    globex = APIClient()
    globex.credentials(HTTP_AUTHORIZATION=f"Bearer {upstream.mint_token(tenant='globex')}")
    created = globex.post(FLOWS, {"name": "G", "content": {}}, format="json").json()["id"]
    assert globex.post(f"{FLOWS}/{created}/deploy", {}, format="json").status_code == 400


@pytest.mark.parametrize("path", ["/admin/login/", "/api/docs/", "/api/v1/flows", "/healthz"])
def test_every_page_has_a_content_security_policy(db, path):
    """Was none anywhere. Chromium's check that the admin and Swagger UI break none of it is
    tests/admin/test_browser.py."""
    from django.test import Client

    policy = Client().get(path)["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == directives["style-src"] == "'self'"
    assert directives["object-src"] == directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in policy


# --- Generated malformed flows ---------------------------------------------------------------

KINDS = ["trigger", "llm", "plugin", "branch", "transform", "queue", "output"]
IDS = ["start", "a", "b", "reply", ""]
DATA_KEYS = [
    "type", "schedule", "role", "prompt", "output", "plugin", "args", "cases", "set", "scope",
    "queue", "title", "payload", "value",
]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["{{start.message}}", "{{a.text}}", "{{nowhere.x}}", "{{", "chat", "}}"]),
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
node_ids = st.sampled_from(IDS) | json_values
nodes = st.fixed_dictionaries(
    {"id": node_ids, "kind": st.sampled_from(KINDS) | json_values},
    optional={
        "data": st.dictionaries(st.sampled_from(DATA_KEYS), json_values, max_size=5) | json_values,
        "position": json_values,
    },
)
edges = st.fixed_dictionaries(
    {"source": node_ids, "target": node_ids},
    optional={"source_handle": st.sampled_from(["default", "refund"]) | json_values},
)
configs = st.fixed_dictionaries(
    {},
    optional={
        "llm_roles": st.dictionaries(st.sampled_from(["main", "triage", ""]), json_values),
        "scaiqueue": json_values,
        "publish_as_model": json_values,
        "group_ids": json_values,
    },
)
malformed_flows = st.fixed_dictionaries(
    {},
    optional={
        "name": st.text(max_size=20) | json_values,
        "config": configs | json_values,
        "nodes": st.lists(nodes | json_values, max_size=6) | json_values,
        "edges": st.lists(edges | json_values, max_size=8) | json_values,
        "extra": json_values,
    },
)


# Near-valid flows: a flow that compiles, with a few of its values replaced or removed, so the
# generated input also reaches the compiler's later passes and the deploy pipeline.
VALID_FLOW = {
    "name": "Support triage",
    "config": {
        "llm_roles": {"triage": {"model": "scai-large", "temperature": 0.2}},
        "scaiqueue": {
            "scope": {"slug": "support", "name": "Support", "config": {}},
            "queues": [{"slug": "review", "name": "Human review", "config": {"sla_minutes": 60}}],
        },
    },
    "nodes": [
        {"id": "start", "kind": "trigger", "data": {"type": "chat"}},
        {"id": "classify", "kind": "llm",
         "data": {"role": "triage", "prompt": "Classify: {{start.message}}", "output": "category"}},
        {"id": "route", "kind": "branch",
         "data": {"cases": [{"when": "classify.category == 'refund'", "handle": "refund"}]}},
        {"id": "review", "kind": "queue",
         "data": {"scope": "support", "queue": "review", "title": "Refund for {{start.message}}"}},
        {"id": "reply", "kind": "output", "data": {"value": "{{classify.category}}"}},
    ],
    "edges": [
        {"source": "start", "target": "classify"},
        {"source": "classify", "target": "route"},
        {"source": "route", "source_handle": "refund", "target": "review"},
        {"source": "route", "source_handle": "default", "target": "reply"},
        {"source": "review", "target": "reply"},
    ],
}  # fmt: skip


def _paths(value, prefix=()) -> list[tuple]:
    """Every place in a JSON value: the keys and indexes that lead to it."""
    found = [prefix] if prefix else []
    if isinstance(value, dict | list):
        for key, child in value.items() if isinstance(value, dict) else enumerate(value):
            found += _paths(child, (*prefix, key))
    return found


def _mutate(flow: dict, mutations: list[tuple[tuple, object]]) -> dict:
    flow = json.loads(json.dumps(flow))
    for path, value in mutations:
        parent = flow
        try:
            for key in path[:-1]:
                parent = parent[key]
            if value is REMOVE:
                del parent[path[-1]]
            else:
                parent[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation moved that place away
    return flow


REMOVE = object()
near_valid_flows = st.lists(
    st.tuples(st.sampled_from(_paths(VALID_FLOW)), json_values | st.just(REMOVE)),
    min_size=1,
    max_size=3,
).map(lambda mutations: _mutate(VALID_FLOW, mutations))
generated_flows = malformed_flows | near_valid_flows


def outcome(label: str, response) -> str:
    """`POST /flows 201`, or with the error code: `POST /dev/deploy 400 compile_error`."""
    if response.status_code < 400:
        return f"{label} {response.status_code}"
    return f"{label} {response.status_code} {response.json()['detail']['error']}"


def assert_not_a_server_error(response) -> None:
    assert response.status_code != 500, response.content[:500]
    if 400 <= response.status_code < 500:
        assert_error_body(response)
    elif response.status_code >= 500:  # an upstream error (502): still SPEC §2's body
        assert response.json()["detail"]["error"]


def run_generated_flows(clients, examples: int, capsys) -> Counter:
    """Save, compile and legacy-deploy each generated flow; tally the answers."""
    tally: Counter = Counter()

    @given(flow=generated_flows)
    @settings(
        max_examples=examples,
        derandomize=True,  # the same flows on every run and machine
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(flow):
        tally["flows"] += 1
        saved = clients["user"].post(FLOWS, {"name": "Fuzz", "content": flow}, format="json")
        assert_not_a_server_error(saved)
        tally[outcome("POST /flows", saved)] += 1
        if saved.status_code == 201:
            compiled = clients["user"].post(f"{FLOWS}/{saved.json()['id']}/compile")
            assert_not_a_server_error(compiled)
            tally[outcome("POST compile", compiled)] += 1
        deployed = clients["service"].post(LEGACY, {"content": flow}, format="json")
        assert_not_a_server_error(deployed)
        tally[outcome("POST /dev/deploy", deployed)] += 1

    check()
    with capsys.disabled():
        print(f"\ngenerated malformed flows: {dict(sorted(tally.items()))}")
    assert not any(" 500 " in label for label in tally)
    return tally


def test_generated_malformed_flows_are_never_a_500(clients, capsys):
    tally = run_generated_flows(clients, FAST_EXAMPLES, capsys)
    assert tally["flows"] >= FAST_EXAMPLES


@pytest.mark.reliability
def test_a_thousand_generated_malformed_flows_are_never_a_500(clients, capsys):
    tally = run_generated_flows(clients, FULL_EXAMPLES, capsys)
    assert tally["flows"] >= FULL_EXAMPLES
