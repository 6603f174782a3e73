"""Schema conformance: schemathesis runs every operation of the OpenAPI schema, in process
against the WSGI app, with authenticated calls and all its default checks (no server error;
status codes, content types, headers and bodies as the schema declares them; negative data
rejected; positive data accepted; ignored auth...).

Upstreams are devstack (real HTTP on 127.0.0.1), so deploys, rollbacks and live events run
their real code paths and never reach the internet. Every example runs in a savepoint that is
rolled back, so each starts from the same seed: a flow with two versions, deployed once, in
the caller's tenant. Half the generated flow and deployment ids are swapped for the seeded
ones (deterministically), so operations run on objects that exist, not only on 404s.

The fast slice (a few examples per operation) runs in `make test`; the full run is marked
`reliability`.
"""

from __future__ import annotations

import copy
from collections import Counter
from contextlib import contextmanager

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, settings
from rest_framework.test import APIClient
from schemathesis.config import SchemathesisConfig

from flows.services import flow_create, flow_update
from tenants.services import tenant_get_or_create
from tests.conftest import API_TOKEN
from tests.deployments.conftest import SIMPLE_FLOW

FAST_EXAMPLES = 3
FULL_EXAMPLES = 100
LEGACY_PATH = "/api/v1/dev/deploy"

# A schema-valid request may still be refused for what no schema can say: the FlowGraph does
# not compile (400 `compile_error`), If-Match names an old version or the tenant has no
# ScaiGrid key (412), the Idempotency-Key was used for another body (422), the base URL's host
# is not allowed (400), `since` or `cursor` is not a cursor this API gave, or comes with `page`
# (400). Those operations accept these statuses for valid data too.
ACCEPTED = ["2xx", "401", "403", "404", "409", "429", "5xx"]
CONFIG = SchemathesisConfig.from_dict(
    {
        "operations": [
            {
                "include-operation-id": ["flows_deploy", "deployments_rollback", "dev_deploy"],
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": [*ACCEPTED, 400, 412, 422]}
                },
            },
            {
                "include-operation-id": ["flows_replace", "flows_partial_update", "flows_destroy"],
                "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, 412]}},
            },
            {
                "include-operation-id": [
                    "tenants_me_scaigrid_credentials_set",
                    "scaicore_events",
                    "deployments_list",
                    "flows_deployments_list",
                    "audit_list",
                ],
                "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, 400]}},
            },
        ]
    }
)
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application(), config=CONFIG)


@contextmanager
def keeping_the_connection():
    """schemathesis calls the WSGI app itself, not through Django's test client, so Django's
    request signals fire and would close the test's connection (mid-transaction) after the
    call; Django's test client disconnects that handler around each request for this reason."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def seed(db, devstack_settings, settings) -> dict:
    """acme with a flow (two versions) deployed once; the tokens to call with."""
    settings.SCAIFLOW_DEPLOY_RATE = "100000/min"
    settings.SCAIFLOW_DEPLOY_TENANT_RATE = "100000/min"
    settings.SCAIGRID_API_KEY = devstack_settings.api_key  # for the legacy shared-token path
    settings.SCAIFLOW_DEFAULT_TENANT = "acme"
    tenant = tenant_get_or_create(slug="acme")
    flow = flow_create(
        tenant=tenant, name="Echo bot", content=copy.deepcopy(SIMPLE_FLOW), actor="scaikey:ada"
    )
    changed = copy.deepcopy(SIMPLE_FLOW)
    changed["nodes"][2]["data"]["value"] = "v2: {{answer.text}}"
    flow = flow_update(flow=flow, actor="scaikey:ada", content=changed, if_match=None)
    jwt = devstack_settings.mint_token(tenant="acme", sub="ada", roles=["tenant_admin"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {jwt}")
    deployed = client.post(f"/api/v1/flows/{flow.public_id}/deploy", {}, format="json")
    assert deployed.status_code == 201, deployed.content
    return {"flow_id": flow.public_id, "deployment_id": deployed.json()["id"], "jwt": jwt}


@pytest.fixture(scope="module")
def tallies(request):
    """Calls made and statuses answered per run (fast, full), reported when the module ends."""
    runs: dict[str, Counter] = {"fast": Counter(), "full": Counter()}
    yield runs
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    for run_name, counts in runs.items():
        if not counts:
            continue
        operations = sum(1 for label in counts if label.startswith("operation "))
        statuses = {k: v for k, v in sorted(counts.items()) if k.startswith("status ")}
        with capture.global_and_fixture_disabled():
            print(
                f"\nschemathesis ({run_name}): {counts['calls']} calls, "
                f"{operations} operations, {statuses}"
            )


def call_and_validate(case, seed: dict, tally: Counter) -> None:
    params = case.path_parameters or {}
    # Only in schema-valid cases: a negative case must keep the invalid id it was made with.
    positive = case.meta is None or case.meta.generation.mode.is_positive
    for name in ("flow_id", "deployment_id"):
        if positive and name in params and len(str(params[name])) % 2 == 0:
            params[name] = seed[name]
    token = API_TOKEN if case.path == LEGACY_PATH else seed["jwt"]
    with keeping_the_connection(), transaction.atomic():
        try:
            response = case.call_and_validate(headers={"Authorization": f"Bearer {token}"})
        finally:
            transaction.set_rollback(True)
    tally["calls"] += 1
    tally[f"operation {case.operation.label}"] += 1
    tally[f"status {response.status_code}"] += 1


def run(examples: int) -> settings:
    """Deterministic (CI runs twice and must see the same cases), no deadline on a busy box."""
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )


@schema.parametrize()
@run(FAST_EXAMPLES)
def test_every_operation_conforms(case, seed, tallies):
    call_and_validate(case, seed, tallies["fast"])


@pytest.mark.reliability
@schema.parametrize()
@run(FULL_EXAMPLES)
def test_every_operation_conforms_full(case, seed, tallies):
    call_and_validate(case, seed, tallies["full"])


# --- What the runs above found, pinned down -------------------------------------------------


def test_options_answers_on_views_without_a_serializer_class(acme_user):
    """OPTIONS went through DRF's metadata, which needs `serializer_class`: it was a 500."""
    response = acme_user.options("/api/v1/flows/flw_nothing/compile")
    assert response.status_code == 200
    assert response.json()["name"] == "Flow Compile"


