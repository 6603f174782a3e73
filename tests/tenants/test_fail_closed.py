"""Start-up refuses to run in production without a usable SCAIFLOW_SECRETS_KEYS."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def start(extra_env: dict[str, str], *argv: str) -> subprocess.CompletedProcess:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SCAIFLOW_", "SCAIVAULT_", "DJANGO_"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "scaiflow.settings",
            "DEBUG": "0",
            "SECRET_KEY": "start-up-test-" + "x" * 50,
            "ALLOWED_HOSTS": "scaiflow.example",
            # Set, so that a developer's .env cannot supply one.
            "SCAIFLOW_SECRETS_KEYS": "",
        }
    )
    env.update(extra_env)
    return subprocess.run(
        [sys.executable, *argv],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_refused(result: subprocess.CompletedProcess) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "SCAIFLOW_SECRETS_KEYS" in lines[0]


def test_manage_py_refuses_to_start_without_secrets_keys():
    assert_refused(start({}, "manage.py", "check"))


@pytest.mark.parametrize(
    ("keys", "malformed"),
    [
        ("not-a-fernet-key", "not-a-fernet-key"),
        (f"{Fernet.generate_key().decode()},c2hvcnQta2V5", "c2hvcnQta2V5"),
    ],
)
def test_manage_py_refuses_a_malformed_secrets_key(keys, malformed):
    result = start({"SCAIFLOW_SECRETS_KEYS": keys}, "manage.py", "check")
    assert_refused(result)
    assert malformed not in result.stderr


def test_the_application_does_not_load_without_secrets_keys():
    script = "import django; django.setup()"
    result = start({}, "-c", script)
    assert result.returncode != 0
    assert "SCAIFLOW_SECRETS_KEYS must be set" in result.stderr.strip().splitlines()[-1]


def test_production_starts_with_a_key():
    result = start({"SCAIFLOW_SECRETS_KEYS": Fernet.generate_key().decode()}, "manage.py", "check")
    assert result.returncode == 0, result.stderr


def test_development_starts_without_keys():
    result = start({"DEBUG": "1"}, "manage.py", "check")
    assert result.returncode == 0, result.stderr
