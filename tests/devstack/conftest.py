"""Helpers for devstack's contract tests: a manifest, sessions that send a credential."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

CORES = "/v1/modules/scaicore/cores"
EVENTS = "/v1/modules/scaicore/events"
CREATE_CORE = f"POST {CORES}"

MANIFEST = """\
apiVersion: scaicore/v1
kind: Core
metadata:
  name: Support triage
  slug: support-triage
spec:
  llm_roles: {triage: {model: scai-large}}
  entry: start
  blocks:
    - {id: start, kind: trigger, config: {type: chat}, next: classify}
    - {id: classify, kind: llm, config: {role: triage, prompt: hi}, next: [route]}
    - id: route
      kind: branch
      config: {cases: [{when: "classify.category == 'refund'", next: reply}]}
      default: reply
    - {id: reply, kind: output, config: {value: done}}
"""
YAML = {"Content-Type": "application/yaml"}


class Client(requests.Session):
    """A session against devstack that sends `Authorization: Bearer <credential>`."""

    def __init__(self, base_url: str, credential: str | None) -> None:
        super().__init__()
        self.base_url = base_url
        if credential is not None:
            self.headers["Authorization"] = f"Bearer {credential}"

    def request(self, method, url, *args, **kwargs):
        kwargs.setdefault("timeout", 5)
        return super().request(method, self.base_url + url, *args, **kwargs)

    def create_core(
        self, manifest: str = MANIFEST, headers: dict[str, str] | None = None
    ) -> requests.Response:
        return self.post(CORES, data=manifest.encode(), headers={**YAML, **(headers or {})})


@pytest.fixture
def client_for(devstack) -> Iterator:
    """`client_for(credential)`: a `Client` sending that credential (None: none)."""
    clients: list[Client] = []

    def make(credential: str | None) -> Client:
        client = Client(devstack.url, credential)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def grid(devstack, client_for) -> Client:
    """A client with the default, all-permission API key."""
    return client_for(devstack.api_key)


@pytest.fixture
def anonymous(client_for) -> Client:
    return client_for(None)
