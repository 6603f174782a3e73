import getpass
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.views.decorators.debug import sensitive_variables

from scaiflow.core.errors import ApiError
from tenants.models import Tenant
from tenants.services import scaigrid_credential_set

ACTOR = "command:set_scaigrid_credentials"


class Command(BaseCommand):
    help = (
        "Set a tenant's ScaiGrid API key. The key is read from --api-key-file or standard input "
        "(prompted for, not echoed, on a terminal); never from an argument."
    )
    # Tests hand the command its standard input.
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("tenant", help="the tenant's slug")
        parser.add_argument(
            "--base-url", default=None, help="ScaiGrid's base URL (default SCAIGRID_BASE_URL)"
        )
        parser.add_argument(
            "--api-key-file", default=None, help="a file holding the key (default: stdin)"
        )

    @sensitive_variables()
    def handle(self, *args, tenant, base_url, api_key_file, **options):
        record = Tenant.objects.filter(slug=tenant).first()
        if record is None:
            raise CommandError(f"tenant '{tenant}' does not exist (create it with create_tenant)")
        api_key = self._read_key(api_key_file, options.get("stdin") or sys.stdin)
        try:
            credential = scaigrid_credential_set(
                tenant=record, api_key=api_key, base_url=base_url, actor=ACTOR
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        except ApiError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            f"set the ScaiGrid key of tenant '{record.slug}' ({credential.api_key_hint}, "
            f"{credential.base_url}, stored in {credential.storage})"
        )

    @sensitive_variables()
    def _read_key(self, path: str | None, stdin) -> str:
        if path:
            try:
                with open(path, encoding="utf-8") as file:
                    return file.read().strip()
            except OSError as exc:
                raise CommandError(f"cannot read the key file: {exc.strerror}") from None
            except UnicodeDecodeError:
                raise CommandError("cannot read the key file: it is not UTF-8 text") from None
        if stdin.isatty():
            return getpass.getpass("ScaiGrid API key (not echoed): ").strip()
        return stdin.read().strip()
