"""What `OPTIONS` answers on the API (DRF's DEFAULT_METADATA_CLASS)."""

from rest_framework.metadata import SimpleMetadata


class Metadata(SimpleMetadata):
    """OPTIONS answers the view's name, description and media types.

    DRF's default also describes the fields of a view's `serializer_class`; ScaiFlow's views
    name their input serializers per method instead (the OpenAPI schema describes them), so
    that part is left out rather than failing on views without one.
    """

    def determine_actions(self, request, view) -> dict:
        return {}
