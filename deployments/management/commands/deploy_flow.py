import argparse

from django.core.management.base import BaseCommand, CommandError

from deployments.management.cli import cli_actor, deployment_lines, error_line, positive_int
from deployments.services import flow_deploy
from flows.models import Flow
from scaiflow.core.errors import ApiError


class Command(BaseCommand):
    help = (
        "Deploy a flow to ScaiGrid through the same pipeline as POST /flows/{id}/deploy, with "
        "the tenant's stored ScaiGrid key (else SCAIGRID_API_KEY, dev only). Prints the "
        "deployment; on failure exits 1 with `error_code: message (deployment dep_…)`."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        # `--version` is the flow version here: it replaces Django's --version.
        kwargs.setdefault("conflict_handler", "resolve")
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("flow_id", help="the flow's public id (flw_…)")
        parser.add_argument(
            "--version",
            type=positive_int,
            default=None,
            help="the flow version to deploy (default: the current one)",
        )
        parser.add_argument(
            "--publish",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="publish the Core as a model, or (--no-publish) not, unpublishing it if it "
            "was (default: the flow's config.publish_as_model)",
        )

    def handle(self, *args, flow_id, version, publish, **options):
        flow = Flow.objects.select_related("tenant").filter(public_id=flow_id).first()
        if flow is None:
            raise CommandError(f"not_found: no flow '{flow_id}'")
        try:
            deployment = flow_deploy(
                flow=flow, actor=cli_actor(), version=version, publish_as_model=publish
            )
        except ApiError as error:
            raise CommandError(error_line(error)) from None
        for line in deployment_lines(deployment):
            self.stdout.write(line)
