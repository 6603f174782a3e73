"""The canonical deploy (SPEC §4) at the HTTP seam: every step, source and matrix row."""

from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from deployments.models import Deployment
from tenants.credentials import credential_store
from tests.deployments.conftest import CORES, GRID, QUEUE, QUEUED_FLOW, calls, grid_accepts


def deploy(client, flow, body=None, **headers):
    return client.post(
        f"/api/v1/flows/{flow.public_id}/deploy", body or {}, format="json", **headers
    )


def error_of(response, status, code):
    assert response.status_code == status, response.content
    detail = response.json()["detail"]
    assert detail["error"] == code
    return detail


class TestHappyPath:
    def test_first_deploy_creates_the_core_with_the_callers_jwt(self, acme_user, flow, upstream):
        grid_accepts(upstream)
        response = deploy(acme_user, flow)
        assert response.status_code == 201, response.content
        body = response.json()
        assert response["Location"] == f"/api/v1/deployments/{body['id']}"
        assert body["status"] == "succeeded"
        assert body["core_id"] == "core_1"
        assert body["core_action"] == "created"
        assert body["auth_source"] == "jwt"
        assert body["flow_id"] == flow.public_id
        assert body["flow_version"] == 1
        assert body["actor"] == "scaikey:alice"
        assert body["error"] is None
        assert len(body["manifest_sha256"]) == 64
        assert [s["name"] for s in body["steps"]] == ["read", "compile", "credentials", "core"]
        assert all(s["status"] == "succeeded" for s in body["steps"])
        (create,) = calls(upstream, "POST", CORES)
        assert create.request.headers["Authorization"] == f"Bearer {acme_user.token}"
        assert create.request.headers["Idempotency-Key"] == body["id"]
        assert b"apiVersion: scaicore/v1" in create.request.body
        assert b"scaiflow/flow-id" in create.request.body

    def test_redeploy_updates_the_same_core(self, acme_user, flow, upstream):
        grid_accepts(upstream)
        deploy(acme_user, flow)
        second = deploy(acme_user, flow).json()
        assert second["core_action"] == "updated"
        assert second["core_id"] == "core_1"
        assert len(calls(upstream, "POST", CORES)) == 1
        assert len(calls(upstream, "PUT", f"{CORES}/core_1")) == 1

    def test_core_deleted_upstream_is_created_anew(self, acme_user, flow, upstream):
        grid_accepts(upstream)
        deploy(acme_user, flow)
        upstream.replace("PUT", f"{CORES}/core_1", status=404, json={"error": "not_found"})
        upstream.replace("POST", CORES, json={"id": "core_2"}, status=201)
        body = deploy(acme_user, flow).json()
        assert (body["core_action"], body["core_id"]) == ("created", "core_2")

    def test_publish_with_group_ids(self, acme_user, flow, upstream):
        grid_accepts(upstream)
        body = deploy(acme_user, flow, {"publish_as_model": True, "group_ids": ["g1"]}).json()
        assert body["published_slug"] == "echo-bot"
        assert body["publish_as_model"] is True
        assert body["group_ids"] == ["g1"]
        (publish,) = calls(upstream, "POST", f"{CORES}/core_1/publish")
        assert publish.request.body == b'{"group_ids": ["g1"]}'

    def test_publish_settings_default_to_the_flow_config(self, acme_user, make_flow, upstream):
        content = {**QUEUED_FLOW, "config": {**QUEUED_FLOW["config"], "publish_as_model": True}}
        content["config"].pop("scaiqueue")
        flow = make_flow(content)
        grid_accepts(upstream)
        body = deploy(acme_user, flow).json()
        assert (body["publish_as_model"], body["group_ids"]) == (True, ["grp_support"])

    def test_unpublish_when_publishing_is_turned_off(self, acme_user, flow, upstream):
        grid_accepts(upstream)
        deploy(acme_user, flow, {"publish_as_model": True})
        body = deploy(acme_user, flow, {"publish_as_model": False}).json()
        assert body["status"] == "succeeded"
        assert body["published_slug"] is None
        assert len(calls(upstream, "DELETE", f"{CORES}/core_1/publish")) == 1
        # Not published any more: a further deploy does not unpublish again.
        deploy(acme_user, flow, {"publish_as_model": False})
        assert len(calls(upstream, "DELETE", f"{CORES}/core_1/publish")) == 1

    def test_deploy_an_older_version(self, acme_user, flow, upstream):
        from flows.services import flow_update

        flow_update(flow=flow, actor="test", content={**flow_content(flow), "name": "v2"})
        grid_accepts(upstream)
        body = deploy(acme_user, flow, {"version": 1}).json()
        assert body["flow_version"] == 1


