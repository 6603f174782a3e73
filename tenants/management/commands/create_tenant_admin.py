import sys

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from tenants.models import Role, Tenant, TenantMembership


class Command(BaseCommand):
    help = (
        "Make USERNAME a tenant admin of TENANT who signs in to the admin with a password "
        "(created when missing). The password is read from standard input with "
        "--password-stdin; otherwise a one-time link to set it is printed."
    )

    def add_arguments(self, parser):
        parser.add_argument("tenant", help="the tenant's slug")
        parser.add_argument("username", help="the admin login (created when missing)")
        parser.add_argument("--email", default="", help="the user's e-mail address, if new")
        parser.add_argument(
            "--password-stdin", action="store_true", help="read the password from standard input"
        )
        parser.add_argument(
            "--base-url",
            default="http://127.0.0.1:8000",
            help="where ScaiFlow is reached, for the set-password link",
        )

    def handle(self, *args, tenant, username, email, password_stdin, base_url, **options):
        found = Tenant.objects.filter(slug=tenant).first()
        if found is None:
            raise CommandError(f"there is no tenant '{tenant}' (create it with create_tenant)")
        password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
        with transaction.atomic():
            user, created = get_user_model().objects.get_or_create(
                username=username, defaults={"email": email}
            )
            if password is not None:
                try:
                    validate_password(password, user)
                except ValidationError as exc:
                    raise CommandError(" ".join(exc.messages)) from None
                user.set_password(password)
            elif created:
                user.set_unusable_password()
            user.is_staff = True
            user.save()
            TenantMembership.objects.update_or_create(
                user=user, tenant=found, defaults={"role": Role.TENANT_ADMIN}
            )
        verb = "created" if created else "updated"
        self.stdout.write(f"{verb} '{username}', tenant admin of '{found.slug}'")
        if password is None:
            # Django's reset token: valid until the password changes (so once) or it expires.
            path = reverse(
                "admin_password_set",
                args=[
                    urlsafe_base64_encode(force_bytes(user.pk)),
                    default_token_generator.make_token(user),
                ],
            )
            self.stdout.write(f"Set the password (once) at: {base_url.rstrip('/')}{path}")
