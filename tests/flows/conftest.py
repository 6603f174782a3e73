"""Fixtures of the flow tests: sample FlowGraphs, flows made through the service, and a real
S3-compatible server (moto's standalone server on 127.0.0.1) for the storage layer."""

from __future__ import annotations

import copy
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer
from rest_framework.test import APIClient

from flows.models import Flow
from flows.services import flow_create
from scaiflow import settings as scaiflow_settings
from tenants.services import tenant_get_or_create

S3_BUCKET = "scaiflow-test-flows"
S3_REGION = "us-east-1"
S3_KEY_ID = "test-access-key"
S3_SECRET = "test-secret-key"

SUPPORT_TRIAGE = {
    "name": "Support triage",
    "config": {"llm_roles": {"triage": {"model": "scai-large", "temperature": 0.2}}},
    "nodes": [
        {"id": "start", "kind": "trigger", "data": {"type": "chat"}, "position": {"x": 0, "y": 0}},
        {"id": "classify", "kind": "llm", "data": {"role": "triage", "prompt": "Classify it"}},
        {"id": "reply", "kind": "output", "data": {"value": "{{classify.category}}"}},
    ],
    "edges": [
        {"source": "start", "target": "classify"},
        {"source": "classify", "target": "reply"},
    ],
}


@pytest.fixture
def graph() -> dict:
    """A FlowGraph to save (a fresh copy: tests may change it)."""
    return copy.deepcopy(SUPPORT_TRIAGE)


def graph_variant(label: str) -> dict:
    """A FlowGraph whose content differs from SUPPORT_TRIAGE (and from other labels)."""
    variant = copy.deepcopy(SUPPORT_TRIAGE)
    variant["nodes"][2]["data"]["value"] = f"{label}: {{{{classify.category}}}}"
    return variant


@pytest.fixture
def acme_bob(db, make_token) -> APIClient:
    """A second member of acme."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(tenant='acme', sub='bob')}")
    return client


@pytest.fixture
def acme(db):
    return tenant_get_or_create(slug="acme")


@pytest.fixture
def globex(db):
    return tenant_get_or_create(slug="globex")


@pytest.fixture
def make_flow(acme):
    """Create a flow through the service (for acme unless told otherwise)."""

    def make(
        *, tenant=None, name: str = "Support triage", content: dict | None = None, **kwargs
    ) -> Flow:
        return flow_create(
            tenant=tenant or acme,
            name=name,
            content=copy.deepcopy(SUPPORT_TRIAGE) if content is None else content,
            actor=kwargs.pop("actor", "scaikey:alice"),
            **kwargs,
        )

    return make


@pytest.fixture
def local_flow_files(settings) -> Path:
    """The directory the (test-wide, tmp_path) local flow storage writes to."""
    return Path(settings.STORAGES["flows"]["OPTIONS"]["location"])


def stored_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


# --- A real S3-compatible server -------------------------------------------------------------


@pytest.fixture(scope="session")
def s3_endpoint() -> str:
    """moto's standalone S3 server, on 127.0.0.1 and a port the OS picked, for the session."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=S3_REGION,
        aws_access_key_id=S3_KEY_ID,
        aws_secret_access_key=S3_SECRET,
    )
    client.create_bucket(Bucket=S3_BUCKET)
    yield endpoint
    server.stop()


@dataclass
class S3Target:
    client: object
    bucket: str
    prefix: str

    def keys(self) -> list[str]:
        listing = self.client.list_objects_v2(Bucket=self.bucket, Prefix=f"{self.prefix}/")
        return sorted(item["Key"] for item in listing.get("Contents", []))

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()


def unused_port() -> int:
    """A local port nothing listens on (the OS just handed it out and it was closed again)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def s3_storage_config(monkeypatch, *, endpoint: str, prefix: str) -> dict:
    """STORAGES["flows"] exactly as settings.py builds it from SCAIFLOW_FLOW_STORAGE=s3://…"""
    monkeypatch.setenv("AWS_S3_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_S3_REGION_NAME", S3_REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", S3_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3_SECRET)
    return scaiflow_settings._flow_storage(f"s3://{S3_BUCKET}/{prefix}")


@pytest.fixture
def s3_flow_storage(settings, monkeypatch, s3_endpoint) -> S3Target:
    """Point STORAGES["flows"] at the S3 server, under a prefix of this test's own."""
    prefix = f"run-{uuid.uuid4().hex}"
    config = s3_storage_config(monkeypatch, endpoint=s3_endpoint, prefix=prefix)
    settings.STORAGES = {**settings.STORAGES, "flows": config}
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name=S3_REGION,
        aws_access_key_id=S3_KEY_ID,
        aws_secret_access_key=S3_SECRET,
    )
    return S3Target(client=client, bucket=S3_BUCKET, prefix=prefix)
