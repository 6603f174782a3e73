"""`GET /api/v1/scaicore/events` (SPEC §3 "Live events"), with ScaiGrid mocked at the seam."""

from __future__ import annotations

import base64
import json
import threading
import time
from unittest import mock
from urllib.parse import parse_qs, urlparse

import pytest
from django.db import connection
from responses import matchers

from deployments import events, events_api
from deployments.events import (
    MAX_CURSOR_CHARS,
    cursor_decode,
    cursor_encode,
    scaicore_events_poll,
)
from deployments.models import Deployment, Status
from scaiflow.identity.principal import AUTH_MODE_SCAIKEY, Principal
from tenants import authentication as authn
from tests.deployments.conftest import GRID

EVENTS_URL = f"{GRID}/v1/modules/scaicore/events"
PATH = "/api/v1/scaicore/events"


def record(flow, core_id, status=Status.SUCCEEDED):
    return Deployment.objects.create(
        tenant=flow.tenant,
        flow=flow,
        flow_name=flow.name,
        flow_version=1,
        status=status,
        core_id=core_id,
        actor="test",
    )


def event(core_id, number, timestamp):
    return {"id": f"evt_{core_id}_{number}", "core_id": core_id, "timestamp": timestamp}


def answer(mock_, core_id, events_, cursor, *, since=None, status=200, body=None):
    params = {"core_id": core_id, **({"since": since} if since else {})}
    mock_.get(
        EVENTS_URL,
        match=[matchers.query_param_matcher(params)],
        status=status,
        json=body if body is not None else {"events": events_, "cursor": cursor},
    )


def upstream_calls(mock_):
    return [c for c in mock_.calls if c.request.url.startswith(EVENTS_URL)]


def poll(client, flow, since=None):
    params = {"flow_id": flow.public_id}
    if since is not None:
        params["since"] = since
    return client.get(PATH, params)


@pytest.fixture
def two_cores(flow, upstream):
    record(flow, "core_a")
    record(flow, "core_b")
    record(flow, "core_a")  # a redeploy of the same Core: asked once
    answer(upstream, "core_a", [event("a", 1, "2026-01-01T00:00:01Z"),
                                event("a", 2, "2026-01-01T00:00:03Z")], "ca1")  # fmt: skip
    answer(upstream, "core_b", [event("b", 1, "2026-01-01T00:00:02Z"),
                                event("b", 2, "2026-01-01T00:00:03Z")], "cb1")  # fmt: skip
    return flow


class TestGate:
    def test_the_shared_token_gets_scaikey_required(self, service_client, flow, upstream):
        response = poll(service_client, flow)

        assert response.status_code == 403
        assert response.json()["detail"]["error"] == "scaikey_required"
        assert "ScaiKey" in response.json()["detail"]["fix"]
        assert upstream_calls(upstream) == []

    def test_no_credentials_is_401(self, anonymous_client, flow):
        assert poll(anonymous_client, flow).status_code == 401

    def test_flow_id_is_required(self, acme_user):
        response = acme_user.get(PATH)

        assert response.status_code == 400
        assert response.json()["detail"]["error"] == "invalid_request"
        assert "flow_id" in response.json()["detail"]["fields"]

    def test_another_tenants_flow_is_not_found(self, globex_user, two_cores, upstream):
        response = poll(globex_user, two_cores)

        assert response.status_code == 404
        assert response.json()["detail"]["error"] == "not_found"
        assert upstream_calls(upstream) == []


class TestQuery:
    def test_a_plain_query_skips_the_serializer(self, acme_user, two_cores, upstream):
        with mock.patch.object(events_api, "EventsQuery", side_effect=AssertionError("built")):
            first = poll(acme_user, two_cores)
            assert first.status_code == 200
            answer(upstream, "core_a", [], "ca2", since="ca1")
            answer(upstream, "core_b", [], "cb2", since="cb1")
            assert poll(acme_user, two_cores, since=first.json()["cursor"]).status_code == 200

    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({"flow_id": "flw_1"}, ("flw_1", None)),
            ({"flow_id": "flw_1", "since": ""}, ("flw_1", None)),
            ({"flow_id": "flw_1", "since": "e30"}, ("flw_1", "e30")),
            ({"flow_id": " flw_1 ", "since": "e30"}, ("flw_1", "e30")),  # the serializer's
        ],
    )
    def test_queries_read_the_same_either_way(self, params, expected):
        from django.http import QueryDict

        query = QueryDict(mutable=True)
        query.update(params)
        assert events_api.events_query(query) == expected
        serializer = events_api.EventsQuery(data=query)
        assert serializer.is_valid()
        data = serializer.validated_data
        assert (data["flow_id"], data.get("since") or None) == expected

    def test_a_cursor_longer_than_any_the_api_gives_is_400(self, acme_user, two_cores, upstream):
        since = "a" * (MAX_CURSOR_CHARS + 1)  # plain characters, as the fast path reads them
        response = poll(acme_user, two_cores, since=since)

        assert response.status_code == 400
        assert "since" in response.json()["detail"]["fields"]

    @pytest.mark.parametrize("flow_id", ["", "x" * 65, "flw\x00", "   "])
    def test_a_bad_flow_id_is_400(self, acme_user, upstream, flow_id):
        response = acme_user.get(PATH, {"flow_id": flow_id})

        assert response.status_code == 400
        assert "flow_id" in response.json()["detail"]["fields"]


