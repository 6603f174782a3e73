from django.core.management.base import BaseCommand, CommandError

from deployments.management.cli import cli_actor, deployment_lines, error_line
from deployments.models import Deployment
from deployments.services import deployment_retry_publish
from scaiflow.core.errors import ApiError


class Command(BaseCommand):
    help = (
        "Retry the publish of a publish_failed deployment: redeploy the same flow version, "
        "publish on, to the same Core (a new deployment record). Refused, with the reason, "
        "for any other status or when a later deployment has changed the flow's Core."
    )

    def add_arguments(self, parser):
        parser.add_argument("deployment_id", help="the publish_failed deployment (dep_…)")

    def handle(self, *args, deployment_id, **options):
        deployment = Deployment.objects.select_related("flow__tenant").filter(pk=deployment_id)
        deployment = deployment.first()
        if deployment is None:
            raise CommandError(f"not_found: no deployment '{deployment_id}'")
        try:
            retried = deployment_retry_publish(deployment=deployment, actor=cli_actor())
        except ApiError as error:
            raise CommandError(error_line(error)) from None
        self.stdout.write(f"retried the publish of {deployment.pk}")
        for line in deployment_lines(retried):
            self.stdout.write(line)
