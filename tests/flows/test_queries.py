"""List endpoints cost the same number of queries whatever the page size."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from flows.services import flow_update
from tests.flows.conftest import graph_variant

FLOWS = "/api/v1/flows"
# Authentication (the tenant), the page's count, the page itself, its latest deployments.
LIST_QUERIES = 4
# Authentication, the flow, the count, the page.
VERSIONS_QUERIES = 4


def queries_of(client, url: str, **params) -> int:
    client.get(url, params)  # the tenant exists after a first request; count steady state
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params)
    assert response.status_code == 200, response.content
    return len(captured)


@pytest.fixture
def many_flows(make_flow):
    return [make_flow(name=f"Flow {n}") for n in range(30)]


def test_the_flow_list_query_count_does_not_grow_with_the_page(
    acme_user, many_flows, django_assert_max_num_queries
):
    acme_user.get(FLOWS)
    with django_assert_max_num_queries(LIST_QUERIES):
        response = acme_user.get(FLOWS, {"page_size": 30})
    assert len(response.json()["results"]) == 30
    assert queries_of(acme_user, FLOWS, page_size=2) == queries_of(acme_user, FLOWS, page_size=30)


def test_the_search_query_count_does_not_grow_with_the_page(acme_user, many_flows):
    small = queries_of(acme_user, FLOWS, page_size=1, search="flow")
    large = queries_of(acme_user, FLOWS, page_size=30, search="flow")
    assert small == large <= LIST_QUERIES


def test_the_version_list_query_count_does_not_grow_with_the_page(
    acme_user, make_flow, django_assert_max_num_queries
):
    flow = make_flow()
    for n in range(2, 21):
        flow = flow_update(flow=flow, actor="a", content=graph_variant(str(n)))
    url = f"{FLOWS}/{flow.public_id}/versions"
    acme_user.get(url)
    with django_assert_max_num_queries(VERSIONS_QUERIES):
        response = acme_user.get(url, {"page_size": 20})
    assert len(response.json()["results"]) == 20
    assert queries_of(acme_user, url, page_size=2) == queries_of(acme_user, url, page_size=20)