class TestMerge:
    def test_events_of_every_core_merged_in_time_order(self, acme_user, two_cores, upstream):
        response = poll(acme_user, two_cores)

        assert response.status_code == 200, response.content
        body = response.json()
        # Equal timestamps keep the Cores' order (core_a before core_b): a stable tie-break.
        assert [e["id"] for e in body["events"]] == ["evt_a_1", "evt_b_1", "evt_a_2", "evt_b_2"]
        assert body["errors"] == []
        assert cursor_decode(body["cursor"]) == {"core_a": "ca1", "core_b": "cb1"}
        assert len(upstream_calls(upstream)) == 2

    def test_the_callers_jwt_and_request_id_go_upstream(self, acme_user, two_cores, upstream):
        acme_user.get(PATH, {"flow_id": two_cores.public_id}, HTTP_X_REQUEST_ID="req-events-1")

        for call in upstream_calls(upstream):
            assert call.request.headers["Authorization"] == f"Bearer {acme_user.token}"
            # Asked from worker threads: the request id still travels with them.
            assert call.request.headers["X-Request-ID"] == "req-events-1"

    def test_a_flow_without_cores_has_no_events(self, acme_user, flow, upstream):
        record(flow, "", status=Status.FAILED)

        response = poll(acme_user, flow)

        assert response.status_code == 200
        assert response.json()["events"] == []
        assert cursor_decode(response.json()["cursor"]) == {}
        assert upstream_calls(upstream) == []

    def test_constant_number_of_queries(
        self, acme_user, flow, upstream, django_assert_max_num_queries
    ):
        for index in range(6):
            record(flow, f"core_{index}")
            answer(upstream, f"core_{index}", [], f"c{index}")
        # Authentication (tenant lookup), the flow, its Cores, the tenant's base URL.
        with django_assert_max_num_queries(5):
            response = poll(acme_user, flow)
        assert response.status_code == 200
        assert len(upstream_calls(upstream)) == 6


class TestCursor:
    def test_round_trip_sends_each_cores_position(self, acme_user, two_cores, upstream):
        first = poll(acme_user, two_cores).json()
        answer(upstream, "core_a", [event("a", 3, "2026-01-01T00:00:05Z")], "ca2", since="ca1")
        answer(upstream, "core_b", [], "cb1", since="cb1")

        second = poll(acme_user, two_cores, since=first["cursor"])

        assert second.status_code == 200, second.content
        assert [e["id"] for e in second.json()["events"]] == ["evt_a_3"]
        assert cursor_decode(second.json()["cursor"]) == {"core_a": "ca2", "core_b": "cb1"}
        sent = [parse_qs(urlparse(c.request.url).query) for c in upstream_calls(upstream)[2:]]
        assert sorted((q["core_id"][0], q["since"][0]) for q in sent) == [
            ("core_a", "ca1"),
            ("core_b", "cb1"),
        ]

    @pytest.mark.parametrize(
        "since",
        [
            "not base64!",
            base64.urlsafe_b64encode(b"[1, 2]").decode(),
            base64.urlsafe_b64encode(b'{"core_a": 7}').decode(),
            base64.urlsafe_b64encode(b"\xff\xfe").decode(),
            "x" * 20_000,
        ],
    )
    def test_a_malformed_cursor_is_400(self, acme_user, two_cores, upstream, since):
        response = poll(acme_user, two_cores, since=since)

        assert response.status_code == 400
        assert response.json()["detail"]["error"] == "invalid_request"
        assert upstream_calls(upstream) == []

    def test_encoding_round_trips(self):
        positions = {"core_a": "evt:12", "core_b": "x/y+z="}
        assert cursor_decode(cursor_encode(positions)) == positions