def flow_content(flow):
    from flows.selectors import flow_content_read

    return flow_content_read(tenant=flow.tenant, flow=flow)


class TestCredentials:
    def test_tenant_key_when_deploy_auth_is_api_key(
        self, acme_user, flow, upstream, settings, acme
    ):
        settings.SCAIFLOW_DEPLOY_AUTH = "api_key"
        credential_store().set(tenant=acme, api_key="sgk_tenant_key_1234", base_url=GRID, actor="t")
        grid_accepts(upstream)
        body = deploy(acme_user, flow).json()
        assert body["auth_source"] == "tenant_key"
        (create,) = calls(upstream, "POST", CORES)
        assert create.request.headers["Authorization"] == "Bearer sgk_tenant_key_1234"

    def test_shared_token_uses_the_env_key_when_no_tenant_key(
        self, service_client, make_flow, upstream, settings
    ):
        settings.SCAIGRID_API_KEY = "sgk_env_key_5678"
        default = __import__("tenants.models").models.Tenant.objects.get_or_create(slug="default")[
            0
        ]
        flow = make_flow(tenant=default)
        grid_accepts(upstream)
        body = deploy(service_client, flow).json()
        assert body["auth_source"] == "env"
        (create,) = calls(upstream, "POST", CORES)
        assert create.request.headers["Authorization"] == "Bearer sgk_env_key_5678"

    def test_no_credentials_is_412_and_recorded(self, acme_user, flow, upstream, settings):
        settings.SCAIFLOW_DEPLOY_AUTH = "api_key"
        detail = error_of(deploy(acme_user, flow), 412, "missing_scaigrid_credentials")
        assert detail["message"] == "no ScaiGrid credentials for tenant 'acme'"
        assert "fix" in detail
        record = Deployment.objects.get(pk=detail["deployment_id"])
        assert record.status == "failed"
        assert record.error["error"] == "missing_scaigrid_credentials"
        assert [s["status"] for s in record.steps] == ["succeeded", "succeeded", "failed"]
        assert not upstream.calls


class TestFailures:
    def test_compile_error_calls_nothing_upstream(self, acme_user, make_flow, upstream):
        flow = make_flow({"name": "broken", "nodes": [], "edges": []})
        detail = error_of(deploy(acme_user, flow), 400, "compile_error")
        assert detail["messages"] and all("code" in m for m in detail["messages"])
        assert Deployment.objects.get(pk=detail["deployment_id"]).status == "failed"
        assert not upstream.calls

    def test_storage_down_is_503(self, acme_user, flow, upstream, monkeypatch):
        from flows import storage

        def broken(**kwargs):
            raise storage.FlowStorageError("storage unreachable")

        monkeypatch.setattr("flows.selectors.content_read", broken)
        detail = error_of(deploy(acme_user, flow), 503, "flow_storage_unavailable")
        assert Deployment.objects.get(pk=detail["deployment_id"]).status == "failed"

    def test_core_create_failure_carries_upstream_status(self, acme_user, flow, upstream):
        upstream.post(CORES, status=500, json={"message": "verifier exploded"})
        detail = error_of(deploy(acme_user, flow), 502, "scaicore_create_failed")
        assert detail["status"] == 500
        assert "verifier exploded" in detail["message"]
        record = Deployment.objects.get(pk=detail["deployment_id"])
        assert (record.status, record.core_id) == ("failed", "")

    def test_core_create_connection_error_has_null_status(self, acme_user, flow, upstream):
        upstream.post(CORES, body=requests.ConnectionError("refused"))
        detail = error_of(deploy(acme_user, flow), 502, "scaicore_create_failed")
        assert detail["status"] is None

    @pytest.mark.parametrize("body", ["<html>oops</html>", '{"id": "co', '{"name": "x"}'])
    def test_malformed_create_answer(self, acme_user, flow, upstream, body):
        upstream.post(CORES, body=body, status=201)
        error_of(deploy(acme_user, flow), 502, "scaicore_create_failed")

    def test_publish_failure_then_redeploy_retries_it(self, acme_user, flow, upstream):
        grid_accepts(upstream)
        upstream.replace("POST", f"{CORES}/core_1/publish", status=503, json={"message": "busy"})
        detail = error_of(deploy(acme_user, flow, {"publish_as_model": True}), 502,
                          "scaicore_publish_failed")  # fmt: skip
        assert detail["core_id"] == "core_1"
        record = Deployment.objects.get(pk=detail["deployment_id"])
        assert (record.status, record.core_id) == ("publish_failed", "core_1")
        upstream.replace("POST", f"{CORES}/core_1/publish", json={"slug": "echo-bot"})
        body = deploy(acme_user, flow, {"publish_as_model": True}).json()
        assert (body["status"], body["core_action"], body["published_slug"]) == (
            "succeeded", "updated", "echo-bot",
        )  # fmt: skip

    def test_unpublish_failure(self, acme_user, flow, upstream):
        grid_accepts(upstream)
        deploy(acme_user, flow, {"publish_as_model": True})
        upstream.replace("DELETE", f"{CORES}/core_1/publish", status=500)
        detail = error_of(deploy(acme_user, flow, {"publish_as_model": False}), 502,
                          "scaicore_unpublish_failed")  # fmt: skip
        assert detail["core_id"] == "core_1"
        record = Deployment.objects.get(pk=detail["deployment_id"])
        assert record.published_slug == "echo-bot"  # still published


