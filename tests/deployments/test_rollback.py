"""Rollback (POST /deployments/{id}/rollback) and If-Match on deploy."""

import yaml

from deployments.models import Deployment
from flows.services import flow_update
from tests.deployments.conftest import CORES, SIMPLE_FLOW, calls, grid_accepts
from tests.deployments.test_deploy import deploy, error_of


def rollback(client, deployment_id):
    return client.post(f"/api/v1/deployments/{deployment_id}/rollback")


def manifest_name(call):
    return yaml.safe_load(call.request.body)["metadata"]["name"]


class TestRollback:
    def test_redeploys_that_version_and_publish_settings_to_the_same_core(
        self, acme_user, flow, upstream
    ):
        grid_accepts(upstream)
        first = deploy(acme_user, flow, {"publish_as_model": True, "group_ids": ["g1"]}).json()
        flow_update(flow=flow, actor="test", content={**SIMPLE_FLOW, "name": "Echo bot v2"})
        deploy(acme_user, flow, {"publish_as_model": False})
        response = rollback(acme_user, first["id"])
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["rollback_of"] == first["id"]
        assert (body["flow_version"], body["core_action"], body["core_id"]) == (
            1,
            "updated",
            "core_1",
        )
        assert (body["publish_as_model"], body["group_ids"]) == (True, ["g1"])
        puts = calls(upstream, "PUT", f"{CORES}/core_1")
        assert [manifest_name(c) for c in puts] == ["Echo bot v2", "Echo bot"]
        assert response["Location"] == f"/api/v1/deployments/{body['id']}"

    def test_same_error_matrix(self, acme_user, flow, upstream):
        grid_accepts(upstream)
        first = deploy(acme_user, flow).json()
        upstream.replace("PUT", f"{CORES}/core_1", status=500)
        detail = error_of(rollback(acme_user, first["id"]), 502, "scaicore_create_failed")
        record = Deployment.objects.get(pk=detail["deployment_id"])
        assert (record.status, record.rollback_of_id) == ("failed", first["id"])

    def test_another_tenants_deployment_is_404(self, acme_user, globex_user, flow, upstream):
        grid_accepts(upstream)
        first = deploy(acme_user, flow).json()
        error_of(rollback(globex_user, first["id"]), 404, "not_found")
        error_of(rollback(acme_user, "dep_nope"), 404, "not_found")

    def test_a_deployment_without_a_flow_cannot_be_rolled_back(self, service_client, upstream,
                                                                settings):  # fmt: skip
        settings.SCAIGRID_API_KEY = "sgk_env"
        grid_accepts(upstream)
        legacy = service_client.post(
            "/api/v1/dev/deploy", {"content": SIMPLE_FLOW}, format="json"
        ).json()
        error_of(rollback(service_client, legacy["deployment_id"]), 400, "invalid_request")


class TestDeployIfMatch:
    def test_current_version_deploys(self, acme_user, flow, upstream):
        grid_accepts(upstream)
        assert deploy(acme_user, flow, HTTP_IF_MATCH='"1"').status_code == 201

    def test_a_flow_that_moved_on_is_412(self, acme_user, flow, upstream):
        flow_update(flow=flow, actor="test", content={**SIMPLE_FLOW, "name": "v2"})
        detail = error_of(deploy(acme_user, flow, HTTP_IF_MATCH="1"), 412, "version_conflict")
        assert detail["current_version"] == 2
        assert not upstream.calls
        assert not Deployment.objects.exists()


class TestRollbackCommand:
    def test_rolls_back_and_prints_the_new_record(self, acme_user, flow, upstream, settings):
        import io

        from django.core.management import call_command

        settings.SCAIGRID_API_KEY = "sgk_env_for_cli"  # no JWT on the command line
        grid_accepts(upstream)
        first = deploy(acme_user, flow).json()
        flow_update(flow=flow, actor="test", content={**SIMPLE_FLOW, "name": "v2"})
        deploy(acme_user, flow)
        out = io.StringIO()
        call_command("rollback_deployment", first["id"], stdout=out)
        newest = Deployment.objects.order_by("-created_at").first()
        assert (newest.rollback_of_id, newest.flow_version, newest.status) == (
            first["id"], 1, "succeeded",
        )  # fmt: skip
        assert newest.actor.startswith("cli:")
        assert f"rolled back to {first['id']}" in out.getvalue()

    def test_failures_are_one_line(self, db):
        import pytest
        from django.core.management import CommandError, call_command

        with pytest.raises(CommandError, match=r"^not_found: "):
            call_command("rollback_deployment", "dep_missing")
