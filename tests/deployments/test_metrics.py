"""Prometheus metrics: `/metrics` access, the counters a deploy moves, bounded labels."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests
import yaml
from django.db import OperationalError, connection
from prometheus_client.parser import text_string_to_metric_families

from deployments import events
from deployments.clients.scaigrid import ScaiGridClient
from deployments.models import Deployment
from scaiflow.identity.principal import AUTH_MODE_SCAIKEY, Principal
from scaiflow.observability.metrics import REGISTRY
from tests.deployments.conftest import CORES, GRID, QUEUE, QUEUED_FLOW, SIMPLE_FLOW, grid_accepts

METRICS_TOKEN = "metrics-token-for-tests"
DEPLOY_ROUTE = "api/v1/flows/<id:flow_id>/deploy"


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Counts:
    """Samples before and after: the suite's other tests move the same counters."""

    def __init__(self, *samples: tuple[str, dict[str, str]]):
        self.samples = samples
        self.before = [value(name, **labels) for name, labels in samples]

    def moved(self) -> list[float]:
        return [
            value(name, **labels) - before
            for (name, labels), before in zip(self.samples, self.before, strict=True)
        ]


def deploys(status: str, error: str = "") -> tuple[str, dict[str, str]]:
    return "scaiflow_deploys_total", {"status": status, "error": error}


def deploy(client, flow, body=None, **headers):
    return client.post(
        f"/api/v1/flows/{flow.public_id}/deploy", body or {}, format="json", **headers
    )


def scrape(client) -> str:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")
    assert response.status_code == 200, response.content
    return response.content.decode()


@pytest.fixture
def metrics_on(settings):
    settings.SCAIFLOW_METRICS_TOKEN = METRICS_TOKEN


class TestEndpoint:
    def test_404_when_no_token_is_configured(self, client, settings):
        settings.SCAIFLOW_METRICS_TOKEN = ""
        response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything")
        assert response.status_code == 404
        assert response.json()["detail"]["error"] == "not_found"

    @pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {METRICS_TOKEN}", "Bearer"])
    def test_401_without_the_token(self, client, metrics_on, header):
        extra = {"HTTP_AUTHORIZATION": header} if header else {}
        response = client.get("/metrics", **extra)
        assert response.status_code == 401
        detail = response.json()["detail"]
        assert detail["error"] == "not_authenticated"
        # It asks for the metrics token, not a ScaiKey JWT (which /metrics does not take).
        assert "SCAIFLOW_METRICS_TOKEN" in detail["fix"] and "JWT" not in detail["fix"]
        assert METRICS_TOKEN not in response.content.decode()

    def test_prometheus_text_with_the_pending_gauge(self, client, metrics_on, flow):
        Deployment.objects.create(
            tenant=flow.tenant, flow=flow, flow_name=flow.name, actor="x", status="pending"
        )
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")
        assert response["Content-Type"].startswith("text/plain; version=")
        families = {f.name: f for f in text_string_to_metric_families(response.content.decode())}
        assert families["scaiflow_deployments_pending"].samples[0].value == 1
        assert "scaiflow_deploys" in families
        assert "no-cache" in response["Cache-Control"]

    def test_a_database_outage_is_one_log_line_not_a_traceback_per_scrape(
        self, client, metrics_on, flow, caplog
    ):
        def refuse(execute, sql, params, many, context):
            raise OperationalError("connection refused")

        def scrape():
            response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")
            assert response.status_code == 200
            return response.content.decode()

        with connection.execute_wrapper(refuse):
            texts = [scrape() for _ in range(3)]
        assert all("scaiflow_deployments_pending" not in text for text in texts)
        lines = [r for r in caplog.records if r.name == "scaiflow.metrics"]
        assert [r.levelname for r in lines] == ["WARNING"]
        assert lines[0].exc_info is None
        assert "scaiflow_deployments_pending 0.0" in scrape()  # back, without a restart


