import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from scaiflow.cli.compile import add_compile_arguments, compile_file
from scaiflow.cli.errors import CommandFailed


class Command(BaseCommand):
    help = (
        "Compile a FlowGraph JSON file to its ScaiCore manifest (the same as `scaiflow "
        "compile`). Exit status: 0 compiled, 1 compile errors, 2 unreadable file."
    )
    # Compiling touches neither the database nor the project's models.
    requires_system_checks = []

    def add_arguments(self, parser):
        add_compile_arguments(parser)

    def handle(self, *args, file, format, output, **options):
        try:
            compile_file(
                file,
                output_format=format,
                output=output,
                catalog_path=settings.SCAIFLOW_PLUGIN_CATALOG,
                stdin=sys.stdin,
                stdout=self.stdout,
                stderr=self.stderr,
            )
        except CommandFailed as failure:
            raise CommandError(failure.reason, returncode=failure.status) from failure