class TestProvisioning:
    def test_provisions_then_creates(self, acme_user, make_flow, upstream):
        flow = make_flow(QUEUED_FLOW)
        scope = QUEUED_FLOW["config"]["scaiqueue"]["scope"]
        queue = QUEUED_FLOW["config"]["scaiqueue"]["queues"][0]
        upstream.get(f"{QUEUE}/v1/scopes", json={"items": [scope]})
        upstream.get(f"{QUEUE}/v1/scopes/support/queues", json={"items": [queue]})
        grid_accepts(upstream)
        body = deploy(acme_user, flow).json()
        assert body["status"] == "succeeded"
        assert "provision" in [s["name"] for s in body["steps"]]

    def test_permission_denied_is_scaiqueue_auth(self, acme_user, make_flow, upstream):
        flow = make_flow(QUEUED_FLOW)
        denied = {"error": "permission_denied", "message": "need scaiqueue:manage"}
        upstream.get(f"{QUEUE}/v1/scopes", status=403, json=denied)
        detail = error_of(deploy(acme_user, flow), 502, "scaiqueue_auth")
        assert detail["message"] == "permission_denied: need scaiqueue:manage"
        assert "fix" in detail
        assert not calls(upstream, "POST", GRID)

    def test_config_mismatch_aborts_before_the_core(self, acme_user, make_flow, upstream):
        flow = make_flow(QUEUED_FLOW)
        upstream.get(f"{QUEUE}/v1/scopes", json={"items": [{"slug": "support", "name": "Other"}]})
        detail = error_of(deploy(acme_user, flow), 502, "scaiqueue_provision_failed")
        assert detail["scope"] == "support"
        assert not calls(upstream, "POST", GRID)

    def test_queue_missing_after_create(self, acme_user, make_flow, upstream):
        flow = make_flow(QUEUED_FLOW)
        scope = QUEUED_FLOW["config"]["scaiqueue"]["scope"]
        upstream.get(f"{QUEUE}/v1/scopes", json={"items": [scope]})
        upstream.get(f"{QUEUE}/v1/scopes/support/queues", json={"items": []})
        upstream.post(f"{QUEUE}/v1/scopes/support/queues", status=409)
        detail = error_of(deploy(acme_user, flow), 502, "scaiqueue_provision_failed")
        assert (detail["scope"], detail["queue"]) == ("support", "review")


