"""Actions that deploy or use the ScaiGrid key need the change permission: a staff tenant
admin with only the view permissions neither sees them nor can post them."""

from __future__ import annotations

import pytest

from deployments.models import Deployment, Status
from tenants.services import scaigrid_credential_set
from tests.admin.conftest import EVENTS, KEY, change_url, grid_accepts, make_deployment

pytestmark = pytest.mark.django_db


def act(client, url, action, pk):
    return client.post(url, {"action": action, "_selected_action": [str(pk)]}, follow=True)


@pytest.fixture
def ready(acme, acme_flow, upstream):
    """A key to deploy with and a ScaiGrid that would accept anything."""
    scaigrid_credential_set(tenant=acme, api_key=KEY, actor="test")
    grid_accepts(upstream)
    upstream.get(EVENTS, status=404, json={"error": "not_found"})
    return upstream


def test_a_viewer_cannot_deploy_a_flow(viewer_client, acme_flow, ready):
    response = act(viewer_client, "/admin/flows/flow/", "deploy", acme_flow.pk)
    assert response.status_code == 200
    assert not Deployment.objects.exists()
    assert len(ready.calls) == 0


@pytest.mark.parametrize("action", ["retry_publish", "redeploy"])
def test_a_viewer_cannot_deploy_a_recorded_version_again(viewer_client, acme_flow, ready, action):
    failed = make_deployment(acme_flow, status=Status.PUBLISH_FAILED, core_id="core_1")
    act(viewer_client, "/admin/deployments/deployment/", action, failed.pk)
    assert list(Deployment.objects.all()) == [failed]
    assert len(ready.calls) == 0


def test_a_viewer_cannot_test_the_tenants_key(viewer_client, acme, ready):
    act(viewer_client, "/admin/tenants/tenant/", "test_scaigrid_credentials", acme.pk)
    assert len(ready.calls) == 0


def test_a_viewer_sees_only_the_harmless_buttons(viewer_client, acme, acme_flow):
    deployment = make_deployment(acme_flow)
    flow_page = viewer_client.get(change_url(acme_flow)).content.decode()
    assert 'value="compile"' in flow_page
    assert 'value="deploy"' not in flow_page
    deployment_page = viewer_client.get(change_url(deployment)).content.decode()
    assert 'value="redeploy"' not in deployment_page
    assert 'value="retry_publish"' not in deployment_page
    tenant_page = viewer_client.get(change_url(acme)).content.decode()
    assert 'value="test_scaigrid_credentials"' not in tenant_page
    changelist = viewer_client.get("/admin/flows/flow/").content.decode()
    assert 'value="compile"' in changelist
    assert 'value="deploy"' not in changelist


def test_a_tenant_admin_with_change_permission_sees_every_button(ada_client, acme, acme_flow):
    deployment = make_deployment(acme_flow, status=Status.PUBLISH_FAILED, core_id="core_1")
    flow_page = ada_client.get(change_url(acme_flow)).content.decode()
    assert 'value="compile"' in flow_page and 'value="deploy"' in flow_page
    deployment_page = ada_client.get(change_url(deployment)).content.decode()
    assert 'value="redeploy"' in deployment_page and 'value="retry_publish"' in deployment_page
    assert 'value="test_scaigrid_credentials"' in ada_client.get(change_url(acme)).content.decode()


def test_retry_publish_is_offered_only_where_a_retry_can_run(ada_client, acme_flow):
    failed = make_deployment(acme_flow)
    succeeded = make_deployment(acme_flow, status=Status.SUCCEEDED)
    for record in (failed, succeeded):
        page = ada_client.get(change_url(record)).content.decode()
        assert 'value="retry_publish"' not in page and 'value="redeploy"' in page
    stale = make_deployment(acme_flow, status=Status.PUBLISH_FAILED, core_id="core_1")
    assert 'value="retry_publish"' in ada_client.get(change_url(stale)).content.decode()
    # A later deploy changed the Core: retrying would roll it back.
    make_deployment(acme_flow, status=Status.SUCCEEDED, core_id="core_1")
    assert 'value="retry_publish"' not in ada_client.get(change_url(stale)).content.decode()
