"""The changelists of the tables that grow without end: one COUNT, no date drill-down, filters
whose choices do not come from the table, and id search by prefix."""

import re

from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.admin.conftest import make_deployment
from tests.docs.test_doc_coverage import SPEC_DEPLOY_MATRIX

DEPLOYMENTS = "/admin/deployments/deployment/"
AUDIT = "/admin/tenants/auditentry/"


def listed(client, url, **params) -> str:
    response = client.get(url, params)
    assert response.status_code == 200
    return response.content.decode()


def test_search_finds_a_deployment_by_its_id_or_a_prefix(admin_client, acme_flow):
    wanted = make_deployment(acme_flow)
    other = make_deployment(acme_flow)
    for term in (wanted.pk, wanted.pk[:12]):
        page = listed(admin_client, DEPLOYMENTS, q=term)
        assert wanted.pk in page and (other.pk not in page or other.pk.startswith(term))
    assert wanted.pk not in listed(admin_client, DEPLOYMENTS, q=wanted.pk[4:])


def test_search_finds_a_flows_deployments_by_the_flow_id(admin_client, acme_flow, globex_flow):
    ours, theirs = make_deployment(acme_flow), make_deployment(globex_flow)
    page = listed(admin_client, DEPLOYMENTS, q=acme_flow.public_id)
    assert ours.pk in page and theirs.pk not in page


def test_search_by_error_code_is_exact(admin_client, acme_flow):
    failed = make_deployment(acme_flow, status="publish_failed")
    assert failed.pk in listed(admin_client, DEPLOYMENTS, q="scaicore_publish_failed")
    assert failed.pk not in listed(admin_client, DEPLOYMENTS, q="publish")


def test_no_date_drilldown_and_one_count(admin_client, acme_flow):
    make_deployment(acme_flow)
    for url in (DEPLOYMENTS, AUDIT):
        with CaptureQueriesContext(connection) as captured:
            page = listed(admin_client, url)
        sql = [query["sql"].upper() for query in captured]
        assert "xfull-date-hierarchy" not in page and "date_hierarchy" not in page
        assert sum("COUNT(" in q for q in sql) == 1, url
        assert not any("DISTINCT" in q for q in sql), url


def test_the_error_code_filter_offers_the_codes_without_reading_the_table(admin_client, acme_flow):
    page = listed(admin_client, DEPLOYMENTS)
    # No deployment failed this way, yet it is offered: the choices come from the code.
    assert "?error_code=scaiqueue_provision_failed" in page
    other = make_deployment(acme_flow, status="publish_failed")
    assert other.pk not in listed(
        admin_client, DEPLOYMENTS, error_code="scaiqueue_provision_failed"
    )
    assert other.pk in listed(admin_client, DEPLOYMENTS, error_code="scaicore_publish_failed")


# SPEC §4's error matrix but for the refusal answered before any record is written, and what
# else a deploy's record is closed with.
DEPLOY_ENDINGS = SPEC_DEPLOY_MATRIX - {"idempotency_key_reused"} | {
    "deploy_abandoned",
    "database_unavailable",
    "internal_error",
}


def test_the_error_code_filter_offers_only_what_a_deploy_can_end_with(admin_client):
    offered = re.findall(r'href="\?error_code=([a-z_]+)"', listed(admin_client, DEPLOYMENTS))
    assert sorted(offered) == sorted(DEPLOY_ENDINGS)
    for code in ("method_not_allowed", "not_acceptable", "not_authenticated", "throttled"):
        assert code not in offered


def test_audit_search_is_by_exact_target_actor_or_request_id(admin_client, acme_flow):
    row = 'class="field-target">' + acme_flow.public_id
    assert row in listed(admin_client, AUDIT, q=acme_flow.public_id)
    assert row in listed(admin_client, AUDIT, q="test")  # the actor
    assert row not in listed(admin_client, AUDIT, q=acme_flow.public_id[:8])


def test_past_the_exact_count_the_list_still_pages(admin_client, acme_flow, monkeypatch):
    from scaiflow.admin import EstimatedCountPaginator

    monkeypatch.setattr(EstimatedCountPaginator, "exact_up_to", 2)
    made = [make_deployment(acme_flow) for _ in range(4)]
    page = listed(admin_client, DEPLOYMENTS)
    assert all(deployment.pk in page for deployment in made)
    paginator = page.split('class="paginator"')[1]
    if connection.vendor == "postgresql":
        # The planner's estimate: a number of deployments, not a count of the rows.
        assert re.search(r"\d+ deployments", paginator)
    else:
        assert "4 deployments" in paginator