class TestOneAtATime:
    def test_second_deploy_while_one_runs_is_409_and_recorded(self, acme_user, flow, upstream):
        running = Deployment.objects.create(
            tenant=flow.tenant, flow=flow, flow_name=flow.name, actor="x", status="pending"
        )
        detail = error_of(deploy(acme_user, flow), 409, "deploy_in_progress")
        assert detail["deployment_id"] == running.pk
        assert Deployment.objects.filter(flow=flow, error_code="deploy_in_progress").count() == 1
        assert not upstream.calls

    def test_abandoned_pending_is_closed_and_its_core_kept(self, acme_user, flow, upstream):
        stale = Deployment.objects.create(
            tenant=flow.tenant, flow=flow, flow_name=flow.name, actor="x", status="pending",
            core_id="core_1",
        )  # fmt: skip
        Deployment.objects.filter(pk=stale.pk).update(
            created_at=timezone.now() - timedelta(hours=1)
        )
        grid_accepts(upstream)
        body = deploy(acme_user, flow).json()
        assert (body["status"], body["core_action"]) == ("succeeded", "updated")
        stale.refresh_from_db()
        assert (stale.status, stale.error_code, stale.core_id) == (
            "failed", "deploy_abandoned", "core_1",
        )  # fmt: skip

    def test_abandonment_window_is_a_setting(self, acme_user, flow, upstream, settings):
        settings.SCAIFLOW_DEPLOY_ABANDONED_SECONDS = 60
        running = Deployment.objects.create(
            tenant=flow.tenant, flow=flow, flow_name=flow.name, actor="x", status="pending"
        )
        Deployment.objects.filter(pk=running.pk).update(
            created_at=timezone.now() - timedelta(seconds=30)
        )
        error_of(deploy(acme_user, flow), 409, "deploy_in_progress")
        Deployment.objects.filter(pk=running.pk).update(
            created_at=timezone.now() - timedelta(seconds=90)
        )
        grid_accepts(upstream)
        assert deploy(acme_user, flow).json()["status"] == "succeeded"
        running.refresh_from_db()
        assert (running.status, running.error_code) == ("failed", "deploy_abandoned")


class TestIdempotency:
    def test_replay_returns_the_first_answer_without_upstream(self, acme_user, flow, upstream):
        grid_accepts(upstream)
        first = deploy(acme_user, flow, HTTP_IDEMPOTENCY_KEY="k1")
        again = deploy(acme_user, flow, HTTP_IDEMPOTENCY_KEY="k1")
        assert again.status_code == first.status_code == 201
        assert again.json() == first.json()
        assert again["Idempotent-Replayed"] == "true"
        assert len(calls(upstream, "POST", CORES)) == 1
        assert Deployment.objects.count() == 1

    def test_errors_are_replayed_too(self, acme_user, flow, upstream):
        upstream.post(CORES, status=500)
        first = deploy(acme_user, flow, HTTP_IDEMPOTENCY_KEY="k2")
        again = deploy(acme_user, flow, HTTP_IDEMPOTENCY_KEY="k2")
        assert again.status_code == first.status_code == 502
        assert again.json() == first.json()

    def test_same_key_different_body_is_422(self, acme_user, flow, upstream):
        grid_accepts(upstream)
        deploy(acme_user, flow, HTTP_IDEMPOTENCY_KEY="k3")
        response = deploy(acme_user, flow, {"publish_as_model": True}, HTTP_IDEMPOTENCY_KEY="k3")
        error_of(response, 422, "idempotency_key_reused")

    def test_keys_are_per_tenant(self, acme_user, globex_user, flow, make_flow, upstream):
        from tenants.models import Tenant

        globex_flow = make_flow(tenant=Tenant.objects.get_or_create(slug="globex")[0])
        grid_accepts(upstream)
        deploy(acme_user, flow, HTTP_IDEMPOTENCY_KEY="same")
        response = deploy(globex_user, globex_flow, HTTP_IDEMPOTENCY_KEY="same")
        assert response.status_code == 201
        assert "Idempotent-Replayed" not in response

    def test_key_expires_after_24h(self, acme_user, flow, upstream):
        from deployments.models import IdempotencyKey

        grid_accepts(upstream)
        deploy(acme_user, flow, HTTP_IDEMPOTENCY_KEY="old")
        IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
        response = deploy(acme_user, flow, HTTP_IDEMPOTENCY_KEY="old")
        assert "Idempotent-Replayed" not in response
        assert Deployment.objects.count() == 2

    def test_same_key_while_the_first_runs_is_409(self, acme_user, flow, upstream, acme):
        from deployments.idempotency import request_fingerprint
        from deployments.models import IdempotencyKey

        fingerprint = request_fingerprint(
            method="POST", path=f"/api/v1/flows/{flow.public_id}/deploy", body={}
        )
        IdempotencyKey.objects.create(tenant=acme, key="busy", request_sha256=fingerprint)
        error_of(deploy(acme_user, flow, HTTP_IDEMPOTENCY_KEY="busy"), 409, "deploy_in_progress")


