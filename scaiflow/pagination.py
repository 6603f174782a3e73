from rest_framework import pagination

from scaiflow.errors import InvalidRequest


def _whole_number(raw: str, *, low: int, high: int | None = None) -> bool:
    # At most 12 digits: int() of thousands of digits raises, and no page is that far.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 12):
        return False
    return low <= int(raw) <= (high or int(raw))


class PageNumberPagination(pagination.PageNumberPagination):
    """`?page=N&page_size=M` (at most 200); answers `count`, `next`, `previous`, `results`.

    A `page` or `page_size` that is not a whole number in range is a 400, as the schema says,
    rather than silently the first page or the default size (DRF's way). A page past the last
    one is a 404.
    """

    page_size_query_param = "page_size"
    max_page_size = 200
    last_page_strings = ()

    def get_page_number(self, request, paginator):
        raw = request.query_params.get(self.page_query_param)
        if raw is None:
            return 1
        if not _whole_number(raw, low=1):
            raise InvalidRequest(
                "page must be a whole number from 1.",
                fields={"page": ["A whole number from 1."]},
            )
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
