"""The docs' examples run against a live server and devstack, and answer what the docs say."""

from __future__ import annotations

import io
import shutil
from contextlib import ExitStack

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.docs.conftest import DOC_PAGES, ROOT
from tests.docs.runner import compare, examples, manage_py_calls, manage_py_problem, run
from tests.docs.setups import SETUPS

pytestmark = pytest.mark.e2e


def _page_id(path) -> str:
    return str(path.relative_to(ROOT))


# manage.py commands the page test also runs (in-process, on the test's database, in page
# order): those that change nothing. The others are checked to parse only.
READ_ONLY_COMMANDS = {"list_deployments", "compile_flow"}
DRY_RUN_COMMANDS = {"redeploy_flows", "prune_deployments"}


def _run_read_only_commands(example) -> list[str]:
    failures = []
    for words in manage_py_calls(example.block.text):
        name, args = words[0], words[1:]
        if name in READ_ONLY_COMMANDS or (name in DRY_RUN_COMMANDS and "--dry-run" in args):
            try:
                call_command(name, *args, stdout=io.StringIO(), stderr=io.StringIO())
            except (CommandError, SystemExit) as error:
                failures.append(f"{example.where}: manage.py {' '.join(words)}: {error!r}")
    return failures


@pytest.mark.parametrize("page", DOC_PAGES, ids=_page_id)
def test_the_pages_api_examples_answer_what_they_show(page, docs_stack, monkeypatch):
    assert shutil.which("curl") and shutil.which("jq"), "the docs' examples need curl and jq"
    env, context, workdir = docs_stack
    monkeypatch.chdir(workdir)
    failures = []
    for example in examples(page, ROOT):
        failures += _run_read_only_commands(example)
        if not example.runs:
            continue
        unknown = set(example.setups) - set(SETUPS)
        assert not unknown, f"{example.where}: unknown set-up {unknown}"
        with ExitStack() as stack:
            for name in example.setups:
                stack.enter_context(SETUPS[name](context))
            outcome = run(example, env, workdir)
        env = {**outcome.env}
        if example.expected is None:
            if outcome.returncode != 0:
                failures.append(f"{example.where}: exit {outcome.returncode}: {outcome.stderr}")
            continue
        problems = compare(example.expected, outcome)
        if problems:
            answered = (outcome.stdout or outcome.stderr)[:3000]
            failures += [f"{example.where}: {problem}" for problem in problems]
            failures.append(f"{example.where}: the block printed {answered!r}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("page", DOC_PAGES, ids=_page_id)
def test_the_pages_manage_py_commands_exist_and_their_arguments_parse(page):
    failures = [
        f"{example.where}: {problem}"
        for example in examples(page, ROOT)
        for words in manage_py_calls(example.block.text)
        if (problem := manage_py_problem(words))
    ]
    assert not failures, "\n".join(failures)
