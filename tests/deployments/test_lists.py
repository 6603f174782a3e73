"""The unbounded lists (deployments, a flow's deployments, audit) page by cursor on
(created_at, id): every row once, in order, whatever the depth; `?page=` for the first pages."""

from __future__ import annotations

import base64
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from deployments.models import Deployment, Status
from scaiflow.core.pagination import KeysetPagination
from tenants.models import AuditEntry

START = timezone.now() - timedelta(days=30)


def add_deployments(tenant, flow, count: int, *, status=Status.SUCCEEDED) -> list[str]:
    """`count` records, three to a timestamp (ties are broken by id); newest first."""
    made = Deployment.objects.bulk_create(
        Deployment(tenant=tenant, flow=flow, flow_name="Echo bot", status=status, actor="t")
        for _ in range(count)
    )
    for n, deployment in enumerate(made):
        Deployment.objects.filter(pk=deployment.pk).update(
            created_at=START + timedelta(minutes=n // 3)
        )
    rows = Deployment.objects.filter(pk__in=[d.pk for d in made])
    return list(rows.order_by("-created_at", "-pk").values_list("pk", flat=True))


def walk(client, url: str, link: str = "next", **params) -> tuple[list, list[dict]]:
    """Every id on every page, following `link`; and each page's body."""
    ids, bodies = [], []
    response = client.get(url, params)
    while True:
        assert response.status_code == 200, response.content
        body = response.json()
        bodies.append(body)
        ids.extend(item["id"] for item in body["results"])
        if not body[link]:
            return ids, bodies
        response = client.get(body[link])


def cursor_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["cursor"][0]


@pytest.fixture
def records(acme, flow):
    return add_deployments(acme, flow, 25)


def test_next_walks_every_record_once_in_order(acme_user, records):
    ids, bodies = walk(acme_user, "/api/v1/deployments", page_size=4)
    assert ids == records
    assert len(bodies) == 7
    assert bodies[0]["previous"] is None
    assert all(body["count"] == 25 and not body["count_capped"] for body in bodies)
    assert "page=" not in bodies[1]["previous"]


def test_previous_walks_back_to_the_first_page(acme_user, records):
    _, bodies = walk(acme_user, "/api/v1/deployments", page_size=4)
    last = bodies[-1]
    _, back_bodies = walk(acme_user, last["previous"], link="previous")
    assert back_bodies[-1]["previous"] is None
    pages = [[item["id"] for item in body["results"]] for body in back_bodies]
    assert [i for page in reversed(pages) for i in page] == records[:-1]
    assert pages[-1] == records[:4]
    assert back_bodies[0]["next"] is not None


def test_the_filtered_and_the_flow_lists_page_by_cursor(acme, acme_user, flow, make_flow):
    add_deployments(acme, flow, 7, status=Status.FAILED)
    other = add_deployments(acme, make_flow(name="Other"), 5)
    failed, _ = walk(acme_user, "/api/v1/deployments", page_size=2, status="failed")
    assert len(failed) == 7
    assert set(Deployment.objects.filter(pk__in=failed).values_list("status", flat=True)) == {
        Status.FAILED
    }
    never_deployed = make_flow(name="Draft")
    assert walk(acme_user, f"/api/v1/flows/{never_deployed.public_id}/deployments")[0] == []
    flow_ids, _ = walk(acme_user, f"/api/v1/flows/{flow.public_id}/deployments", page_size=3)
    assert len(flow_ids) == 7 and not set(flow_ids) & set(other)


def test_the_first_pages_keep_their_numbers(acme_user, records):
    second = acme_user.get("/api/v1/deployments", {"page": 2, "page_size": 4}).json()
    assert [item["id"] for item in second["results"]] == records[4:8]
    assert cursor_of(second["next"]) and "page=" not in second["next"]
    following = acme_user.get(second["next"]).json()
    assert [item["id"] for item in following["results"]] == records[8:12]
    assert acme_user.get("/api/v1/deployments", {"page": 9}).status_code == 404


def test_a_page_past_the_tenth_is_a_400_naming_the_cursor(acme_user, records):
    response = acme_user.get("/api/v1/deployments", {"page": 11})
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail["error"] == "invalid_request"
    assert "cursor" in detail["message"] and "page" in detail["fields"]


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "nonsense",
        "bnwyMDI2LTAxLTAxfGRlcF8x",
        "x" * 500,
        "cHwyMDI2LTEzLTAxVDAwOjAwOjAwKzAwOjAwfGE",
    ],
)
def test_a_cursor_not_given_out_is_a_400(acme_user, records, cursor):
    response = acme_user.get("/api/v1/deployments", {"cursor": cursor})
    assert response.status_code == 400
    assert response.json()["detail"]["fields"] == {"cursor": ["Not a cursor of this list."]}


