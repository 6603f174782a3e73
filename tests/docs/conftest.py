"""One live ScaiFlow server and devstack for the docs' examples; a fresh tenant per page."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from flows.services import flow_create
from tenants.models import Tenant
from tests.docs.runner import shell_env
from tests.docs.setups import Context

ROOT = Path(__file__).resolve().parents[2]
DOC_PAGES = [*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]


@pytest.fixture
def docs_stack(devstack_settings, live_server, settings, tmp_path):
    """The placeholders the pages declare as environment, a set-up context, a working dir."""
    settings.SCAIFLOW_DEPLOY_RATE = "1000/min"
    settings.SCAIFLOW_DEPLOY_TENANT_RATE = "1000/min"
    # A page polls the same events twice within the window on purpose (a fault in between);
    # the cache itself is tested in tests/deployments.
    settings.SCAIFLOW_EVENTS_CACHE_SECONDS = 0
    acme = Tenant.objects.get_or_create(slug="acme", defaults={"name": "Acme"})[0]
    content = json.loads((ROOT / "examples" / "support-triage.flow.json").read_text())
    flow = flow_create(tenant=acme, name=content["name"], content=content, actor="scaikey:alice")
    env = shell_env(
        {
            "SCAIFLOW": live_server.url,
            "TOKEN": devstack_settings.mint_token("acme", "alice", roles=["tenant_admin"]),
            "API_TOKEN": settings.SCAIFLOW_API_TOKEN,
            "FLOW": flow.public_id,
            "SCAIGRID_KEY": devstack_settings.api_key,
        },
        Path(sys.executable).parent,
    )
    # Examples run in a scratch directory (they may write files) that sees the examples/.
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "examples").symlink_to(ROOT / "examples")
    context = Context(devstack=devstack_settings, settings=settings, flow=flow, tmp_path=tmp_path)
    return env, context, workdir
