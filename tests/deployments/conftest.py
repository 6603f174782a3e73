import copy

import pytest
import responses

from flows.services import flow_create
from tenants.models import Tenant

GRID = "https://scaigrid.test"
QUEUE = "https://scaiqueue.test"
VAULT = "https://scaivault.test"
CORES = f"{GRID}/v1/modules/scaicore/cores"

SIMPLE_FLOW = {
    "name": "Echo bot",
    "config": {"llm_roles": {"main": {"model": "scai-large"}}},
    "nodes": [
        {"id": "start", "kind": "trigger", "data": {"type": "chat"}},
        {"id": "answer", "kind": "llm", "data": {"role": "main", "prompt": "{{start.message}}"}},
        {"id": "reply", "kind": "output", "data": {"value": "{{answer.text}}"}},
    ],
    "edges": [{"source": "start", "target": "answer"}, {"source": "answer", "target": "reply"}],
}

QUEUED_FLOW = {
    "name": "Support triage",
    "config": {
        "publish_as_model": False,
        "group_ids": ["grp_support"],
        "llm_roles": {"triage": {"model": "scai-large", "temperature": 0.2}},
        "scaiqueue": {
            "scope": {"slug": "support", "name": "Support", "config": {}},
            "queues": [
                {"slug": "review", "name": "Human review", "config": {"sla_minutes": 60}}
            ],
        },
    },
    "nodes": [
        {"id": "start", "kind": "trigger", "data": {"type": "chat"}},
        {"id": "classify", "kind": "llm",
         "data": {"role": "triage", "prompt": "Classify: {{start.message}}", "output": "category"}},
        {"id": "review", "kind": "queue",
         "data": {"scope": "support", "queue": "review", "title": "Refund for {{start.message}}"}},
        {"id": "reply", "kind": "output", "data": {"value": "{{classify.category}}"}},
    ],
    "edges": [
        {"source": "start", "target": "classify"},
        {"source": "classify", "target": "review"},
        {"source": "review", "target": "reply"},
    ],
}  # fmt: skip


@pytest.fixture(autouse=True)
def _upstreams(settings):
    settings.SCAIGRID_BASE_URL = GRID
    settings.SCAIGRID_ALLOWED_HOSTS = ["scaigrid.test"]
    settings.SCAIQUEUE_BASE_URL = QUEUE
    settings.SCAIGRID_API_KEY = ""
    settings.SCAIVAULT_URL = ""


@pytest.fixture
def upstream():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def acme(db):
    return Tenant.objects.get_or_create(slug="acme")[0]


@pytest.fixture
def make_flow(acme):
    def make(content=SIMPLE_FLOW, tenant=None, name=None):
        content = copy.deepcopy(content)
        return flow_create(
            tenant=tenant or acme, name=name or content["name"], content=content, actor="test"
        )

    return make


@pytest.fixture
def flow(make_flow):
    return make_flow()


def grid_accepts(mock, core_id="core_1"):
    mock.post(CORES, json={"id": core_id}, status=201)
    mock.put(f"{CORES}/{core_id}", json={"id": core_id})
    mock.post(f"{CORES}/{core_id}/publish", json={"slug": "echo-bot"})
    mock.delete(f"{CORES}/{core_id}/publish", status=204)


def calls(mock, method, url_prefix=""):
    return [
        c for c in mock.calls if c.request.method == method and c.request.url.startswith(url_prefix)
    ]
