import base64
import re
from dataclasses import dataclass
from datetime import datetime

from django.db import models
from rest_framework import pagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from scaiflow.core.errors import InvalidRequest, NotFound
from scaiflow.core.keyset import keyset_beyond


def _whole_number(raw: str, *, low: int, high: int | None = None) -> bool:
    # At most 12 digits: int() of thousands of digits raises, and no page is that far.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 12):
        return False
    return low <= int(raw) <= (high or int(raw))


class PageNumberPagination(pagination.PageNumberPagination):
    """`?page=N&page_size=M` (at most 200); answers `count`, `next`, `previous`, `results`.

    A `page` that is not a page (blank, not a whole number from 1, past the last) is a 404,
    rather than silently the first page (DRF's way with a blank one). A `page_size` that is not
    a whole number from 1 to 200 is a 400, rather than silently the default size.
    """

    page_size_query_param = "page_size"
    max_page_size = 200
    last_page_strings = ()

    def get_page_number(self, request, paginator):
        raw = request.query_params.get(self.page_query_param)
        if raw is None:
            return 1
        if not _whole_number(raw, low=1):
            raise NotFound("No such page.")
        return int(raw)

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not _whole_number(raw, low=1, high=self.max_page_size):
            raise InvalidRequest(
                f"page_size must be a whole number from 1 to {self.max_page_size}.",
                fields={"page_size": [f"A whole number from 1 to {self.max_page_size}."]},
            )
        return int(raw)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"]["minimum"] = 1
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
        return parameters


@dataclass(frozen=True)
class _Cursor:
    """A position in a list ordered newest first: the (created_at, id) of a row, and whether
    the page wanted lies after it (older rows, `next`) or before it (newer rows, `previous`)."""

    older: bool
    created_at: datetime
    pk: int | str

    def encode(self) -> str:
        raw = f"{'n' if self.older else 'p'}|{self.created_at.isoformat()}|{self.pk}"
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


# Used with fullmatch: `^…$` with match would accept a final newline.
_CURSOR_PK = re.compile(r"[A-Za-z0-9_-]{1,64}")
_MAX_CURSOR_LENGTH = 200


class KeysetPagination(PageNumberPagination):
    """Pages of an unbounded list, newest first, by keyset on (`created_at`, `id`).

    `next` and `previous` carry a `cursor`: a page after the 10th costs what the first costs
    (an index range read, no OFFSET). `?page=` still serves the first `max_page` pages; past
    them it is a 400 that names the cursor. `count` never scans the table: it counts at most
    `count_cap` rows, and `count_capped` says when there are more.
    """

    cursor_query_param = "cursor"
    max_page = 10
    count_cap = 1000

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.page_size = self.get_page_size(request)
        cursor = self._cursor(request, queryset.model)
        page = self._page_number(request, cursor)
        size = self.page_size

        counted = queryset.order_by().values("pk")[: self.count_cap + 1].count()
        self.count, self.count_capped = min(counted, self.count_cap), counted > self.count_cap

        newest_first = queryset.order_by("-created_at", "-pk")
        if cursor is None:
            rows = list(newest_first[(page - 1) * size : page * size + 1])
            if page > 1 and not rows:
                raise NotFound("No such page.")
            has_older, has_newer = len(rows) > size, page > 1
            rows = rows[:size]
        elif cursor.older:
            after = keyset_beyond(cursor.created_at, cursor.pk, older=True)
            rows = list(newest_first.filter(after)[: size + 1])
            has_older, has_newer = len(rows) > size, True
            rows = rows[:size]
        else:
            before = keyset_beyond(cursor.created_at, cursor.pk, older=False)
            oldest_first = queryset.order_by("created_at", "pk")
            rows = list(oldest_first.filter(before)[: size + 1])
            has_older, has_newer = True, len(rows) > size
            rows = rows[:size][::-1]

        self._next = self._previous = None
        if has_older:
            last = rows[-1] if rows else cursor
            self._next = _Cursor(True, last.created_at, last.pk)
        if has_newer and rows:
            self._previous = _Cursor(False, rows[0].created_at, rows[0].pk)
        return rows

    def _page_number(self, request, cursor: _Cursor | None) -> int:
        raw = request.query_params.get(self.page_query_param)
        if raw is None:
            return 1
        if cursor is not None:
            raise InvalidRequest(
                "Send either page or cursor, not both.",
                fields={"page": ["Not with cursor: follow `next` and `previous` as they are."]},
            )
        page = self.get_page_number(request, None)
        if page > self.max_page:
            raise InvalidRequest(
                f"page goes up to {self.max_page} on this list; further pages are reached by "
                "cursor.",
                fix="Follow the `next` link of the answer (it carries `cursor`).",
                fields={"page": [f"At most {self.max_page}; past it, use `cursor`."]},
            )
        return page

    def _cursor(self, request, model) -> _Cursor | None:
        raw = request.query_params.get(self.cursor_query_param)
        if raw is None:
            return None
        try:
            if len(raw) > _MAX_CURSOR_LENGTH:
                raise ValueError
            decoded = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
            direction, moment, pk = decoded.split("|")
            created_at = datetime.fromisoformat(moment)
            if direction not in ("n", "p") or created_at.tzinfo is None:
                raise ValueError
            if not _CURSOR_PK.fullmatch(pk):
                raise ValueError
            if isinstance(model._meta.pk, models.IntegerField):
                pk = int(pk)
                if pk >= 2**63:
                    raise ValueError
        except ValueError:
            raise InvalidRequest(
                "cursor is not one this list gave out.",
                fix="Use the `next` and `previous` links as they are.",
                fields={"cursor": ["Not a cursor of this list."]},
            ) from None
        return _Cursor(direction == "n", created_at, pk)

    def _link(self, cursor: _Cursor | None) -> str | None:
        if cursor is None:
            return None
        url = remove_query_param(self.request.build_absolute_uri(), self.page_query_param)
        return replace_query_param(url, self.cursor_query_param, cursor.encode())

    def get_next_link(self):
        return self._link(self._next)

    def get_previous_link(self):
        return self._link(self._previous)

    def get_paginated_response(self, data):
        return Response(
            {
                "count": self.count,
                "count_capped": self.count_capped,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        body = super().get_paginated_response_schema(schema)
        body["properties"]["count"]["description"] = (
            f"How many entries match, counted up to {self.count_cap}."
        )
        body["properties"]["count_capped"] = {
            "type": "boolean",
            "description": f"True when more than {self.count_cap} match; `count` is then the cap.",
        }
        body["required"] = ["count", "count_capped", "results"]
        return body

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"]["maximum"] = self.max_page
                parameter["description"] = (
                    f"A page number up to {self.max_page}; further pages by `cursor`."
                )
        parameters.append(
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "The position the `next` or `previous` link carries.",
                "schema": {"type": "string", "maxLength": _MAX_CURSOR_LENGTH},
            }
        )
        return parameters