class TestScopingAndReading:
    def test_another_tenants_flow_is_404(self, globex_user, flow, upstream):
        error_of(deploy(globex_user, flow), 404, "not_found")
        assert not Deployment.objects.exists()

    def test_deployment_detail_list_and_filter(self, acme_user, globex_user, flow, upstream):
        grid_accepts(upstream)
        ok = deploy(acme_user, flow).json()
        upstream.replace("PUT", f"{CORES}/core_1", status=500)
        failed = deploy(acme_user, flow).json()["detail"]
        assert acme_user.get(f"/api/v1/deployments/{ok['id']}").json()["id"] == ok["id"]
        error_of(globex_user.get(f"/api/v1/deployments/{ok['id']}"), 404, "not_found")
        listing = acme_user.get("/api/v1/deployments").json()
        assert [d["id"] for d in listing["results"]] == [failed["deployment_id"], ok["id"]]
        only_failed = acme_user.get("/api/v1/deployments?status=failed").json()["results"]
        assert [d["id"] for d in only_failed] == [failed["deployment_id"]]
        assert globex_user.get("/api/v1/deployments").json()["count"] == 0
        per_flow = acme_user.get(f"/api/v1/flows/{flow.public_id}/deployments").json()
        assert per_flow["count"] == 2
        error_of(acme_user.get("/api/v1/deployments?status=bogus"), 400, "invalid_request")

    def test_latest_deployment_on_the_flow(self, acme_user, flow, upstream):
        assert acme_user.get(f"/api/v1/flows/{flow.public_id}").json()["latest_deployment"] is None
        grid_accepts(upstream)
        deployed = deploy(acme_user, flow).json()
        latest = acme_user.get(f"/api/v1/flows/{flow.public_id}").json()["latest_deployment"]
        assert (latest["id"], latest["status"]) == (deployed["id"], "succeeded")

    def test_list_query_count_is_constant(
        self, acme_user, flow, upstream, django_assert_max_num_queries
    ):
        grid_accepts(upstream)
        for _ in range(5):
            deploy(acme_user, flow)
        with django_assert_max_num_queries(4):
            assert acme_user.get("/api/v1/deployments").json()["count"] == 5

    def test_deleting_the_flow_keeps_its_records(self, acme_user, flow, upstream):
        grid_accepts(upstream)
        deployed = deploy(acme_user, flow).json()
        assert acme_user.delete(f"/api/v1/flows/{flow.public_id}").status_code == 204
        kept = acme_user.get(f"/api/v1/deployments/{deployed['id']}").json()
        assert (kept["flow_id"], kept["flow_name"]) == (None, "Echo bot")


class TestThrottle:
    def test_deploys_are_rate_limited_per_principal(self, acme_user, flow, upstream, settings):
        from django.core.cache import cache

        cache.clear()
        settings.SCAIFLOW_DEPLOY_RATE = "2/min"
        grid_accepts(upstream)
        assert deploy(acme_user, flow).status_code == 201
        assert deploy(acme_user, flow).status_code == 201
        response = deploy(acme_user, flow)
        error_of(response, 429, "throttled")
        assert int(response["Retry-After"]) > 0

    def test_with_redis_down_deploys_work_and_the_limit_holds_per_process(
        self, redis_down, acme_user, flow, upstream, settings, caplog
    ):
        settings.SCAIFLOW_DEPLOY_RATE = "2/min"
        grid_accepts(upstream)
        assert deploy(acme_user, flow).status_code == 201
        assert deploy(acme_user, flow).status_code == 201
        error_of(deploy(acme_user, flow), 429, "throttled")
        warnings = [r for r in caplog.records if r.name == "scaiflow.cache"]
        assert [r.levelname for r in warnings] == ["WARNING"]  # one per outage, not per call
        assert not [r for r in caplog.records if r.exc_info], "no traceback"


def test_steps_record_the_time_spent_waiting_on_upstream(acme_user, flow, upstream):
    grid_accepts(upstream)
    steps = {s["name"]: s for s in deploy(acme_user, flow).json()["steps"]}
    assert "upstream_ms" not in steps["read"]
    assert "upstream_ms" not in steps["compile"]
    assert 0 < steps["core"]["upstream_ms"] <= steps["core"]["duration_ms"] + 0.1


def test_a_failed_step_is_recorded_with_its_upstream_time(acme_user, flow, upstream):
    upstream.post(CORES, status=400, json={"error": "verifier_error", "message": "no"})
    detail = deploy(acme_user, flow).json()["detail"]
    core = Deployment.objects.get(pk=detail["deployment_id"]).steps[-1]
    assert (core["name"], core["status"]) == ("core", "failed")
    assert core["upstream_ms"] > 0
