"""Deployments in the admin: failed deploys first-class (SPEC §7). Records are read-only; the
actions deploy again through the services, as `admin:<username>`."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join

from deployments.errors import recorded_error_codes
from deployments.models import Deployment, Status
from deployments.services import (
    NotRetryable,
    deployment_retry_publish,
    deployment_rollback,
    retry_publish_refusal,
)
from flows.models import Flow
from scaiflow.admin import LargeTableAdmin, ReadOnlyAdmin
from scaiflow.core.errors import ApiError
from tenants.admin_scope import ObjectActionsAdmin, TenantListFilter, TenantScopedAdmin

# A flow id prefix as short as `flw_` would match every flow.
MAX_FLOWS_SEARCHED = 50

STATUS_COLOURS = {
    Status.PENDING: "#757575",
    Status.SUCCEEDED: "#2e7d32",
    Status.FAILED: "#c62828",
    Status.PUBLISH_FAILED: "#ef6c00",
}


# What the deploy used to call ScaiGrid, as an operator reads it (tenants.models.CredentialSource).
AUTH_SOURCE_LABELS = {
    "jwt": "ScaiKey JWT (the caller's)",
    "tenant_key": "Tenant's stored ScaiGrid key",
    "env": "SCAIGRID_API_KEY (development fallback)",
}


def status_badge(status: str | None) -> str:
    """A coloured badge; its colours are in scaiflow/admin.css (no inline styles: CSP)."""
    if not status:
        return "—"
    return format_html('<span class="status-badge status-{}">{}</span>', status, status)


class ErrorCodeListFilter(admin.SimpleListFilter):
    """The error codes a deploy can end with, from the code rather than a DISTINCT over the
    table: not every code the API answers (`not_acceptable` never ends a deploy)."""

    title = "error code"
    parameter_name = "error_code"

    def lookups(self, request, model_admin):
        return [(code, code) for code in recorded_error_codes()]

    def queryset(self, request, queryset):
        return queryset if self.value() is None else queryset.filter(error_code=self.value())


def admin_actor(request) -> str:
    return f"admin:{request.user.get_username()}"


def deploy_again(request, queryset, service, verb: str) -> None:
    """Run `service` on each selected record; one message per record, never a secret."""
    for deployment in queryset.select_related("flow", "flow__tenant"):
        try:
            new = service(deployment=deployment, actor=admin_actor(request))
        except NotRetryable as exc:
            messages.warning(request, str(exc))
        except ApiError as exc:
            new_id = exc.extra.get("deployment_id", "")
            messages.error(request, f"{verb} {deployment.pk}: {exc.message} ({new_id})")
        else:
            messages.success(request, f"{verb} {deployment.pk}: {new.pk} {new.status}.")


@admin.register(Deployment)
class DeploymentAdmin(
    ReadOnlyAdmin, LargeTableAdmin, ObjectActionsAdmin, TenantScopedAdmin, admin.ModelAdmin
):
    # Its actions also appear as buttons on the change page.
    change_form_template = "admin/change_form_with_actions.html"
    list_display = (
        "id",
        "flow_name",
        "flow_version",
        "tenant",
        "badge",
        "error_code",
        "actor",
        "created_at",
    )
    list_filter = ("status", ErrorCodeListFilter, TenantListFilter, "created_at")
    list_select_related = ("tenant",)
    # A deployment id (`dep_…`) or flow id (`flw_…`), whole or a prefix; else an error code.
    search_fields = ("id", "flow__public_id", "error_code")
    id_prefixes = {"dep_": "id"}
    exact_search_fields = ("error_code",)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if term.startswith("flw_"):
            # The flows first (their public_id index), then their records through the
            # (flow, created_at) index, newest first: no join sorting a flow's whole history.
            flows = (
                Flow.objects.filter(public_id__startswith=term)
                .order_by()
                .values_list("pk", flat=True)
            )
            return queryset.filter(flow_id__in=list(flows[:MAX_FLOWS_SEARCHED])), False
        return super().get_search_results(request, queryset, search_term)

    actions = ["retry_publish", "redeploy"]
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "id",
                    "badge",
                    "tenant",
                    "flow",
                    "flow_name",
                    "flow_version",
                    "actor",
                    "auth_source_label",
                    "request_id",
                    "created_at",
                    "finished_at",
                )
            },
        ),
        ("Error", {"fields": ("error_code", "error_message", "error_fix", "error_body")}),
        ("Steps", {"fields": ("steps_timeline",)}),
        (
            "ScaiGrid",
            {
                "fields": (
                    "core_id",
                    "core_action",
                    "published_slug",
                    "publish_as_model",
                    "group_ids",
                    "rollback_of",
                )
            },
        ),
        ("Manifest", {"fields": ("manifest_sha256", "manifest_text")}),
    )
    readonly_fields = [f for _, opts in fieldsets for f in opts["fields"]]

    object_actions = [("retry_publish", "Retry publish"), ("redeploy", "Redeploy")]

    def object_action_applies(self, name: str, obj) -> bool:
        # No button that could only answer with a refusal.
        if name == "retry_publish":
            return not retry_publish_refusal(obj)
        if name == "redeploy":
            return obj.flow_id is not None and obj.flow_version is not None
        return True

    @admin.display(description="Status", ordering="status")
    def badge(self, deployment: Deployment) -> str:
        return status_badge(deployment.status)

    @admin.display(description="Auth source", ordering="auth_source")
    def auth_source_label(self, deployment: Deployment) -> str:
        return AUTH_SOURCE_LABELS.get(deployment.auth_source, deployment.auth_source or "—")

    @admin.display(description="Message")
    def error_message(self, deployment: Deployment) -> str:
        return (deployment.error or {}).get("message", "—")

    @admin.display(description="Fix")
    def error_fix(self, deployment: Deployment) -> str:
        return (deployment.error or {}).get("fix", "—")

    @admin.display(description="Error body")
    def error_body(self, deployment: Deployment) -> str:
        if not deployment.error:
            return "—"
        return format_html("<pre>{}</pre>", json.dumps(deployment.error, indent=2))

    @admin.display(description="Timeline")
    def steps_timeline(self, deployment: Deployment) -> str:
        steps = [s for s in deployment.steps or [] if isinstance(s, dict)]
        if not steps:
            return "—"
        longest = max((s.get("duration_ms") or 0 for s in steps), default=0) or 1
        rows = format_html_join(
            "",
            # The bar is SVG: its width and colour are attributes, not the inline styles the
            # Content-Security-Policy refuses.
            '<tr class="step step-{}"><td>{}</td><td>{}</td><td class="duration">{} ms</td>'
            '<td class="bar"><svg role="presentation"><rect height="10" fill="{}" width="{}%"/>'
            "</svg></td><td>{}</td></tr>",
            (
                (
                    s.get("status", ""),
                    s.get("name", ""),
                    status_badge(s.get("status")),
                    s.get("duration_ms", "—"),
                    STATUS_COLOURS.get(s.get("status"), "#757575"),
                    max(1, round(100 * (s.get("duration_ms") or 0) / longest)),
                    s.get("started_at", ""),
                )
                for s in steps
            ),
        )
        return format_html(
            '<table class="steps-timeline"><thead><tr><th>Step</th><th>Status</th>'
            "<th>Duration</th><th></th><th>Started</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    @admin.display(description="Manifest")
    def manifest_text(self, deployment: Deployment) -> str:
        return format_html("<pre>{}</pre>", deployment.manifest) if deployment.manifest else "—"

    @admin.action(description="Retry publish (publish_failed deploys)", permissions=["deploy"])
    def retry_publish(self, request, queryset) -> None:
        deploy_again(request, queryset, deployment_retry_publish, "Retried publish of")

    @admin.action(
        description="Redeploy this version (a rollback when it is older)", permissions=["deploy"]
    )
    def redeploy(self, request, queryset) -> None:
        deploy_again(request, queryset, deployment_rollback, "Redeployed")
