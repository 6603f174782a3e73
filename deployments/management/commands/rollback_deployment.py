from django.core.management.base import BaseCommand, CommandError

from deployments.management.cli import cli_actor, deployment_lines, error_line
from deployments.models import Deployment
from deployments.services import deployment_rollback
from scaiflow.core.errors import ApiError


class Command(BaseCommand):
    help = (
        "Roll back: redeploy exactly that deployment's flow version and publish settings to "
        "the flow's current Core, through the normal deploy pipeline (a new record that names "
        "the one rolled back to)."
    )

    def add_arguments(self, parser):
        parser.add_argument("deployment_id", help="the deployment to roll back to (dep_…)")

    def handle(self, *args, deployment_id, **options):
        deployment = Deployment.objects.select_related("flow__tenant", "tenant")
        deployment = deployment.filter(pk=deployment_id).first()
        if deployment is None:
            raise CommandError(f"not_found: no deployment '{deployment_id}'")
        try:
            rolled_back = deployment_rollback(deployment=deployment, actor=cli_actor())
        except ApiError as error:
            raise CommandError(error_line(error)) from None
        self.stdout.write(
            f"rolled back to {deployment.pk} (flow version {deployment.flow_version})"
        )
        for line in deployment_lines(rolled_back):
            self.stdout.write(line)