class TestDeployCounters:
    def test_a_success(self, acme_user, flow, upstream):
        grid_accepts(upstream)
        counts = Counts(
            deploys("succeeded"),
            ("scaiflow_deploy_duration_seconds_count", {}),
            ("scaiflow_deploy_step_duration_seconds_count", {"step": "compile"}),
            ("scaiflow_deploy_step_duration_seconds_count", {"step": "core"}),
            ("scaiflow_upstream_requests_total",
             {"service": "scaigrid", "endpoint": "/v1/modules/scaicore/cores", "status": "201"}),
            ("scaiflow_upstream_request_duration_seconds_count",
             {"service": "scaigrid", "endpoint": "/v1/modules/scaicore/cores"}),
            ("scaiflow_http_requests_total",
             {"method": "POST", "route": DEPLOY_ROUTE, "status": "201"}),
            ("scaiflow_http_request_duration_seconds_count",
             {"method": "POST", "route": DEPLOY_ROUTE}),
            ("scaiflow_compile_cache_total", {"result": "miss"}),
            ("scaiflow_compile_cache_total", {"result": "hit"}),
        )  # fmt: skip
        assert deploy(acme_user, flow).status_code == 201
        assert counts.moved() == [1, 1, 1, 1, 1, 1, 1, 1, 1, 0]

        again = Counts(
            deploys("succeeded"),
            ("scaiflow_upstream_requests_total",
             {"service": "scaigrid", "endpoint": "/v1/modules/scaicore/cores/{core_id}",
              "status": "200"}),
            ("scaiflow_compile_cache_total", {"result": "hit"}),
        )  # fmt: skip
        assert deploy(acme_user, flow).json()["core_action"] == "updated"
        assert again.moved() == [1, 1, 1]

    def test_no_answer_is_a_timeout_or_a_connection_error(self, acme_user, flow, upstream):
        endpoint = {"service": "scaigrid", "endpoint": "/v1/modules/scaicore/cores"}
        counts = Counts(
            ("scaiflow_upstream_requests_total", {**endpoint, "status": "timeout"}),
            ("scaiflow_upstream_requests_total", {**endpoint, "status": "connection_error"}),
            deploys("failed", "scaicore_create_failed"),
        )
        upstream.post(CORES, body=requests.ReadTimeout("slow"))
        assert deploy(acme_user, flow).status_code == 502
        upstream.replace("POST", CORES, body=requests.ConnectionError("refused"))
        assert deploy(acme_user, flow).status_code == 502
        assert counts.moved() == [1, 1, 2]

    @pytest.mark.parametrize(
        ("case", "status", "error"),
        [
            ("compile", "failed", "compile_error"),
            ("credentials", "failed", "missing_scaigrid_credentials"),
            ("create", "failed", "scaicore_create_failed"),
            ("publish", "publish_failed", "scaicore_publish_failed"),
            ("unpublish", "failed", "scaicore_unpublish_failed"),
            ("queue_auth", "failed", "scaiqueue_auth"),
            ("queue_mismatch", "failed", "scaiqueue_provision_failed"),
            ("in_progress", "failed", "deploy_in_progress"),
            ("storage", "failed", "flow_storage_unavailable"),
        ],
    )
    def test_each_error_of_the_matrix(
        self, acme_user, make_flow, upstream, settings, monkeypatch, case, status, error
    ):
        flow = make_flow(QUEUED_FLOW if case.startswith("queue") else SIMPLE_FLOW)
        body = {}
        if case == "compile":
            flow = make_flow({"name": "broken", "nodes": [], "edges": []})
        elif case == "credentials":
            settings.SCAIFLOW_DEPLOY_AUTH = "api_key"
        elif case == "create":
            upstream.post(CORES, status=500)
        elif case == "publish":
            grid_accepts(upstream)
            upstream.replace("POST", f"{CORES}/core_1/publish", status=503)
            body = {"publish_as_model": True}
        elif case == "unpublish":
            grid_accepts(upstream)
            assert deploy(acme_user, flow, {"publish_as_model": True}).status_code == 201
            upstream.replace("DELETE", f"{CORES}/core_1/publish", status=500)
        elif case == "queue_auth":
            upstream.get(f"{QUEUE}/v1/scopes", status=403, json={"error": "permission_denied"})
        elif case == "queue_mismatch":
            upstream.get(f"{QUEUE}/v1/scopes", json={"items": [{"slug": "support", "name": "X"}]})
        elif case == "in_progress":
            Deployment.objects.create(
                tenant=flow.tenant, flow=flow, flow_name=flow.name, actor="x", status="pending"
            )
        elif case == "storage":
            from flows import storage

            def broken(**kwargs):
                raise storage.FlowStorageError("down")

            monkeypatch.setattr("flows.selectors.content_read", broken)
        counts = Counts(deploys(status, error), deploys("succeeded"))
        response = deploy(acme_user, flow, body)
        assert response.json()["detail"]["error"] == error
        assert counts.moved() == [1, 0]

    def test_scaiqueue_calls_are_labelled_by_template(self, acme_user, make_flow, upstream):
        flow = make_flow(QUEUED_FLOW)
        scope = QUEUED_FLOW["config"]["scaiqueue"]["scope"]
        queue = QUEUED_FLOW["config"]["scaiqueue"]["queues"][0]
        upstream.get(f"{QUEUE}/v1/scopes", json={"items": [scope]})
        upstream.get(f"{QUEUE}/v1/scopes/support/queues", json={"items": [queue]})
        grid_accepts(upstream)
        labels = {"service": "scaiqueue", "status": "200"}
        counts = Counts(
            ("scaiflow_upstream_requests_total", {**labels, "endpoint": "/v1/scopes"}),
            ("scaiflow_upstream_requests_total",
             {**labels, "endpoint": "/v1/scopes/{scope}/queues"}),
            ("scaiflow_deploy_step_duration_seconds_count", {"step": "provision"}),
        )  # fmt: skip
        assert deploy(acme_user, flow).status_code == 201
        assert counts.moved() == [1, 1, 1]

    def test_a_replay(self, acme_user, flow, upstream):
        grid_accepts(upstream)
        counts = Counts(("scaiflow_idempotent_replays_total", {}), deploys("succeeded"))
        deploy(acme_user, flow, HTTP_IDEMPOTENCY_KEY="k1")
        assert deploy(acme_user, flow, HTTP_IDEMPOTENCY_KEY="k1")["Idempotent-Replayed"] == "true"
        assert counts.moved() == [1, 1]

    def test_a_throttled_call(self, acme_user, flow, upstream, settings):
        settings.SCAIFLOW_DEPLOY_RATE = "1/min"
        grid_accepts(upstream)
        counts = Counts(
            ("scaiflow_throttled_total", {}),
            ("scaiflow_http_requests_total",
             {"method": "POST", "route": DEPLOY_ROUTE, "status": "429"}),
        )  # fmt: skip
        assert deploy(acme_user, flow).status_code == 201
        assert deploy(acme_user, flow).status_code == 429
        assert counts.moved() == [1, 1]

    def test_legacy_and_rollback_are_counted(
        self, acme_user, service_client, flow, upstream, settings
    ):
        settings.SCAIGRID_API_KEY = "sgk_env_key"
        grid_accepts(upstream)
        counts = Counts(deploys("succeeded"), ("scaiflow_deploy_duration_seconds_count", {}))
        first = deploy(acme_user, flow).json()
        rolled = acme_user.post(f"/api/v1/deployments/{first['id']}/rollback")
        assert rolled.status_code == 201
        legacy = service_client.post("/api/v1/dev/deploy", {"content": SIMPLE_FLOW}, format="json")
        assert legacy.status_code == 200
        assert counts.moved() == [3, 3]