class TestUpstreamFailure:
    def test_one_failing_core_does_not_hide_the_others(self, acme_user, flow, upstream):
        record(flow, "core_a")
        record(flow, "core_b")
        answer(upstream, "core_a", [event("a", 1, "2026-01-01T00:00:01Z")], "ca1")
        answer(upstream, "core_b", None, None, status=404, body={"message": "core not found"})

        response = poll(acme_user, flow)

        assert response.status_code == 200
        body = response.json()
        assert [e["id"] for e in body["events"]] == ["evt_a_1"]
        assert body["errors"] == [{"core_id": "core_b", "status": 404, "message": "core not found"}]

    def test_a_failing_core_keeps_its_position(self, acme_user, flow, upstream):
        record(flow, "core_a")
        record(flow, "core_b")
        answer(upstream, "core_a", [], "ca2", since="ca1")
        answer(upstream, "core_b", None, None, since="cb1", status=403, body={"error": "nope"})

        response = poll(acme_user, flow, since=cursor_encode({"core_a": "ca1", "core_b": "cb1"}))

        assert cursor_decode(response.json()["cursor"]) == {"core_a": "ca2", "core_b": "cb1"}

    def test_all_failing_is_502_with_the_upstream_status(self, acme_user, flow, upstream):
        record(flow, "core_a")
        answer(upstream, "core_a", None, None, status=403, body={"message": "need scaigrid:events"})

        response = poll(acme_user, flow)

        assert response.status_code == 502
        detail = response.json()["detail"]
        assert detail["error"] == "scaicore_events_failed"
        assert detail["status"] == 403


class TestCache:
    def test_an_identical_poll_within_the_window_is_served_from_the_cache(
        self, acme_user, two_cores, upstream
    ):
        first = poll(acme_user, two_cores)
        second = poll(acme_user, two_cores)

        assert second.json() == first.json()
        assert len(upstream_calls(upstream)) == 2  # one per Core, once

    def test_after_the_window_upstream_is_asked_again(self, acme_user, two_cores, upstream):
        clock = [1_000_000.0]
        with mock.patch.object(events.time, "time", lambda: clock[0]):
            poll(acme_user, two_cores)
            clock[0] += 1.9
            poll(acme_user, two_cores)
            assert len(upstream_calls(upstream)) == 2
            clock[0] += 0.2
            poll(acme_user, two_cores)
        assert len(upstream_calls(upstream)) == 4

    def test_a_window_of_zero_turns_the_cache_off(self, settings, acme_user, two_cores, upstream):
        settings.SCAIFLOW_EVENTS_CACHE_SECONDS = 0
        poll(acme_user, two_cores)
        poll(acme_user, two_cores)
        assert len(upstream_calls(upstream)) == 4

    def test_another_principal_is_never_served_someone_elses_answer(
        self, acme_user, make_token, two_cores, upstream
    ):
        from tests.conftest import _client

        bob = _client(make_token(tenant="acme", sub="bob"))
        poll(acme_user, two_cores)
        poll(bob, two_cores)

        calls = upstream_calls(upstream)
        assert len(calls) == 4
        assert {c.request.headers["Authorization"] for c in calls[2:]} == {f"Bearer {bob.token}"}

    def test_a_different_cursor_is_a_different_poll(self, acme_user, two_cores, upstream):
        poll(acme_user, two_cores)
        answer(upstream, "core_a", [], "ca1", since="ca1")
        poll(acme_user, two_cores, since=cursor_encode({"core_a": "ca1"}))
        assert len(upstream_calls(upstream)) == 4

    def test_a_failed_poll_is_cached_too(self, acme_user, flow, upstream):
        record(flow, "core_a")
        answer(upstream, "core_a", None, None, status=503, body={"message": "down"})
        assert poll(acme_user, flow).status_code == 502
        assert poll(acme_user, flow).status_code == 502
        # 1 call + the seam's 2 retries on 503, once for both polls.
        assert len(upstream_calls(upstream)) == 3

    def test_polls_are_answered_while_redis_is_down(
        self, redis_down, acme_user, two_cores, upstream, caplog
    ):
        first = acme_user.get(PATH, {"flow_id": two_cores.public_id})
        again = acme_user.get(PATH, {"flow_id": two_cores.public_id})
        assert (first.status_code, again.status_code) == (200, 200), first.content
        assert again.json() == first.json()
        assert len(upstream_calls(upstream)) == 2  # one round for two Cores: the repeat was cached
        assert not [r for r in caplog.records if r.exc_info], "no traceback"


