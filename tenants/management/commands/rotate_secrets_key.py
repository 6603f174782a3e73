from django.core.management.base import BaseCommand, CommandError

from tenants.credentials import CredentialDecryptError, secrets_key_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every ScaiGrid key stored in the database with the first key of "
        "SCAIFLOW_SECRETS_KEYS. Put the new key first, keep the old ones after it, run this, "
        "then drop the old keys."
    )

    def handle(self, *args, **options):
        try:
            rotated = secrets_key_rotate()
        except CredentialDecryptError as exc:
            raise CommandError(f"{exc}; nothing was changed") from None
        self.stdout.write(f"re-encrypted {rotated} stored key(s) with the first secrets key")
