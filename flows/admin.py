"""Flows in the admin: read-only rows (changes go through the API, whose services keep the rows
and the stored content in step), a picture of the graph, its compile result, and the actions
"Compile" and "Deploy"."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import OuterRef, Subquery
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from deployments.admin import admin_actor, status_badge
from deployments.models import Deployment
from deployments.services import flow_deploy
from flows.graph_svg import flow_graph_svg
from flows.models import Flow, FlowVersion
from flows.selectors import flow_version_content
from flows.services import flow_compile
from flows.storage import FlowStorageError
from scaiflow.admin import ObjectActionsAdmin, TenantScopedAdmin
from scaiflow.errors import ApiError


class ReadOnlyAdminMixin:
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class FlowVersionInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = FlowVersion
    verbose_name_plural = "Version history"
    fields = ["number", "sha256", "size", "author", "created_at"]
    readonly_fields = fields
    ordering = ["-number"]
    extra = 0


def _compiled(flow: Flow):
    """(content, CompileResult) of the flow's current version, once per request; None if the
    content cannot be read."""
    if not hasattr(flow, "_admin_compiled"):
        try:
            found = flow_version_content(tenant=flow.tenant, flow=flow)
        except (FlowStorageError, ApiError):
            flow._admin_compiled = None
        else:
            result = flow_compile(flow=flow, content=found.content, version=found.version.number)
            flow._admin_compiled = (found.content, result)
    return flow._admin_compiled


@admin.register(Flow)
class FlowAdmin(ObjectActionsAdmin, TenantScopedAdmin, ReadOnlyAdminMixin, admin.ModelAdmin):
    # Its actions also appear as buttons on the change page.
    change_form_template = "admin/change_form_with_actions.html"
    list_display = ["name", "public_id", "tenant", "version", "last_deploy", "updated_at"]
    list_filter = [("tenant", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["tenant"]
    search_fields = ["name", "public_id"]
    ordering = ["-updated_at"]
    actions = ["compile", "deploy"]
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "public_id",
                    "tenant",
                    "name",
                    "description",
                    "version",
                    "last_deploy",
                    "content_sha256",
                    "created_by",
                    "created_at",
                    "updated_by",
                    "updated_at",
                )
            },
        ),
        ("Graph", {"fields": ("graph",)}),
        ("Compiled", {"fields": ("compile_result",)}),
    )
    readonly_fields = [f for _, opts in fieldsets for f in opts["fields"]]
    inlines = [FlowVersionInline]

    def get_queryset(self, request):
        latest = Deployment.objects.filter(flow=OuterRef("pk")).order_by("-created_at")
        return (
            super()
            .get_queryset(request)
            .annotate(last_deploy_status=Subquery(latest.values("status")[:1]))
        )

    object_actions = [("compile", "Compile"), ("deploy", "Deploy")]

    @admin.display(description="Last deploy", ordering="last_deploy_status")
    def last_deploy(self, flow: Flow) -> str:
        return status_badge(getattr(flow, "last_deploy_status", None))

    @admin.display(description="Graph")
    def graph(self, flow: Flow) -> str:
        compiled = _compiled(flow)
        if compiled is None:
            return "The content could not be read from storage."
        content, result = compiled
        # flow_graph_svg escapes every piece of text it takes from the graph.
        return mark_safe(flow_graph_svg(content, result.diagnostics))  # noqa: S308

    @admin.display(description="Manifest or diagnostics")
    def compile_result(self, flow: Flow) -> str:
        compiled = _compiled(flow)
        if compiled is None:
            return "—"
        _, result = compiled
        if result.ok:
            return format_html('<pre class="manifest">{}</pre>', result.manifest)
        return format_html(
            '<ul class="diagnostics">{}</ul>',
            format_html_join(
                "",
                "<li><strong>{}</strong> {} {}: {}</li>",
                (
                    (d.severity, d.code, f"(node {d.node_id})" if d.node_id else "", d.message)
                    for d in result.diagnostics
                ),
            ),
        )

    @admin.action(description="Compile")
    def compile(self, request, queryset) -> None:
        for flow in queryset.select_related("tenant"):
            compiled = _compiled(flow)
            if compiled is None:
                messages.error(request, f"{flow.name}: the content could not be read.")
                continue
            _, result = compiled
            if result.ok:
                messages.success(request, f"{flow.name} v{flow.version}: compiles cleanly.")
            else:
                codes = ", ".join(sorted({d.code for d in result.diagnostics}))
                messages.error(request, f"{flow.name} v{flow.version}: does not compile ({codes}).")

    @admin.action(description="Deploy", permissions=["deploy"])
    def deploy(self, request, queryset) -> None:
        for flow in queryset.select_related("tenant"):
            try:
                deployment = flow_deploy(flow=flow, actor=admin_actor(request), principal=None)
            except ApiError as exc:
                new_id = exc.extra.get("deployment_id", "")
                messages.error(request, f"{flow.name}: {exc.message} ({new_id})")
            else:
                messages.success(
                    request, f"{flow.name} v{flow.version}: deployed as {deployment.pk}."
                )
