"""The admin actions: test credentials, compile, deploy, retry publish, redeploy."""

from __future__ import annotations

import pytest

from deployments.models import Deployment, Status
from tenants.models import AuditEntry
from tenants.services import scaigrid_credential_set
from tests.admin.conftest import CORES, EVENTS, KEY, grid_accepts, make_deployment

pytestmark = pytest.mark.django_db


def act(client, url, action, *pks):
    return client.post(
        url, {"action": action, "_selected_action": [str(pk) for pk in pks]}, follow=True
    )


def page_messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_credentials_test_succeeds_with_one_harmless_call(ada_client, acme, upstream):
    scaigrid_credential_set(tenant=acme, api_key=KEY, actor="test")
    upstream.get(EVENTS, status=404, json={"error": "not_found"})

    response = act(ada_client, "/admin/tenants/tenant/", "test_scaigrid_credentials", acme.pk)

    assert len(upstream.calls) == 1
    call = upstream.calls[0].request
    assert call.method == "GET" and "core_id=__probe__" in call.url
    assert call.headers["Authorization"] == f"Bearer {KEY}"
    (message,) = page_messages(response)
    assert "accepted" in message
    assert KEY not in response.content.decode()


def test_credentials_test_reports_a_refusal(ada_client, acme, upstream):
    scaigrid_credential_set(tenant=acme, api_key=KEY, actor="test")
    upstream.get(EVENTS, status=401, json={"error": "unauthorized"})

    response = act(ada_client, "/admin/tenants/tenant/", "test_scaigrid_credentials", acme.pk)

    (message,) = page_messages(response)
    assert "acme" in message and "401" in message
    assert KEY not in response.content.decode()


def test_credentials_test_without_a_key(ada_client, acme, upstream):
    response = act(ada_client, "/admin/tenants/tenant/", "test_scaigrid_credentials", acme.pk)
    assert len(upstream.calls) == 0
    (message,) = page_messages(response)
    assert message.startswith("acme:")


def test_compile_action(ada_client, acme_flow):
    response = act(ada_client, "/admin/flows/flow/", "compile", acme_flow.pk)
    assert "compiles cleanly" in page_messages(response)[0]


def test_deploy_action_uses_the_tenant_key_as_the_admin(ada_client, acme_flow, upstream):
    scaigrid_credential_set(tenant=acme_flow.tenant, api_key=KEY, actor="test")
    grid_accepts(upstream)

    response = act(ada_client, "/admin/flows/flow/", "deploy", acme_flow.pk)

    deployment = Deployment.objects.get(flow=acme_flow)
    assert deployment.status == Status.SUCCEEDED
    assert deployment.actor == "admin:ada"
    assert deployment.auth_source == "tenant_key"
    assert deployment.pk in page_messages(response)[0]


def test_deploy_cannot_reach_another_tenants_flow(ada_client, globex_flow, upstream):
    act(ada_client, "/admin/flows/flow/", "deploy", globex_flow.pk)
    assert not Deployment.objects.filter(flow=globex_flow).exists()
    assert len(upstream.calls) == 0


def test_retry_publish_redeploys_the_version_with_publish_on(ada_client, acme_flow, upstream):
    scaigrid_credential_set(tenant=acme_flow.tenant, api_key=KEY, actor="test")
    failed = make_deployment(
        acme_flow, status=Status.PUBLISH_FAILED, core_id="core_1", group_ids=["grp_a"]
    )
    grid_accepts(upstream)

    response = act(ada_client, "/admin/deployments/deployment/", "retry_publish", failed.pk)

    new = Deployment.objects.exclude(pk=failed.pk).get()
    assert new.status == Status.SUCCEEDED
    assert new.actor == "admin:ada"
    assert new.published_slug == "echo-bot"
    assert new.flow_version == failed.flow_version
    assert [c.request.method for c in upstream.calls if "/publish" in c.request.url] == ["POST"]
    assert any(c.request.url == f"{CORES}/core_1" for c in upstream.calls)
    assert new.pk in page_messages(response)[0]


def test_retry_publish_skips_other_statuses(ada_client, acme_flow, upstream):
    done = make_deployment(acme_flow, status=Status.SUCCEEDED)
    response = act(ada_client, "/admin/deployments/deployment/", "retry_publish", done.pk)
    assert "not publish_failed" in page_messages(response)[0]
    assert Deployment.objects.count() == 1


def test_redeploy(admin_client, acme_flow, upstream):
    scaigrid_credential_set(tenant=acme_flow.tenant, api_key=KEY, actor="test")
    failed = make_deployment(acme_flow, status=Status.FAILED)
    grid_accepts(upstream)

    act(admin_client, "/admin/deployments/deployment/", "redeploy", failed.pk)

    new = Deployment.objects.exclude(pk=failed.pk).get()
    assert new.status == Status.SUCCEEDED and new.actor == "admin:root"
    # Redeploying a recorded version is a rollback to it: the new record and the audit say so.
    assert new.rollback_of_id == failed.pk
    assert AuditEntry.objects.filter(kind="deploy.rollback", target=failed.pk).count() == 1


def test_redeploy_failure_is_a_message_with_the_new_record(admin_client, acme_flow, upstream):
    failed = make_deployment(acme_flow, status=Status.FAILED)
    response = act(admin_client, "/admin/deployments/deployment/", "redeploy", failed.pk)
    new = Deployment.objects.exclude(pk=failed.pk).get()
    assert new.status == Status.FAILED
    assert new.pk in page_messages(response)[0]