def with_trailing_newline(cursor: str) -> str:
    """`cursor` with a newline after its id, encoded again."""
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    return base64.urlsafe_b64encode(f"{raw}\n".encode()).decode().rstrip("=")


@pytest.mark.parametrize("url", ["/api/v1/deployments", "/api/v1/audit"])
def test_a_cursor_whose_id_ends_in_a_newline_is_a_400(acme, acme_user, records, url):
    # `$` matches before a final newline: a cursor's id must match to its very end.
    AuditEntry.objects.bulk_create(AuditEntry(tenant=acme, kind="flow.updated") for _ in range(3))
    link = acme_user.get(url, {"page_size": 2}).json()["next"]
    assert acme_user.get(url, {"cursor": cursor_of(link)}).status_code == 200
    response = acme_user.get(url, {"cursor": with_trailing_newline(cursor_of(link))})
    assert response.status_code == 400
    assert response.json()["detail"]["error"] == "invalid_request"
    assert response.json()["detail"]["fields"] == {"cursor": ["Not a cursor of this list."]}


@pytest.mark.parametrize("param", ["page", "page_size"])
def test_a_page_number_with_a_trailing_newline_is_refused(acme_user, records, param):
    response = acme_user.get("/api/v1/deployments", {param: "2\n"})
    assert response.status_code == (404 if param == "page" else 400)


def test_page_and_cursor_together_is_a_400(acme_user, records):
    link = acme_user.get("/api/v1/deployments", {"page_size": 2}).json()["next"]
    response = acme_user.get("/api/v1/deployments", {"page": 1, "cursor": cursor_of(link)})
    assert response.status_code == 400
    assert "page" in response.json()["detail"]["fields"]


def test_the_count_is_capped(acme, acme_user, flow, monkeypatch):
    monkeypatch.setattr(KeysetPagination, "count_cap", 10)
    add_deployments(acme, flow, 12)
    body = acme_user.get("/api/v1/deployments").json()
    assert (body["count"], body["count_capped"], len(body["results"])) == (10, True, 12)


def test_another_tenants_cursor_shows_nothing_of_theirs(acme_user, globex_user, records):
    link = acme_user.get("/api/v1/deployments", {"page_size": 2}).json()["next"]
    body = globex_user.get("/api/v1/deployments", {"cursor": cursor_of(link)}).json()
    assert body["results"] == [] and body["next"] is None


def test_the_audit_list_pages_by_cursor_with_its_filters(acme, acme_user):
    entries = AuditEntry.objects.bulk_create(
        AuditEntry(tenant=acme, kind="flow.updated" if n % 2 else "flow.created", actor="a")
        for n in range(30)
    )
    for n, entry in enumerate(entries):
        AuditEntry.objects.filter(pk=entry.pk).update(created_at=START + timedelta(seconds=n // 4))
    newest_first = list(
        AuditEntry.objects.filter(tenant=acme)
        .order_by("-created_at", "-id")
        .values_list("id", flat=True)
    )
    ids, bodies = walk(acme_user, "/api/v1/audit", page_size=7)
    assert ids == newest_first and len(bodies) == 5
    updated, _ = walk(acme_user, "/api/v1/audit", page_size=4, kind="flow.updated")
    assert updated == [
        i for i in newest_first if AuditEntry.objects.get(pk=i).kind == "flow.updated"
    ]
    back, _ = walk(acme_user, bodies[-1]["previous"], link="previous")
    assert sorted(back) == sorted(newest_first[:28])
