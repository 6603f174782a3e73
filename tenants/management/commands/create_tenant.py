from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tenants.services import tenant_create


class Command(BaseCommand):
    help = "Create a tenant. Tenants are also created on first sight of a valid ScaiKey token."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the tenant's slug, as ScaiKey tokens name it")
        parser.add_argument("--name", default="", help="a display name (default: the slug)")

    def handle(self, *args, slug, name, **options):
        try:
            tenant = tenant_create(slug=slug, name=name)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(f"created tenant '{tenant.slug}'")
