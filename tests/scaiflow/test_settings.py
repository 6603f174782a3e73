"""Production configuration: `check --deploy` is clean, and missing settings stop the process."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "scaiflow.example.com",
    "SCAIFLOW_SECRETS_KEYS": "Z2VuZXJhdGVkLWZvci10ZXN0cy1vbmx5LTMyYnl0ZXM=",
}


def manage(*args, env):
    clean = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **env}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_the_documented_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS", "SCAIFLOW_SECRETS_KEYS"])
def test_production_refuses_to_start_without(missing):
    env = {name: value for name, value in PRODUCTION_ENV.items() if name != missing}
    result = manage("check", env=env)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert missing in lines[0]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SCAIFLOW_DEPLOY_AUTH", "password"),
        ("SCAIFLOW_DEPLOY_RATE", "30"),
        ("SCAIFLOW_DEPLOY_TENANT_RATE", "120/fortnight"),
        ("SCAIFLOW_SIGN_IN_RATE", "20"),
    ],
)
def test_malformed_setting_is_refused(name, value):
    result = manage("check", env={**PRODUCTION_ENV, name: value})
    assert result.returncode != 0
    assert name in result.stderr


@pytest.mark.parametrize(
    "entry", ["ftp://grid.example", "https://user@grid.example", "https://[::1", "https://:443"]
)
def test_a_malformed_scaigrid_allowed_hosts_entry_is_refused(entry):
    env = {**PRODUCTION_ENV, "SCAIGRID_ALLOWED_HOSTS": f"grid.example,{entry}"}
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "SCAIGRID_ALLOWED_HOSTS" in result.stderr and entry in result.stderr


def test_debug_needs_nothing():
    result = manage("check", env={"DEBUG": "1"})
    assert result.returncode == 0, result.stderr


def test_a_redis_url_key_prefix_reaches_django():
    # django-environ hands it over as `key_prefix`, which Django alone would ignore.
    script = (
        "from django.conf import settings; c = settings.CACHES['default']; "
        "print(c['BACKEND'], c['KEY_PREFIX'], c['TIMEOUT'], 'key_prefix' in c)"
    )
    url = "redis://127.0.0.1:6379/3?key_prefix=staging&timeout=60"
    result = manage("shell", "-v", "0", "-c", script, env={"DEBUG": "1", "CACHE_URL": url})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["scaiflow.core.cache.RedisCache", "staging", "60", "False"]


def test_hsts_preload_is_off_unless_the_operator_turns_it_on():
    show = ("shell", "-c", "from django.conf import settings; print(settings.SECURE_HSTS_PRELOAD)")
    result = manage(*show, env=PRODUCTION_ENV)
    assert result.stdout.strip().splitlines()[-1] == "False", result.stderr
    result = manage(*show, env={**PRODUCTION_ENV, "SECURE_HSTS_PRELOAD": "1"})
    assert result.stdout.strip().splitlines()[-1] == "True", result.stderr
