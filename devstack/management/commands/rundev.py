"""`make run`: devstack and the dev server together, with a demo tenant ready to deploy."""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from devstack.server import Devstack
from flows.models import Flow
from flows.services import flow_create
from scaiflow.identity.claims import ROLE_TENANT_ADMIN
from tenants.services import tenant_get_or_create

DEV_TOKEN_TTL_SECONDS = 12 * 3600
EXAMPLES_DIR = Path(settings.BASE_DIR) / "examples"


class Command(BaseCommand):
    help = (
        "Start devstack and the development server pointed at it (unless the ScaiGrid, "
        "ScaiQueue and ScaiKey variables are set already), create the demo tenant with the "
        "example flows, and print a dev token and the commands to deploy a flow."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000, help="the dev server's port")
        parser.add_argument("--devstack-port", type=int, default=8765, help="0: any free port")
        parser.add_argument("--tenant", default="demo", help="the demo tenant's slug")

    def handle(self, *args, port, devstack_port, tenant, **options):
        try:
            stack = Devstack("127.0.0.1", devstack_port, access_log=False).start()
        except OSError as exc:
            message = f"devstack cannot listen on port {devstack_port}: {exc.strerror}"
            raise CommandError(message) from None
        env = dict(os.environ)
        pointed = {name: value for name, value in stack.env().items() if name not in env}
        # "Sign in with ScaiKey" against devstack's ScaiKey, unless ScaiKey is the user's own.
        if "SCAIKEY_ISSUER" in pointed and "SCAIKEY_OIDC_CLIENT_ID" not in env:
            stack.oidc.default_tenant = tenant
            client = stack.oidc.register_admin(
                [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]
            )
            pointed["SCAIKEY_OIDC_CLIENT_ID"] = client.client_id
        env.update(pointed)
        demo = tenant_get_or_create(slug=tenant)
        flows = self._load_examples(demo)
        token = stack.signing.mint(
            tenant=tenant, sub="developer", roles=[ROLE_TENANT_ADMIN], ttl=DEV_TOKEN_TTL_SECONDS
        )
        self._print_welcome(stack, pointed, token, flows, port)
        try:
            server = subprocess.run(  # noqa: S603 - our own manage.py
                [sys.executable, "manage.py", "runserver", str(port)],
                cwd=settings.BASE_DIR,
                env=env,
                check=False,
            )
        except KeyboardInterrupt:
            server = None
        finally:
            stack.stop()
        if server is not None and server.returncode not in (0, -2):
            raise CommandError(f"the development server exited with {server.returncode}")

    def _load_examples(self, tenant) -> list[Flow]:
        """The example flows, saved once for the demo tenant."""
        flows = []
        for path in sorted(EXAMPLES_DIR.glob("*.flow.json")):
            content = json.loads(path.read_text())
            name = content.get("name") or path.name.removesuffix(".flow.json")
            flow = Flow.objects.filter(tenant=tenant, name=name).first()
            if flow is None:
                flow = flow_create(tenant=tenant, name=name, content=content, actor="cli:make-run")
            flows.append(flow)
        return flows

    def _print_welcome(self, stack, pointed, token, flows, port) -> None:
        write = self.stdout.write
        base = f"http://127.0.0.1:{port}/api/v1"
        write(f"devstack (local ScaiGrid, ScaiQueue, ScaiVault, ScaiKey) at {stack.url}")
        if pointed:
            write("ScaiFlow points at it: " + ", ".join(sorted(pointed)))
        else:
            write("Your own ScaiGrid/ScaiQueue/ScaiKey settings are kept.")
        write(f"\nA dev token (tenant_admin of the demo tenant, 12 h):\n  export TOKEN={token}")
        write("\nTry it:")
        write(f'  curl -s {base}/flows -H "Authorization: Bearer $TOKEN"')
        if flows:
            flow = flows[0]
            write(f"  # deploy '{flow.name}':")
            write(
                f"  curl -s -X POST {base}/flows/{flow.public_id}/deploy "
                '-H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" -d "{}"'
            )
            write(
                f"  curl -s -X POST {base}/flows/{flow.public_id}/compile "
                '-H "Authorization: Bearer $TOKEN"'
            )
        write(f"  curl -s {stack.url}/_devstack/state   # what devstack received")
        write(f"\nAPI docs: http://127.0.0.1:{port}/api/docs/")
        if "SCAIKEY_OIDC_CLIENT_ID" in pointed:
            write(
                f'Admin: http://127.0.0.1:{port}/admin/ → "Sign in with ScaiKey" '
                f"(devstack asks which tenant, user and roles)"
            )
        else:
            write(f"Admin: http://127.0.0.1:{port}/admin/")
        write("Stop: Ctrl-C\n")
        for name in sorted(pointed):
            write(f"  {name}={shlex.quote(pointed[name])}")
        self.stdout.flush()