EMPTY_POLL = {"events": [], "cursor": "", "errors": []}


class TestEventsCache:
    def principal(self, flow) -> Principal:
        return Principal(tenant=flow.tenant, subject="alice", auth_mode=AUTH_MODE_SCAIKEY,
                         token="jwt", roles=frozenset())  # fmt: skip

    def test_miss_hit_and_shared(self, flow, monkeypatch):
        monkeypatch.setattr(events, "_poll_upstream", lambda **kw: EMPTY_POLL)
        principal = self.principal(flow)
        results = [
            ("scaiflow_events_cache_total", {"result": r}) for r in ("miss", "hit", "shared")
        ]
        counts = Counts(*results)
        events.scaicore_events_poll(principal=principal, flow_id=flow.public_id, since=None)
        events.scaicore_events_poll(principal=principal, flow_id=flow.public_id, since=None)
        assert counts.moved() == [1, 1, 0]

        # Another request holds the lock for this poll and stores its answer a moment later.
        from django.core.cache import cache

        later = events.cursor_encode({"core_a": "c1"})
        key = events._cache_key(principal=principal, flow_id=flow.public_id, since=later)
        cache.add(f"{key}:lock", 1, timeout=30)

        def holder():
            time.sleep(0.2)
            cache.set(key, {"at": time.time(), "body": EMPTY_POLL}, 30)

        thread = threading.Thread(target=holder)
        thread.start()
        counts = Counts(*results)
        events.scaicore_events_poll(principal=principal, flow_id=flow.public_id, since=later)
        thread.join()
        assert counts.moved() == [0, 0, 1]