@pytest.mark.parametrize("page_size", ["0", "201", "null", "-1", "1.5"])
def test_a_bad_page_size_is_a_400_not_the_default(acme_user, page_size):
    """DRF ignored a bad page_size and answered the default page: the schema says integer."""
    response = acme_user.get("/api/v1/flows", {"page_size": page_size})
    assert response.status_code == 400
    assert response.json()["detail"]["fields"] == {"page_size": ["A whole number from 1 to 200."]}


@pytest.mark.parametrize("page", ["", "0", "last", "one", "9" * 5000])
def test_a_bad_page_is_a_404_not_the_first_page(acme_user, page):
    """`?page=` answered the first page though the schema says an integer from 1; thousands
    of digits were a 500 (int() refuses them)."""
    response = acme_user.get("/api/v1/audit", {"page": page})
    assert response.status_code == 404
    assert response.json()["detail"] == {"error": "not_found", "message": "No such page."}


def test_a_page_past_the_last_is_a_404(acme_user):
    assert acme_user.get("/api/v1/flows", {"page": "2"}).status_code == 404


def test_request_strings_say_they_hold_no_nul_and_are_not_blank(openapi, acme_user):
    """DRF refuses NUL, and blank once trimmed: schema-valid names ("\\n") were rejected
    until the schema said so."""
    name = openapi["components"]["schemas"]["FlowCreateInputRequest"]["properties"]["name"]
    assert name["pattern"] == r"^[^\x00]*[^\x00\s][^\x00]*$"
    for bad in ("a\x00b", "\n", "  "):
        response = acme_user.post("/api/v1/flows", {"name": bad, "content": {}}, format="json")
        assert response.status_code == 400, bad


def test_a_good_page_size_still_pages(acme_user):
    assert acme_user.get("/api/v1/flows", {"page_size": "200"}).status_code == 200


@pytest.mark.parametrize("name", ["until", "since", "kind", "actor"])
def test_a_blank_audit_filter_is_a_400(acme_user, name):
    """A blank filter was silently dropped (DRF's form handling) though the schema forbids it."""
    response = acme_user.get("/api/v1/audit", {name: ""})
    assert response.status_code == 400
    assert name in response.json()["detail"]["fields"]


def test_a_blank_deployment_status_filter_is_a_400(acme_user):
    """`?status=` listed every deployment though the schema allows only the four statuses."""
    response = acme_user.get("/api/v1/deployments", {"status": ""})
    assert response.status_code == 400


@pytest.fixture
def openapi(client) -> dict:
    return client.get("/api/schema/", HTTP_ACCEPT="application/json").json()


def operations(openapi: dict):
    for path, methods in openapi["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", operation


def test_every_error_response_has_the_spec_error_body(openapi):
    assert set(openapi["components"]["schemas"]["ErrorDetail"]["required"]) == {"error", "message"}
    for label, operation in operations(openapi):
        for code, response in operation["responses"].items():
            if code >= "400":
                body = response["content"]["application/json"]["schema"]
                assert body == {"$ref": "#/components/schemas/Error"}, (label, code)


def test_every_operation_declares_401_and_every_response_the_request_id(openapi):
    for label, operation in operations(openapi):
        assert "WWW-Authenticate" in operation["responses"]["401"]["headers"], label
        for code, response in operation["responses"].items():
            assert response["headers"]["X-Request-ID"]["required"], (label, code)


def test_a_non_json_accept_header_is_a_406_every_operation_declares(openapi, acme_user):
    response = acme_user.get("/api/v1/flows", HTTP_ACCEPT="application/xml")
    assert response.status_code == 406
    assert response.json()["detail"]["error"] == "not_acceptable"
    assert all("406" in operation["responses"] for _, operation in operations(openapi))


def test_deploy_declares_the_spec_error_matrix(openapi):
    deploy = openapi["paths"]["/api/v1/flows/{flow_id}/deploy"]["post"]["responses"]
    assert {
        "201",
        "400",
        "401",
        "404",
        "406",
        "409",
        "412",
        "413",
        "415",
        "422",
        "429",
        "502",
        "503",
    } == set(deploy)
    assert "Retry-After" in deploy["429"]["headers"]
    assert "Location" in deploy["201"]["headers"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/flows/a%00b",
        "/api/v1/flows/a%00b/versions",
        "/api/v1/deployments/a%00b",
        "/api/v1/flows/" + "x" * 65,
    ],
)
def test_an_id_with_a_nul_is_a_404_not_a_500(acme_user, path):
    """PostgreSQL cannot compare a string holding NUL: the lookup was a 500 there."""
    response = acme_user.get(path)
    assert response.status_code == 404
    assert response.json()["detail"]["error"] == "not_found"


def test_a_search_with_a_nul_is_a_400_not_a_500(acme_user):
    response = acme_user.get("/api/v1/flows", {"search": "a\x00b"})
    assert response.status_code == 400
    assert response.json()["detail"]["fields"] == {"search": ["Null characters are not allowed."]}
