from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    name = "deployments"

    def ready(self) -> None:
        from deployments.metrics import PENDING
        from scaiflow.observability import metrics

        metrics.register_scrape_time_collector(PENDING)
