"""Fixtures of the command's tests: a fake ScaiFlow on loopback, and the command run in this
process (`run`), in a scratch working tree, with the URL and token in its environment."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from scaiflow.cli.main import main
from tests.cli.fakeserver import FakeScaiFlow

TOKEN = "tok-9f3c-never-print-me"


@pytest.fixture
def server() -> Iterator[FakeScaiFlow]:
    fake = FakeScaiFlow().start()
    yield fake
    fake.stop()


@dataclass
class Ran:
    code: int
    out: str
    err: str


@pytest.fixture
def run(server, tmp_path, monkeypatch, capsys):
    """`run("status", "--limit", "3")`: the command against `server`, from `tmp_path/work`."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("SCAIFLOW_URL", server.url)
    monkeypatch.setenv("SCAIFLOW_TOKEN", TOKEN)

    def run_command(*argv: str) -> Ran:
        code = main(list(argv))
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return run_command
