"""tests/prerequisites.sh: what `make test` checks before any test runs.

Where the machine cannot install (no apt-get, not root), a missing prerequisite stops the run
at once with one line that says what to do. The install path itself (apt-get as root) is what
CI takes on a fresh machine.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "prerequisites.sh"
# What the script runs, without apt-get: a machine that cannot install.
COMMANDS = ("bash", "id", "timeout", "sleep", "seq", "ls", "cat", "mkdir", "curl", "jq")


@pytest.fixture
def no_apt(tmp_path) -> Path:
    """A PATH holding only the commands the script uses, apt-get not among them."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in COMMANDS:
        if found := shutil.which(name):
            (bin_dir / name).symlink_to(found)
    (bin_dir / "python3").symlink_to(sys.executable)
    return bin_dir


def run(no_apt: Path, *needs: str, **env: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    result = subprocess.run(
        ["bash", str(SCRIPT), *needs],
        env={"PATH": str(no_apt), "HOME": os.environ.get("HOME", "/"), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result, time.monotonic() - started


def test_missing_chromium_without_apt_stops_at_once_with_one_line(no_apt, tmp_path):
    result, seconds = run(no_apt, "browser", CHROMIUM=str(tmp_path / "chromium"))

    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert str(tmp_path / "chromium") in lines[0]
    assert "apt-get install -y chromium chromium-driver" in lines[0]
    assert "CHROMIUM and CHROMEDRIVER" in lines[0]
    assert result.stdout == ""
    assert seconds < 30


def test_present_browser_passes_silently(no_apt, tmp_path):
    binary = tmp_path / "chromium"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)

    if not (shutil.which("curl") and shutil.which("jq")):
        pytest.fail("the docs' examples need curl and jq: run `make test`")

    result, _ = run(no_apt, "browser", CHROMIUM=str(binary), CHROMEDRIVER=str(binary))

    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@pytest.fixture
def listening_port():
    """A port something listens on: a service the script finds reachable."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


@pytest.mark.parametrize(
    ("unreachable", "line"),
    [
        (
            "DATABASE_URL",
            "PostgreSQL is not reachable at 192.0.2.1:5432: start it, or set "
            "DATABASE_URL=postgres://USER:PASSWORD@HOST:PORT/DB",
        ),
        (
            "CACHE_URL",
            "Redis is not reachable at 192.0.2.1:6379: start it, or set "
            "CACHE_URL=redis://HOST:PORT/DB",
        ),
    ],
)
def test_unreachable_remote_service_says_what_to_set(no_apt, listening_port, unreachable, line):
    urls = {
        "DATABASE_URL": f"postgres://postgres:postgres@127.0.0.1:{listening_port}/test",
        "CACHE_URL": f"redis://127.0.0.1:{listening_port}/1",
    }
    # A documentation address (RFC 5737): never reachable, and not local, so never started.
    urls[unreachable] = urls[unreachable].replace(f"127.0.0.1:{listening_port}", "192.0.2.1")

    result, seconds = run(no_apt, "services", **urls)

    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"prerequisites: {line}"]
    assert seconds < 30


def test_reachable_services_pass_silently(no_apt, listening_port):
    result, _ = run(
        no_apt,
        "services",
        DATABASE_URL=f"postgres://postgres@localhost:{listening_port}/test",
        CACHE_URL=f"redis://localhost:{listening_port}/1",
    )

    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_unknown_prerequisite_is_a_usage_error(no_apt):
    result, _ = run(no_apt, "gpu")

    assert result.returncode == 1
    assert "unknown prerequisite 'gpu'" in result.stderr
