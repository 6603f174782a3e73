"""Flows in the admin: read-only rows (changes go through the API, whose services keep the rows
and the stored content in step), a picture of the graph, its compile result, the diff of any
two versions, and the actions "Compile" and "Deploy"."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import OuterRef, Subquery
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from deployments.admin import admin_actor, status_badge
from deployments.models import Deployment
from deployments.services import flow_deploy
from flows.diff import flow_versions_diff
from flows.graph_svg import flow_graph_svg
from flows.models import Flow, FlowVersion
from flows.selectors import flow_version_content
from flows.services import flow_compile
from flows.storage import FlowStorageError
from scaiflow.admin import ReadOnlyAdmin
from scaiflow.core.errors import ApiError
from tenants.admin_scope import ObjectActionsAdmin, TenantListFilter, TenantScopedAdmin


class FlowVersionInline(ReadOnlyAdmin, admin.TabularInline):
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
            version = found.version
            result = flow_compile(
                flow=flow,
                content=found.content,
                version=version.number,
                content_sha256=version.sha256,
            )
            flow._admin_compiled = (found.content, result)
    return flow._admin_compiled


# GET parameters of the version diff: the page with them is a link to that diff.
DIFF_FROM, DIFF_TO = "diff_from", "diff_to"


def _diff_version(request, name: str, default: int, numbers: list[int]) -> tuple[int, str]:
    """The version number in GET parameter `name` (else `default`), and an error message."""
    raw = request.GET.get(name)
    if raw is None:
        return default, ""
    try:
        number = int(raw)
    except ValueError:
        number = None
    if number in numbers:
        return number, ""
    return default, f"There is no version {raw[:20]!r} of this flow: choose one from the list."


def _manifest_lines(text: str) -> list[tuple[str, str]]:
    """(CSS class, line) of a unified diff, for colouring added and removed lines."""
    kinds = (("+++", "file"), ("---", "file"), ("@@", "hunk"), ("+", "added"), ("-", "removed"))
    return [
        (next((kind for prefix, kind in kinds if line.startswith(prefix)), "context"), line)
        for line in text.splitlines()
    ]


def version_diff_context(request, flow: Flow) -> dict:
    """What the flow page's "Changes between versions" section shows: the version choices
    (default: previous and current) and, once asked for, the diff the API answers."""
    numbers = list(flow.versions.order_by("-number").values_list("number", flat=True))
    if len(numbers) < 2:
        return {"single": True}
    a, error_a = _diff_version(request, DIFF_FROM, numbers[1], numbers)
    b, error_b = _diff_version(request, DIFF_TO, numbers[0], numbers)
    context = {"numbers": numbers, "a": a, "b": b, "errors": [e for e in (error_a, error_b) if e]}
    asked = DIFF_FROM in request.GET or DIFF_TO in request.GET
    if not asked or context["errors"]:
        return context
    try:
        body = flow_versions_diff(tenant=flow.tenant, flow=flow, a=a, b=b)
    except (FlowStorageError, ApiError):
        context["errors"] = ["The content of a version could not be read from storage."]
        return context
    context["body"] = body
    context["empty"] = not any(
        changes for part in ("nodes", "edges", "config") for changes in body[part].values()
    )
    if body["manifest_diff"] is None:
        sides = {a: body["compiles"]["from"], b: body["compiles"]["to"]}
        broken = [f"v{number}" for number, ok in sides.items() if not ok]
        verb = "do" if len(broken) > 1 else "does"
        context["manifest_note"] = f"No manifest diff: {' and '.join(broken)} {verb} not compile."
    elif not body["manifest_diff"]:
        context["manifest_note"] = "The manifests are the same."
    else:
        context["manifest_lines"] = _manifest_lines(body["manifest_diff"])
    return context


@admin.register(Flow)
class FlowAdmin(ReadOnlyAdmin, ObjectActionsAdmin, TenantScopedAdmin, admin.ModelAdmin):
    # Its actions also appear as buttons on the change page.
    change_form_template = "admin/flows/flow/change_form.html"
    list_display = ["name", "public_id", "tenant", "version", "last_deploy", "updated_at"]
    list_filter = [TenantListFilter]
    list_select_related = ["tenant"]
    show_full_result_count = False
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
        latest = Deployment.objects.filter(flow=OuterRef("pk")).order_by("-created_at", "-pk")
        return (
            super()
            .get_queryset(request)
            .annotate(last_deploy_status=Subquery(latest.values("status")[:1]))
        )

    object_actions = [("compile", "Compile"), ("deploy", "Deploy")]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # Reached only with a flow of the tenant-scoped queryset the user may view: another
        # tenant's flow is answered as an unknown id before this.
        if obj is not None:
            context["version_diff"] = version_diff_context(request, obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

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