class TestCacheHit:
    @pytest.fixture(autouse=True)
    def _caches_that_do_not_age(self, settings, monkeypatch):
        # A slow machine must not end a window (events 2 s, tenants 10 s) between two polls.
        settings.SCAIFLOW_EVENTS_CACHE_SECONDS = 3600
        now = time.time()
        monkeypatch.setattr(authn._tenants, "clock", lambda: now)

    def test_a_cache_hit_makes_no_query(
        self, acme_user, two_cores, upstream, django_capture_on_commit_callbacks,
        django_assert_num_queries,
    ):  # fmt: skip
        with django_capture_on_commit_callbacks(execute=True):
            first = poll(acme_user, two_cores)  # the token verified, the tenant kept
        with django_assert_num_queries(0):
            second = poll(acme_user, two_cores)
        assert second.status_code == 200
        assert second.json() == first.json()

    def test_warm_caches_never_cross_tenants(
        self, acme_user, make_token, two_cores, upstream, django_capture_on_commit_callbacks
    ):
        from tests.conftest import _client

        # The same subject in another tenant, polling acme's flow id.
        other_alice = _client(make_token(tenant="globex", sub="alice"))
        with django_capture_on_commit_callbacks(execute=True):
            assert poll(acme_user, two_cores).status_code == 200
            assert poll(other_alice, two_cores).status_code == 404
        assert poll(other_alice, two_cores).status_code == 404
        assert poll(acme_user, two_cores).status_code == 200
        assert len(upstream_calls(upstream)) == 2  # acme's one round


class TestRecentCopies:
    """Each process answers a repeat from its copy of the shared entry while it is fresh."""

    def key(self, flow):
        alice = Principal(tenant=flow.tenant, subject="alice", auth_mode=AUTH_MODE_SCAIKEY)
        return events._cache_key(principal=alice, flow_id=flow.public_id, since="")

    def test_a_repeat_skips_the_shared_cache(self, settings, acme_user, two_cores, upstream):
        from django.core.cache import cache

        settings.SCAIFLOW_EVENTS_CACHE_SECONDS = 3600  # no slow machine ends it between polls
        first = poll(acme_user, two_cores)
        with mock.patch.object(events.cache, "get", side_effect=AssertionError("read")):
            second = poll(acme_user, two_cores)
        assert second.json() == first.json()
        assert len(upstream_calls(upstream)) == 2
        assert cache.get(self.key(two_cores))["body"]["cursor"] == first.json()["cursor"]

    def test_a_stale_copy_defers_to_the_shared_cache(self, acme_user, two_cores, upstream):
        from django.core.cache import cache

        clock = [1_000_000.0]
        with mock.patch.object(events.time, "time", lambda: clock[0]):
            poll(acme_user, two_cores)
            # Another process asked upstream after our copy's window and shared its answer.
            clock[0] += 2.5
            body = {"events": [], "cursor": cursor_encode({"core_a": "x"}), "errors": []}
            cache.set(self.key(two_cores), {"at": clock[0] - 0.1, "body": body})
            response = poll(acme_user, two_cores)
        assert response.json() == body
        assert len(upstream_calls(upstream)) == 2  # only our first round


class TestStampede:
    @pytest.mark.parametrize("redis", ["reachable", "down"])
    def test_concurrent_identical_polls_cause_one_upstream_round(
        self, transactional_db, flow, request, redis
    ):
        """20 threads miss the cache together; one asks upstream, the others wait for it.

        With Redis down too: the lock is then this process's own, never a stampede upstream."""
        if redis == "down":
            request.getfixturevalue("redis_down")
        record(flow, "core_a")
        principal = Principal(
            tenant=flow.tenant, subject="alice", auth_mode=AUTH_MODE_SCAIKEY, token="jwt"
        )
        started = threading.Barrier(20)
        upstream_calls_made = []

        def slow_events(self, *, core_id, since=None):
            upstream_calls_made.append(core_id)
            threading.Event().wait(0.3)  # long enough for every thread to miss the cache
            return {"events": [event("a", 1, "2026-01-01T00:00:01Z")], "cursor": "ca1"}

        results, failures = [], []

        def one_poll():
            started.wait()
            try:
                results.append(
                    scaicore_events_poll(principal=principal, flow_id=flow.public_id, since=None)
                )
            except Exception as exc:
                failures.append(exc)
            finally:
                connection.close()  # this thread's own connection

        with mock.patch("deployments.clients.scaigrid.ScaiGridClient.events", slow_events):
            threads = [threading.Thread(target=one_poll) for _ in range(20)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

        assert failures == []
        assert len(results) == 20
        assert upstream_calls_made == ["core_a"]
        assert {json.dumps(r.as_body(), sort_keys=True) for r in results} == {
            json.dumps(results[0].as_body(), sort_keys=True)
        }
