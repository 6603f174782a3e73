"""The docs' example runner itself: a stale example must fail, a right one must pass."""

from __future__ import annotations

import pytest

from tests.docs.runner import (
    Block,
    Outcome,
    compare,
    examples,
    manage_py_calls,
    manage_py_problem,
    match,
    run,
    shell_env,
)

PAGE = """\
# A page

<!-- docs-test: setup=something_broken -->
```bash
echo '{"detail": {"error": "not_found", "message": "Not found."}}'
```

```json
{"detail": {"error": "compile_error"}}
```

```bash
curl -s "$SCAIFLOW/x"
```
Some prose, so no answer block belongs to the block above.
```json
{"ignored": true}
```
"""


def _write(tmp_path, text):
    page = tmp_path / "page.md"
    page.write_text(text)
    return examples(page, tmp_path)


def test_a_page_gives_its_bash_blocks_with_their_answers_and_setups(tmp_path):
    first, second = _write(tmp_path, PAGE)

    assert first.setups == ("something_broken",)
    assert first.expected is not None and first.expected.lang == "json"
    assert first.where == "page.md:4"
    assert second.setups == () and second.expected is None and second.runs


def test_a_stale_error_code_fails_the_comparison(tmp_path):
    stale, _ = _write(tmp_path, PAGE)

    outcome = run(stale, shell_env({}, tmp_path), tmp_path)
    problems = compare(stale.expected, outcome)

    assert problems == ["$.detail.error: expected 'compile_error', got 'not_found'"]


def test_a_matching_answer_passes(tmp_path):
    right, _ = _write(tmp_path, PAGE.replace("compile_error", "not_found"))

    outcome = run(right, shell_env({}, tmp_path), tmp_path)

    assert compare(right.expected, outcome) == []


def test_variables_a_block_sets_reach_the_next_block(tmp_path):
    first, second = _write(
        tmp_path, '```bash\nFLOW=$(echo flw_1)\n```\n\n```bash\necho "$FLOW"\n```\n'
    )

    after = run(first, shell_env({}, tmp_path), tmp_path)
    outcome = run(second, after.env, tmp_path)

    assert outcome.stdout == "flw_1\n"


@pytest.mark.parametrize(
    ("expected", "actual", "ok"),
    [
        ({"id": "flw_…"}, {"id": "flw_abc", "extra": 1}, True),
        ({"id": "flw_…"}, {"id": "dep_abc"}, False),
        ({"core_id": "…"}, {"core_id": None}, True),
        ({"errors": []}, {"errors": [{"core_id": "c"}]}, False),
        ({"events": [{"type": "run.started"}, "…"]}, {"events": [{"type": "run.started"}]}, True),
        ({"events": [{"type": "run.started"}, "…"]}, {"events": []}, False),
        ({"status": 502}, {"status": "502"}, False),
        ({"ok": True}, {"ok": 1}, False),
        ({"duration_ms": 3}, {"duration_ms": 3.0}, True),
    ],
)
def test_match_shows_fields_and_wildcards(expected, actual, ok):
    assert (match(expected, actual) == []) is ok


def test_an_http_answer_checks_status_headers_and_body():
    expected = Block(
        "http",
        'HTTP/1.1 200 OK\nDeprecation: @…\nLink: </api/v1/…>; rel="successor-version"\n\n'
        '{"core_id": "core_…"}',
        1,
    )
    answered = (
        "HTTP/1.1 200 OK\r\nDeprecation: @1767225600\r\n"
        'Link: </api/v1/flows/{flow_id}/deploy>; rel="successor-version"\r\n\r\n'
        '{"core_id": "core_1"}'
    )
    stale = answered.replace("200 OK", "404 Not Found").replace("Deprecation", "X-Other")

    assert compare(expected, Outcome(answered, "", 0)) == []
    assert compare(expected, Outcome(stale, "", 0)) == [
        f"status: expected 200, got 404 ({stale[:300]!r})",
        "header Deprecation: missing",
    ]


def test_the_last_of_several_answers_is_compared():
    expected = Block("json", '{"detail": {"error": "idempotency_key_reused"}}', 1)
    outcome = Outcome('{"id": "dep_1"}{"detail": {"error": "idempotency_key_reused"}}', "", 0)

    assert compare(expected, outcome) == []


def test_manage_py_calls_are_found_across_continuations_and_pipes():
    text = (
        "python manage.py list_deployments --failed \\\n  --since 24h > failed.txt\n"
        "cat key.txt | .venv/bin/python manage.py set_scaigrid_credentials acme  # stdin\n"
    )

    assert manage_py_calls(text) == [
        ["list_deployments", "--failed", "--since", "24h"],
        ["set_scaigrid_credentials", "acme"],
    ]


@pytest.mark.parametrize(
    ("words", "ok"),
    [
        (["list_deployments", "--failed", "--since", "24h"], True),
        (["list_deployments", "--failures"], False),
        (["retry_publish"], False),
        (["deploy_everything"], False),
        (["redeploy_flows", "--help"], True),
    ],
)
def test_a_manage_py_line_that_would_not_start_is_a_problem(words, ok):
    assert (manage_py_problem(words) is None) is ok


def test_blocks_that_run_the_scaiflow_command_run(tmp_path):
    blocks = "\n\n".join(
        f"```bash\n{line}\n```"
        for line in ("scaiflow push flows/a.flow.json", "scaiflow status", "pip install scaiflow")
    )
    assert [example.runs for example in _write(tmp_path, blocks)] == [True, True, False]
