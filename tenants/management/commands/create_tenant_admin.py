from __future__ import annotations

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
        "Make USERNAME a tenant admin of TENANT who signs in to the admin with a password. "
        "A new user is created; an existing one is refused unless --existing says to promote "
        "it. The password is read from standard input with --password-stdin; otherwise a new "
        "user gets a one-time link to set it."
    )

    def add_arguments(self, parser):
        parser.add_argument("tenant", help="the tenant's slug")
        parser.add_argument("username", help="the admin login (created when missing)")
        parser.add_argument("--email", default="", help="the user's e-mail address, if new")
        parser.add_argument(
            "--existing",
            action="store_true",
            help="USERNAME may exist already: make that user a tenant admin of TENANT",
        )
        parser.add_argument(
            "--password-stdin", action="store_true", help="read the password from standard input"
        )
        parser.add_argument(
            "--base-url",
            default="http://127.0.0.1:8000",
            help="where ScaiFlow is reached, for the set-password link",
        )

    def handle(self, *args, tenant, username, email, existing, password_stdin, base_url, **opts):
        found = Tenant.objects.filter(slug=tenant).first()
        if found is None:
            raise CommandError(f"there is no tenant '{tenant}' (create it with create_tenant)")
        password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
        user_model = get_user_model()
        with transaction.atomic():
            user = user_model.objects.select_for_update().filter(username=username).first()
            if user is not None and not existing:
                raise CommandError(
                    f"user '{username}' already exists; to make that user a tenant admin of "
                    f"'{found.slug}', run again with --existing"
                )
            created = user is None
            if created:
                user = user_model(username=username, email=email)
            _password_set(user, password, created=created)
            was_staff = user.is_staff
            user.is_staff = True
            user.save()
            before = TenantMembership.objects.filter(user=user, tenant=found).first()
            # By hand: a ScaiKey sign-in leaves it alone (from_scaikey=False), never undoes it.
            TenantMembership.objects.update_or_create(
                user=user,
                tenant=found,
                defaults={"role": Role.TENANT_ADMIN, "from_scaikey": False},
            )
        if created:
            self.stdout.write(f"created '{username}', tenant admin of '{found.slug}'")
        else:
            self.stdout.write(_promotion(username, found.slug, before, was_staff, password))
        if created and password is None:
            # Django's reset token: valid until the password changes (so once) or it expires.
            path = reverse(
                "admin_password_set",
                args=[
                    urlsafe_base64_encode(force_bytes(user.pk)),
                    default_token_generator.make_token(user),
                ],
            )
            self.stdout.write(f"Set the password (once) at: {base_url.rstrip('/')}{path}")


def _password_set(user, password: str | None, *, created: bool) -> None:
    if password is not None:
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        user.set_password(password)
    elif created:
        user.set_unusable_password()


def _promotion(
    username: str,
    slug: str,
    before: TenantMembership | None,
    was_staff: bool,
    password: str | None,
) -> str:
    """What was done to an existing user, in one line."""
    if before is None:
        was = "no membership"
    else:
        was = f"{before.role}{' from a ScaiKey sign-in' if before.from_scaikey else ''}"
    changes = [f"tenant admin of '{slug}' (was {was}), kept by hand: a ScaiKey sign-in "
               "does not change it"]  # fmt: skip
    if not was_staff:
        changes.append("made staff")
    changes.append("password set" if password is not None else "password unchanged")
    return f"updated existing user '{username}': {'; '.join(changes)}"
