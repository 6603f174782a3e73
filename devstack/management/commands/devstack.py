import shlex

from django.core.management.base import BaseCommand, CommandError

from devstack.auth import DEFAULT_API_KEY
from devstack.server import Devstack
from scaiflow.identity.claims import ROLE_TENANT_ADMIN

DEMO_TOKEN_TTL_SECONDS = 12 * 3600


class Command(BaseCommand):
    help = (
        "Serve local stand-ins of ScaiGrid, ScaiQueue, ScaiVault and ScaiKey on one port, "
        "for development. Prints the settings that point ScaiFlow at it; Ctrl-C stops it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
        parser.add_argument("--port", type=int, default=8765, help="port (0: any free one)")
        parser.add_argument("--audience", default="scaiflow", help="`aud` of minted tokens")
        parser.add_argument("--tenant", default="demo", help="tenant of the printed dev token")
        parser.add_argument("--quiet", action="store_true", help="no access log")
        parser.add_argument(
            "--scaiflow-url",
            default="http://127.0.0.1:8000",
            help="where ScaiFlow runs: its admin is registered as an OpenID Connect client there",
        )

    def handle(self, *args, host, port, audience, tenant, quiet, scaiflow_url, **options):
        try:
            stack = Devstack(host, port, audience=audience, access_log=not quiet)
        except OSError as exc:
            raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
        token = stack.signing.mint(
            tenant=tenant, sub="developer", roles=[ROLE_TENANT_ADMIN], ttl=DEMO_TOKEN_TTL_SECONDS
        )
        stack.oidc.default_tenant = tenant
        client = stack.oidc.register_admin([scaiflow_url])
        write = self.stdout.write
        write(f"devstack serving at {stack.url}")
        write("\nPoint ScaiFlow at it (environment or .env):")
        for name, value in stack.env().items():
            write(f"  export {name}={shlex.quote(value)}")
        write(f"  export SCAIKEY_OIDC_CLIENT_ID={client.client_id}  # Sign in with ScaiKey")
        write("  # optional, to keep tenant keys in devstack's ScaiVault:")
        for name, value in stack.env(vault=True).items():
            if name.startswith("SCAIVAULT_"):
                write(f"  # export {name}={shlex.quote(value)}")
        write(f"\nDefault API key (ScaiGrid, ScaiQueue): {DEFAULT_API_KEY}")
        write(f"A dev token for tenant '{tenant}' (tenant_admin, 12 h):\n  {token}")
        write(
            "More tokens: curl -s -X POST "
            f"{stack.url}/scaikey/token -H 'Content-Type: application/json' "
            f"""-d '{{"tenant": "{tenant}", "sub": "alice", "roles": []}}'"""
        )
        write(f"State: curl -s {stack.url}/_devstack/state\n")
        try:
            stack.serve_forever()
        except KeyboardInterrupt:
            write("devstack stopped")
        finally:
            stack.stop()
