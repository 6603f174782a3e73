"""Reliability fixtures: refused connections, and ScaiFlow served by gunicorn in subprocesses.

- `refuse`: upstream calls whose path matches a glob go to a port that is bound but never
  listens, so the operating system refuses the connection. devstack serves every service on
  one port and cannot refuse one path; this sends just the matched calls elsewhere, at the
  outbound seam's session, and leaves everything else untouched.
- `app_servers`: starts gunicorn processes serving ScaiFlow against devstack (its thread in
  this process), on a database the test can see: the test database itself on PostgreSQL
  (with `transactional_db`), else a migrated SQLite file. Processes are killed at teardown.
"""

from __future__ import annotations

import fnmatch
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from django.conf import settings as django_settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
GUNICORN = str(Path(PYTHON).parent / "gunicorn")
# Short enough that a slow or hanging upstream costs about a second per case.
FAULT_TIMEOUT = 1.5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def refused_port():
    """A port bound for the whole session but never listening: connecting is refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def refuse(monkeypatch, refused_port):
    """`refuse(method, glob)`: matching upstream calls get a refused connection."""
    rules: list[tuple[str, str]] = []
    original = requests.Session.request

    def request(self, method, url, *args, **kwargs):
        parts = urlsplit(url)
        if any(m in ("*", method.upper()) and fnmatch.fnmatchcase(parts.path, g) for m, g in rules):
            url = urlunsplit(parts._replace(netloc=f"127.0.0.1:{refused_port}"))
        return original(self, method, url, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", request)

    def add(method: str, glob: str) -> None:
        rules.append((method.upper(), glob))

    add.clear = rules.clear
    return add


def wait_for(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=5)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not come up within {seconds:g} s")


def on_postgres() -> bool:
    return django_settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def require_postgres_and_redis() -> None:
    """Fail (never skip silently) when a scenario that needs PostgreSQL and Redis lacks them."""
    cache_backend = django_settings.CACHES["default"]["BACKEND"]
    if not on_postgres() or "redis" not in cache_backend.lower():
        pytest.fail(
            "this scenario needs DATABASE_URL on PostgreSQL and CACHE_URL on Redis "
            "(make test-reliability with both set, as .ci/run does)"
        )


def database_url_for_servers(tmp_path: Path) -> str:
    """The DATABASE_URL subprocesses use: the test database (PostgreSQL), else a SQLite file."""
    if on_postgres():
        db = connection.settings_dict
        return (
            f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}"
        )
    return f"sqlite:///{tmp_path / 'servers.sqlite3'}"


def cache_url_for_servers() -> str:
    """The test run's cache (Redis when given), else each server's own local memory."""
    return os.environ.get("CACHE_URL") or "locmemcache://scaiflow"


@dataclass
class AppServer:
    port: int
    process: subprocess.Popen
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def kill(self) -> None:
        """SIGKILL the whole process group: master and workers die mid-request."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


@dataclass
class AppServers:
    env: dict[str, str]
    tmp_path: Path
    started: list[AppServer] = field(default_factory=list)

    def migrate(self) -> None:
        subprocess.run(
            [PYTHON, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=self.env, check=True
        )

    def start(self, *, port: int | None = None, workers: int = 1, threads: int = 16) -> AppServer:
        port = port or free_port()
        log = self.tmp_path / f"gunicorn-{port}-{len(self.started)}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                [
                    GUNICORN, "scaiflow.wsgi", "--workers", str(workers),
                    "--worker-class", "gthread", "--threads", str(threads),
                    "--bind", f"127.0.0.1:{port}", "--timeout", "120",
                    "--keep-alive", "10", "--log-level", "warning", "--no-control-socket",
                ],
                cwd=ROOT, env=self.env, stdout=out, stderr=out, start_new_session=True,
            )  # fmt: skip
        server = AppServer(port, process, log)
        self.started.append(server)
        wait_for(f"{server.url}/healthz")
        return server

    def stop_all(self) -> None:
        for server in self.started:
            if server.process.poll() is None:
                # SIGQUIT: gunicorn's quick shutdown; nothing is left to finish gracefully.
                os.killpg(server.process.pid, signal.SIGQUIT)
                try:
                    server.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    server.kill()


@pytest.fixture
def app_servers(transactional_db, devstack, tmp_path):
    """Start ScaiFlow under gunicorn with `app_servers.start()`; see the module docstring."""
    env = {
        **os.environ,
        **devstack.env(),
        "DJANGO_SETTINGS_MODULE": "tests.reliability.server_settings",
        "DEBUG": "0",
        "SECRET_KEY": "reliability-only-" + "x" * 50,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "SCAIFLOW_SECRETS_KEYS": "Z2VuZXJhdGVkLWZvci10ZXN0cy1vbmx5LTMyYnl0ZXM=",
        "DATABASE_URL": database_url_for_servers(tmp_path),
        "CACHE_URL": cache_url_for_servers(),
        "SCAIFLOW_FLOW_STORAGE": "",
        "RELIABILITY_FLOWS_DIR": str(tmp_path / "flows"),
        "SCAIFLOW_DEPLOY_RATE": "1000/min",
        "SCAIFLOW_DEPLOY_TENANT_RATE": "1000/min",
        "SCAIGRID_API_KEY": "",
        "LOG_LEVEL": "WARNING",
    }
    servers = AppServers(env=env, tmp_path=tmp_path)
    if not on_postgres():
        servers.migrate()
    yield servers
    servers.stop_all()


@pytest.fixture
def server_logs(app_servers):
    """The servers' combined log, for assertion messages."""

    def read() -> str:
        return "\n".join(s.log.read_text(errors="replace")[-4000:] for s in app_servers.started)

    return read
