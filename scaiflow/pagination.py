from rest_framework import pagination

from scaiflow.errors import InvalidRequest, NotFound


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