SERIES = re.compile(r"^(scaiflow_\w+?)(?:\{(.*)\})? ", re.M)


def series(text: str) -> set[str]:
    return {f"{name}{{{labels}}}" for name, labels in SERIES.findall(text)}


@pytest.mark.slow
def test_cardinality_stays_bounded_over_many_flows_and_tenants(
    client, metrics_on, make_token, upstream, db
):
    """Ids and tenants are never label values: 1,000 of each add no series."""
    upstream.put(re.compile(rf"{CORES}/core_\d+"), json={"id": "core_x"})

    def traffic(start: int, stop: int) -> None:
        grid = ScaiGridClient(base_url=GRID, credential="k")
        for i in range(start, stop):
            token = make_token(tenant=f"tenant-{i}", sub=f"user-{i}")
            response = client.get(f"/api/v1/flows/flw_{i}", HTTP_AUTHORIZATION=f"Bearer {token}")
            assert response.status_code == 404
            grid.update_core(core_id=f"core_{i}", manifest="m")
        client.get(f"/nowhere/{start}")
        client.generic(f"BREW{start}", "/api/v1/flows")

    traffic(0, 10)
    few = series(scrape(client))
    traffic(10, 1000)
    text = scrape(client)
    assert series(text) == few
    assert not re.search(r"tenant-\d|user-\d|flw_\d|core_\d|BREW|nowhere", text)


OPS = Path(__file__).resolve().parents[2] / "docs" / "ops"
METRIC_NAME = re.compile(r"\bscaiflow_[a-z_]+\b")
DURATION = re.compile(r"^\d+[smhd]$")


def test_every_metric_the_dashboard_and_alerts_name_is_exported(
    client, metrics_on, acme_user, flow, upstream, monkeypatch
):
    named = set(METRIC_NAME.findall((OPS / "alerts.yml").read_text()))
    named |= set(METRIC_NAME.findall((OPS / "grafana-dashboard.json").read_text()))
    grid_accepts(upstream)
    assert deploy(acme_user, flow).status_code == 201
    monkeypatch.setattr(events, "_poll_upstream", lambda **kw: EMPTY_POLL)
    principal = TestEventsCache().principal(flow)
    events.scaicore_events_poll(principal=principal, flow_id=flow.public_id, since=None)
    families = list(text_string_to_metric_families(scrape(client)))
    exported = {sample.name for family in families for sample in family.samples}
    exported |= {family.name for family in families if family.samples}
    assert len(named) >= 12
    assert named - exported == set()


def test_the_alert_rules_are_prometheus_rules():
    document = yaml.safe_load((OPS / "alerts.yml").read_text())
    (group,) = document["groups"]
    assert group["name"] == "scaiflow"
    names = [rule["alert"] for rule in group["rules"]]
    assert len(names) == len(set(names)) >= 4
    for rule in group["rules"]:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert isinstance(rule["expr"], str) and METRIC_NAME.search(rule["expr"])
        assert rule["expr"].count("(") == rule["expr"].count(")")
        assert DURATION.match(rule.get("for", "0s"))
        assert rule["labels"]["severity"] in ("page", "ticket")
        assert {"summary", "description"} <= set(rule["annotations"])
    # promtool parses the PromQL too, where it is installed.
    promtool = shutil.which("promtool")
    if promtool:
        result = subprocess.run(
            [promtool, "check", "rules", str(OPS / "alerts.yml")], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_dashboard_is_a_grafana_dashboard():
    dashboard = json.loads((OPS / "grafana-dashboard.json").read_text())
    assert dashboard["uid"] == "scaiflow"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}"
        assert panel["targets"] and all(METRIC_NAME.search(t["expr"]) for t in panel["targets"])
        assert set(panel["gridPos"]) == {"x", "y", "w", "h"}
