from django.apps import AppConfig


class ScaiflowConfig(AppConfig):
    name = "scaiflow"
    verbose_name = "ScaiFlow"

    def ready(self) -> None:
        from scaiflow.core import schema  # noqa: F401 - registers the OpenAPI auth extensions
        from scaiflow.observability import tracing

        tracing.configure()
