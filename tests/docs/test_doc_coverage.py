"""The docs cover what the code has: every configuration variable, every deploy error code."""

from __future__ import annotations

import ast
import inspect
import json
import re

from deployments import errors as deploy_errors
from flows.compiler import diagnostics
from scaiflow.cli import client
from scaiflow.core.errors import ApiError
from tests.docs.conftest import DOC_PAGES, ROOT
from tests.docs.runner import examples

OPERATORS = ROOT / "docs" / "operators.md"
FAILURES = ROOT / "docs" / "troubleshooting" / "deploy-failures.md"
# SPEC §4's error matrix: what a deploy answers.
SPEC_DEPLOY_MATRIX = {
    "compile_error",
    "not_found",
    "deploy_in_progress",
    "missing_scaigrid_credentials",
    "idempotency_key_reused",
    "scaiqueue_auth",
    "scaiqueue_provision_failed",
    "scaicore_create_failed",
    "scaicore_publish_failed",
    "scaicore_unpublish_failed",
    "scaivault_unavailable",
    "flow_storage_unavailable",
}
ENV_NAME = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")


def settings_env_vars() -> set[str]:
    """The names settings.py reads with django-environ: `env(...)`, `env.str(...)`, …"""
    tree = ast.parse((ROOT / "scaiflow" / "settings.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        reads = (isinstance(func, ast.Name) and func.id == "env") or (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id == "env"
        )
        first = node.args[0]
        if reads and isinstance(first, ast.Constant) and isinstance(first.value, str):
            names.add(first.value)
    return names


def configuration_table() -> set[str]:
    """The variables of the operator guide's configuration table (its first column)."""
    section = OPERATORS.read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    names = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([A-Z][A-Z0-9_]*)`", line.split("|")[1]))
    return names


def test_the_settings_parser_finds_the_variables():
    found = settings_env_vars()
    assert {"DEBUG", "DATABASE_URL", "CACHE_URL", "SCAIFLOW_SECRETS_KEYS"} <= found
    assert {"AWS_S3_ENDPOINT_URL", "SCAIKEY_PUBLIC_KEY"} <= found  # nested and keyword calls


def test_the_configuration_table_lists_exactly_what_settings_reads():
    table, read = configuration_table(), settings_env_vars()
    assert table - read == set(), "documented but not read by settings.py"
    assert read - table == set(), "read by settings.py but missing from docs/operators.md"


# Knobs of the test suite and the benchmarks, not of ScaiFlow: documented beside the scenarios
# and benchmarks they tune.
TEST_SUITE_VARIABLES = {"RELIABILITY_LOAD_SECONDS", "SCALE_BENCH_DATABASE_URL"}
# What the `scaiflow` REST client reads (docs/ci.md), not the server.
CLIENT_VARIABLES = set(client.ENVIRONMENT)


def test_every_variable_the_docs_name_is_read_by_settings():
    read = settings_env_vars() | TEST_SUITE_VARIABLES | CLIENT_VARIABLES
    named = {}
    for page in DOC_PAGES:
        text = page.read_text()
        # A code span that is a name (or `NAME=value`), and `NAME=value` lines of code blocks.
        spans = re.findall(r"`([^`\n]+)`", text) + re.findall(r"^([A-Z][A-Z0-9_]+)=", text, re.M)
        for span in spans:
            name = span.split("=", 1)[0].strip()
            if ENV_NAME.fullmatch(name):
                named.setdefault(name, str(page.relative_to(ROOT)))
    assert "SCAIFLOW_DEPLOY_RATE" in named  # the scan sees the docs' names
    unknown = {name: page for name, page in named.items() if name not in read}
    assert unknown == {}


def _deploy_error_codes() -> set[str]:
    return {
        cls.code
        for _, cls in inspect.getmembers(deploy_errors, inspect.isclass)
        if issubclass(cls, ApiError) and cls.__module__ == deploy_errors.__name__
    }


def _section_codes() -> set[str]:
    return set(re.findall(r"^#{2,3} `([a-z_]+)`", FAILURES.read_text(), re.M))


def test_every_deploy_error_code_has_a_troubleshooting_section():
    codes = _deploy_error_codes() | SPEC_DEPLOY_MATRIX
    assert "scaicore_publish_failed" in codes and "deploy_abandoned" in codes
    assert codes - _section_codes() == set()


def test_every_error_a_deploy_answers_has_an_example_the_suite_runs():
    tested = set()
    for example in examples(FAILURES, ROOT):
        if example.runs and example.expected is not None and example.expected.lang == "json":
            body = json.loads(example.expected.text)
            if isinstance(body, dict):
                tested.add((body.get("detail") or body).get("error"))
    assert SPEC_DEPLOY_MATRIX - tested == set()


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lowercase, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page) -> set[str]:
    text = re.sub(r"^\s*```.*?^\s*```", "", page.read_text(), flags=re.M | re.S)
    return {_anchor(title) for title in re.findall(r"^#+ (.+)$", text, re.M)}


def test_the_docs_links_lead_somewhere():
    broken = []
    for page in DOC_PAGES:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such file)")
            elif anchor and anchor not in _anchors(linked):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert broken == []


def test_anchors_are_github_s():
    assert _anchor("`deploy_abandoned` (on a record)") == "deploy_abandoned-on-a-record"
    assert _anchor("Tenant keys: encryption and rotation") == "tenant-keys-encryption-and-rotation"


def test_every_compiler_diagnostic_code_is_documented():
    codes = {
        value
        for name, value in vars(diagnostics).items()
        if name.isupper() and isinstance(value, str) and name not in ("ERROR", "WARNING")
    }
    documented = set(
        re.findall(r"`([a-z_]+)`", (ROOT / "docs/reference/rest-api/flows.md").read_text())
    )
    assert "unreachable_node" in codes
    assert codes - documented == set()


def test_every_curl_example_calls_the_api_through_the_placeholder():
    """A `curl` with a hard-coded host would escape the runner (it runs `$SCAIFLOW` blocks)."""
    escaping = [
        example.where
        for page in DOC_PAGES
        for example in examples(page, ROOT)
        if "curl " in example.block.text and not example.runs
    ]
    assert escaping == []
