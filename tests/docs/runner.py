"""The docs' example runner: find the API examples in Markdown, run them, compare the answers.

A page's examples are fenced ```bash blocks. Those that call the API (they name `$SCAIFLOW`)
or run the `scaiflow` command (`scaiflow compile`, `scaiflow push`, …) are run with bash, in
page order, in one shell state: a variable a block sets (`FLOW=$(curl … | jq -r .id)`) is
there for the next blocks. The placeholders every page
declares at its top (`$SCAIFLOW`, `$TOKEN`, …) come in as environment variables.

The documented answer is the fenced block right after (only blank lines between):
- ```json: the body; every field shown must be in the answer with that value;
- ```http: `HTTP/1.1 <status> …`, then header lines, then a blank line and the body, as above;
- ```text: the output's lines (a block shows stderr with `2>&1`), line for line.
In both, a string holding `…` matches any text in its place (`"flw_…"`), a string that is
just `…` matches any value, and a list ending with `"…"` matches a list starting with the
items shown (else the lengths must be equal).

An HTML comment right before a block, `<!-- docs-test: setup=NAME[,NAME] -->`, names set-ups
the test applies while that block runs (an upstream fault, a running deploy, …): the state a
troubleshooting section needs to produce its error, kept out of the reader's way.

`manage.py` lines are checked: the command exists and its arguments parse. The page test
also runs those that change nothing (see test_doc_examples.py) on the test's database.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCAIFLOW_COMMAND = re.compile(r"\bscaiflow (?:compile|push|deploy|pull|status|diff)\b")
FENCE = re.compile(r"^\s*```(\S*)\s*$")
ANNOTATION = re.compile(r"^<!--\s*docs-test:\s*(.*?)\s*-->\s*$")
ANY = "…"
TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class Block:
    lang: str
    text: str
    line: int  # 1-based line of the opening fence


@dataclass(frozen=True)
class Example:
    """A bash block, what the page says it answers, and the set-ups it runs with."""

    path: str
    block: Block
    expected: Block | None = None
    setups: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        return f"{self.path}:{self.block.line}"

    @property
    def runs(self) -> bool:
        return "$SCAIFLOW" in self.block.text or bool(SCAIFLOW_COMMAND.search(self.block.text))


@dataclass
class Outcome:
    stdout: str
    stderr: str
    returncode: int
    env: dict[str, str] = field(default_factory=dict)


def parse_blocks(text: str) -> list[tuple[Block, tuple[str, ...], int]]:
    """Fenced blocks with the set-ups annotated right before them and the line after them."""
    lines = text.splitlines()
    found: list[tuple[Block, tuple[str, ...], int]] = []
    setups: tuple[str, ...] = ()
    index = 0
    while index < len(lines):
        line = lines[index]
        annotation = ANNOTATION.match(line)
        opening = FENCE.match(line)
        if annotation:
            setups = _setups(annotation.group(1))
        elif opening and opening.group(1):
            end = index + 1
            while end < len(lines) and not FENCE.match(lines[end]):
                end += 1
            body = "\n".join(lines[index + 1 : end])
            found.append((Block(opening.group(1), body, index + 1), setups, end + 1))
            setups = ()
            index = end
        elif line.strip():
            setups = ()
        index += 1
    return found


def _setups(spec: str) -> tuple[str, ...]:
    if not spec.startswith("setup="):
        raise ValueError(f"unknown docs-test annotation: {spec!r}")
    return tuple(name.strip() for name in spec.removeprefix("setup=").split(",") if name.strip())


def examples(path: Path, root: Path) -> list[Example]:
    """The page's bash blocks, each with the answer block that follows it, if any."""
    text = path.read_text()
    lines = text.splitlines()
    blocks = parse_blocks(text)
    found = []
    for position, (block, setups, after) in enumerate(blocks):
        if block.lang != "bash":
            continue
        expected = None
        if position + 1 < len(blocks):
            following = blocks[position + 1][0]
            between = lines[after : following.line - 1]
            if following.lang in ("json", "http", "text") and not any(s.strip() for s in between):
                expected = following
        found.append(Example(str(path.relative_to(root)), block, expected, setups))
    return found


# --- Running ---------------------------------------------------------------------------------


def run(example: Example, env: dict[str, str], cwd: Path) -> Outcome:
    """Run the block with bash in `env`; the outcome's env is the shell's after the block."""
    with tempfile.NamedTemporaryFile(prefix="docs-env-") as env_out:
        # `set -a` exports what the block assigns, so `env -0` below sees it.
        script = f'set -a\n{example.block.text}\n__rc=$?\nenv -0 > "{env_out.name}"\nexit $__rc\n'
        completed = subprocess.run(
            ["bash", "-c", script],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
        )
        raw = Path(env_out.name).read_bytes().decode()
    after = dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)
    for name in ("_", "__rc", "SHLVL", "PWD", "OLDPWD"):
        after.pop(name, None)
    return Outcome(completed.stdout, completed.stderr, completed.returncode, after)


# --- Comparing -------------------------------------------------------------------------------


def json_values(text: str) -> list[Any]:
    """Every JSON value in `text`, in order (several curl calls print one after another)."""
    decoder = json.JSONDecoder()
    values, index = [], 0
    while True:
        while index < len(text) and text[index].isspace():
            index += 1
        if index >= len(text):
            return values
        value, index = decoder.raw_decode(text, index)
        values.append(value)


