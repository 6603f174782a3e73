"""What the benchmarks that go through the API share: devstack started in the process with
ScaiFlow pointed at it, Django set up on a database of their own, and a ScaiKey token.

Not a benchmark itself: run alone (as `make bench` runs every script here), it does nothing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# High enough that no benchmark meets the deploy throttles.
DEPLOY_RATE = "1000000/min"


@dataclass
class BenchStack:
    stack: Any  # devstack.server.Devstack, started
    workdir: Path  # the temporary SQLite database and the stored flows
    token: str  # a ScaiKey JWT of `bench` in tenant `acme`, with no role

    def stop(self) -> None:
        self.stack.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def django_on_devstack(**environ: str) -> BenchStack:
    """Start devstack, point ScaiFlow at it and set Django up, migrated: on a temporary SQLite
    database unless DATABASE_URL is set, flows stored in the same temporary directory.
    `environ`: more environment variables, each set unless the environment has it already.

    Deploys go with the caller's JWT, as in production (devstack's SCAIGRID_API_KEY is not
    passed on)."""
    workdir = Path(tempfile.mkdtemp(prefix="scaiflow-bench-"))
    defaults = {
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
        "SCAIFLOW_DEPLOY_RATE": DEPLOY_RATE,
        "SCAIFLOW_DEPLOY_TENANT_RATE": DEPLOY_RATE,
        **environ,
    }
    for name, value in defaults.items():
        os.environ.setdefault(name, value)

    from devstack.server import Devstack

    stack = Devstack().start()
    try:
        env = stack.env()
        del env["SCAIGRID_API_KEY"]
        os.environ.update(env)

        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command

        settings.STORAGES = {
            **settings.STORAGES,
            "flows": {
                "BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": workdir / "flows"},
            },
        }
        call_command("migrate", verbosity=0, interactive=False)
        token = stack.signing.mint(
            tenant="acme", sub="bench", roles=(), ttl=3600, scopes=None, claims=None
        )
    except BaseException:
        stack.stop()
        raise
    return BenchStack(stack=stack, workdir=workdir, token=token)
