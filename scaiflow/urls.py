from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path, register_converter, reverse_lazy
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from deployments.api import (
    DeploymentDetail,
    DeploymentList,
    DeploymentRollbackView,
    FlowDeploymentList,
    FlowDeployView,
    LegacyDeployView,
)
from deployments.events_api import ScaicoreEventsView
from flows.api import (
    FlowCompileView,
    FlowDetailView,
    FlowListView,
    FlowVersionDetailView,
    FlowVersionDiffView,
    FlowVersionListView,
)
from scaiflow.core import errors, health
from scaiflow.observability import metrics
from tenants import signin
from tenants.api import AuditListView, ScaigridCredentialsView, TenantMeView


class ObjectIdConverter:
    """Flow and deployment ids (`flw_…`, `dep_…`): letters, digits, `_` and `-`. Anything else
    (a NUL, which PostgreSQL cannot even compare) is no such object: the API's 404."""

    regex = "[A-Za-z0-9_-]{1,64}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(ObjectIdConverter, "id")

api_v1 = [
    path("tenants/me", TenantMeView.as_view(), name="tenant-me"),
    path(
        "tenants/me/scaigrid_credentials",
        ScaigridCredentialsView.as_view(),
        name="tenant-scaigrid-credentials",
    ),
    path("flows", FlowListView.as_view(), name="flow-list"),
    path("flows/<id:flow_id>", FlowDetailView.as_view(), name="flow-detail"),
    path("flows/<id:flow_id>/versions", FlowVersionListView.as_view(), name="flow-version-list"),
    path(
        "flows/<id:flow_id>/versions/<int:number>",
        FlowVersionDetailView.as_view(),
        name="flow-version-detail",
    ),
    path(
        "flows/<id:flow_id>/versions/<int:a>/diff/<int:b>",
        FlowVersionDiffView.as_view(),
        name="flow-version-diff",
    ),
    path("flows/<id:flow_id>/compile", FlowCompileView.as_view(), name="flow-compile"),
    path("flows/<id:flow_id>/deploy", FlowDeployView.as_view(), name="flow-deploy"),
    path("flows/<id:flow_id>/deployments", FlowDeploymentList.as_view(), name="flow-deployments"),
    path("deployments", DeploymentList.as_view(), name="deployment-list"),
    path("deployments/<id:deployment_id>", DeploymentDetail.as_view(), name="deployment-detail"),
    path(
        "deployments/<id:deployment_id>/rollback",
        DeploymentRollbackView.as_view(),
        name="deployment-rollback",
    ),
    path("audit", AuditListView.as_view(), name="audit-list"),
    path("scaicore/events", ScaicoreEventsView.as_view(), name="scaicore-events"),
    path("dev/deploy", LegacyDeployView.as_view(), name="legacy-deploy"),
]

urlpatterns = [
    # The one-time set-password link `manage.py create_tenant_admin` prints (before the admin's
    # own URLs, whose catch-all would answer it).
    path(
        "admin/password-set/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            success_url=reverse_lazy("admin_password_set_done")
        ),
        name="admin_password_set",
    ),
    path(
        "admin/password-set/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="admin_password_set_done",
    ),
    # "Sign in with ScaiKey" (tenants/signin.py), the callback being the redirect URI that is
    # registered in ScaiKey.
    path("admin/oidc/login/", signin.sign_in, name="scaikey_login"),
    path("admin/oidc/callback/", signin.callback, name="scaikey_callback"),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file of its own, and the template
    # takes its styles from a file: the Content-Security-Policy allows no inline script or style.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="schema", template_name="scaiflow/swagger_ui.html"
        ),
        name="docs",
    ),
    path("api/v1/", include(api_v1)),
    # Unknown API paths answer the API's JSON body, with DEBUG on too.
    re_path(r"^api/", errors.api_not_found),
]

handler400 = "scaiflow.core.errors.handler400"
handler403 = "scaiflow.core.errors.handler403"
handler404 = "scaiflow.core.errors.handler404"
handler500 = "scaiflow.core.errors.handler500"
