"""The admin site's titles, and what the changelists of every app share: tables that grow
without end. The tenant scope of every app's admin is tenants/admin_scope.py."""

import json

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Q
from django.utils.functional import cached_property

admin.site.site_header = "ScaiFlow admin"
admin.site.site_title = "ScaiFlow admin"
admin.site.index_title = "Tenants, flows and deployments"


class EstimatedCountPaginator(Paginator):
    """Counts exactly up to `exact_up_to` rows (an index range read); past that, on
    PostgreSQL, takes the planner's estimate rather than counting millions of rows."""

    exact_up_to = 1_000

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        counted = queryset.order_by().values("pk")[: self.exact_up_to + 1].count()
        if counted <= self.exact_up_to or connection.vendor != "postgresql":
            return counted if counted <= self.exact_up_to else queryset.count()
        sql, params = queryset.order_by().values("pk").query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            plan = cursor.fetchone()[0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        return max(counted, int(plan[0]["Plan"]["Plan Rows"]))


class LargeTableAdmin:
    """Mixin for the changelists of tables that grow without end (deployments, audit): one
    count rather than two, exact up to 1,000 rows and estimated past them; no date
    drill-down (a DISTINCT over every row); and a search that finds an id by prefix through
    its index instead of scanning every column.

    `id_prefixes` maps an id's prefix (`dep_`) to the field it is looked up in; a term with
    none of these prefixes is looked up exactly in `exact_search_fields`."""

    show_full_result_count = False
    paginator = EstimatedCountPaginator
    date_hierarchy = None
    id_prefixes: dict[str, str] = {}
    exact_search_fields: tuple[str, ...] = ()

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        for prefix, field in self.id_prefixes.items():
            if term.startswith(prefix):
                # Case-sensitive LIKE 'term%': served by the varchar_pattern_ops index.
                return queryset.filter(**{f"{field}__startswith": term}), False
        wanted = Q()
        for field in self.exact_search_fields:
            wanted |= Q(**{field: term})
        return queryset.filter(wanted) if wanted else queryset.none(), False


class ReadOnlyAdmin:
    """Mixin for a ModelAdmin or an inline whose rows nobody adds, changes or deletes in the
    admin: records and history written by the services. Listed first among the bases, so no
    other mixin's permission check can widen it; actions that go through the services may
    still run (ObjectActionsAdmin's `deploy` permission)."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