def split_http(text: str) -> tuple[int | None, dict[str, str], str]:
    """`curl -i` output as (status, headers, body); (None, {}, text) when it holds no head."""
    if not text.startswith("HTTP/"):
        return None, {}, text
    normalised = text.replace("\r\n", "\n")
    head, _, body = normalised.partition("\n\n")
    status_line, *header_lines = head.split("\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def match(expected: Any, actual: Any, where: str = "$") -> list[str]:
    """How `actual` differs from what the docs show (empty when it matches)."""
    if expected == ANY:
        return []
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {actual!r}"]
        problems = []
        for key, value in expected.items():
            if key not in actual:
                problems.append(f"{where}.{key}: missing")
            else:
                problems += match(value, actual[key], f"{where}.{key}")
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{where}: expected a list, got {actual!r}"]
        prefix = bool(expected) and expected[-1] == ANY
        items = expected[:-1] if prefix else expected
        if len(actual) < len(items) or (not prefix and len(actual) != len(items)):
            return [f"{where}: expected {len(items)} items, got {len(actual)}: {actual!r}"]
        problems = []
        for index, item in enumerate(items):
            problems += match(item, actual[index], f"{where}[{index}]")
        return problems
    if isinstance(expected, str) and ANY in expected:
        pattern = ".*".join(re.escape(part) for part in expected.split(ANY))
        if isinstance(actual, str) and re.fullmatch(pattern, actual, re.DOTALL):
            return []
    elif _same_kind(expected, actual) and expected == actual:
        return []
    return [f"{where}: expected {expected!r}, got {actual!r}"]


def _same_kind(expected: Any, actual: Any) -> bool:
    """1 and 1.0 are the same number; True is not 1."""
    numbers = (int, float)
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual)
    if isinstance(expected, numbers) and isinstance(actual, numbers):
        return True
    return type(expected) is type(actual)


def _body_problems(expected_text: str, body: str) -> list[str]:
    if not expected_text.strip():
        return [] if not body.strip() else [f"expected no body, got {body[:300]!r}"]
    expected = json.loads(expected_text)
    try:
        values = json_values(body)
    except json.JSONDecodeError:
        return [f"the answer is not JSON: {body[:300]!r}"]
    if not values:
        return ["expected a JSON body, got none"]
    return match(expected, values[-1])


def compare(expected: Block, outcome: Outcome) -> list[str]:
    """What differs between the documented answer and the block's output."""
    if expected.lang == "json":
        _, _, body = split_http(outcome.stdout)
        return _body_problems(expected.text, body)
    if expected.lang == "text":
        wanted, got = expected.text.strip().splitlines(), outcome.stdout.strip().splitlines()
        if len(wanted) != len(got):
            return [f"expected {len(wanted)} lines, got {len(got)}: {outcome.stdout[:500]!r}"]
        problems = []
        for number, (line, actual) in enumerate(zip(wanted, got, strict=True), start=1):
            problems += match(line, actual, f"line {number}")
        return problems
    status, headers, body = split_http(outcome.stdout)
    head, _, expected_body = expected.text.partition("\n\n")
    status_line, *header_lines = head.strip().split("\n")
    problems = []
    wanted = int(status_line.split()[1])
    if status != wanted:
        problems.append(f"status: expected {wanted}, got {status} ({outcome.stdout[:300]!r})")
    for line in header_lines:
        name, _, value = line.partition(":")
        actual = headers.get(name.strip().lower())
        if actual is None:
            problems.append(f"header {name.strip()}: missing")
        else:
            problems += match(value.strip(), actual, f"header {name.strip()}")
    return problems + _body_problems(expected_body, body)


# --- manage.py lines -------------------------------------------------------------------------


def manage_py_calls(text: str) -> list[list[str]]:
    """The argument lists of the `manage.py <command> …` calls in a shell block."""
    calls = []
    joined = re.sub(r"\\\n", " ", text)
    for line in joined.splitlines():
        line = line.split(" #", 1)[0]
        for part in re.split(r"&&|\|\||;|\|", line):
            # Redirections name files, not arguments.
            part = re.sub(r"\s\d?[<>]{1,2}\s*\S+", " ", part)
            try:
                words = shlex.split(part)
            except ValueError:
                words = part.split()
            for index, word in enumerate(words):
                if word.endswith("manage.py") and index + 1 < len(words):
                    calls.append(words[index + 1 :])
                    break
    return calls


def manage_py_problem(words: list[str]) -> str | None:
    """Why `manage.py <words>` would not start (no such command, bad arguments), or None."""
    from django.core.management import get_commands, load_command_class
    from django.core.management.base import CommandError

    name, args = words[0], words[1:]
    commands = get_commands()
    if name not in commands:
        return f"no command {name!r}"
    if "--help" in args or "-h" in args:
        return None
    parser = load_command_class(commands[name], name).create_parser("manage.py", name)
    try:
        parser.parse_args(args)
    except CommandError as error:
        return f"manage.py {' '.join(words)}: {error}"
    return None


def shell_env(base: dict[str, str], python_bin: Path) -> dict[str, str]:
    """The environment blocks start from: the venv's `python` and `scaiflow` first in PATH."""
    # No proxy between the examples and the local server; no settings module for the CLI.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("DJANGO") and not key.lower().endswith("_proxy")
    }
    env["PATH"] = f"{python_bin}{os.pathsep}{env.get('PATH', '')}"
    env.update(base)
    return env
