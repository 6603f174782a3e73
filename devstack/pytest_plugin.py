"""pytest fixtures for tests that talk to devstack over real HTTP.

- `devstack`: one devstack per test session, on a free port, served from a background thread;
  every test that asks for it starts from a clean state (no Cores, scopes, secrets, faults or
  calls; default keys). It yields a `DevstackHandle`.
- `devstack_settings`: also points ScaiFlow's Django settings at it (ScaiGrid, ScaiQueue,
  ScaiKey JWKS/issuer/audience; no ScaiVault, no `SCAIGRID_API_KEY` fallback: a test that
  wants those sets them from `devstack.env(vault=True)`).

Register with `pytest_plugins = ["devstack.pytest_plugin"]` in the root conftest.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devstack.auth import DEFAULT_API_KEY, DEFAULT_VAULT_TOKEN
from devstack.control import api_key_from
from devstack.scaigrid import emit_run
from devstack.scaikey import DEFAULT_TTL_SECONDS
from devstack.server import Devstack


class DevstackHandle:
    """What the `devstack` fixture yields: where devstack is and how to steer it."""

    api_key = DEFAULT_API_KEY
    vault_token = DEFAULT_VAULT_TOKEN

    def __init__(self, stack: Devstack) -> None:
        self.stack = stack
        self.url = stack.url
        self.issuer = stack.issuer
        self.audience = stack.audience
        self.jwks_url = stack.jwks_url

    def env(self, *, vault: bool = False) -> dict[str, str]:
        """Settings that point ScaiFlow here; see `Devstack.env`."""
        return self.stack.env(vault=vault)

    def state(self) -> dict[str, Any]:
        """The snapshot `GET /_devstack/state` answers."""
        return self.stack.snapshot()

    def reset(self) -> None:
        self.stack.reset()

    def count(self, endpoint: str) -> int:
        """Requests an endpoint got, e.g. `count("POST /v1/modules/scaicore/cores")`."""
        with self.stack.state.lock:
            return self.stack.state.counts[endpoint]

    def calls(self, endpoint: str | None = None) -> list[dict[str, Any]]:
        """The call log, optionally of one endpoint only."""
        return [c for c in self.state()["calls"] if endpoint is None or c["endpoint"] == endpoint]

    def fault(
        self,
        method: str,
        path: str,
        action: str = "status",
        *,
        status: int | None = None,
        body: Any = None,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
        seconds: float | None = None,
        times: int | None = None,
    ) -> dict[str, Any]:
        """Add a fault (see devstack/faults.py); returns it as the control API shows it."""
        spec: dict[str, Any] = {"method": method, "path": path, "action": action, "times": times}
        optional = {
            "status": status,
            "body": body,
            "content_type": content_type,
            "headers": headers,
            "seconds": seconds,
        }
        spec.update({name: value for name, value in optional.items() if value is not None})
        return self.stack.faults.add(spec).public()

    def release_fault(self, fault_id: str) -> None:
        """Let the `slow` requests held by this fault answer now (see devstack/faults.py)."""
        self.stack.faults.release(fault_id)

    def clear_faults(self) -> None:
        self.stack.faults.clear()

    def mint_token(
        self,
        tenant: str = "acme",
        sub: str = "alice",
        roles: list[str] | tuple[str, ...] = (),
        *,
        ttl: int = DEFAULT_TTL_SECONDS,
        scopes: list[str] | None = None,
        claims: dict[str, Any] | None = None,
    ) -> str:
        """A JWT from devstack's ScaiKey, as `POST /scaikey/token` mints it."""
        return self.stack.signing.mint(
            tenant=tenant, sub=sub, roles=roles, ttl=ttl, scopes=scopes, claims=claims
        )

    def register_key(
        self,
        permissions: list[str],
        *,
        key: str | None = None,
        tenant: str | None = None,
        label: str = "",
    ) -> str:
        """Register an API key with these permissions; returns the key."""
        api_key = api_key_from(
            {"key": key, "permissions": permissions, "tenant": tenant, "label": label}
        )
        with self.stack.state.lock:
            self.stack.state.api_keys[api_key.key] = api_key
        return api_key.key

    def rotate_key(self, *, retire_old: bool = False) -> str:
        """Sign with a new ScaiKey key from now on; returns its kid."""
        return self.stack.signing.rotate(retire_old=retire_old).kid

    def run_core(self, core_id: str) -> str:
        """Make a Core run once more (new events); returns the run id."""
        with self.stack.state.lock:
            return emit_run(self.stack.state, self.stack.state.cores[core_id])


@pytest.fixture(scope="session")
def devstack_server() -> Iterator[Devstack]:
    stack = Devstack().start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def devstack(devstack_server: Devstack) -> Iterator[DevstackHandle]:
    devstack_server.reset()
    yield DevstackHandle(devstack_server)
    # Let go of any connection a test left hanging.
    devstack_server.faults.clear()


@pytest.fixture
def devstack_settings(settings: Any, devstack: DevstackHandle) -> DevstackHandle:
    env = devstack.env()
    del env["SCAIGRID_API_KEY"]
    for name, value in env.items():
        setattr(settings, name, [value] if name == "SCAIGRID_ALLOWED_HOSTS" else value)
    settings.SCAIKEY_PUBLIC_KEY = ""
    settings.SCAIVAULT_URL = ""
    settings.SCAIVAULT_TOKEN = ""
    return devstack
