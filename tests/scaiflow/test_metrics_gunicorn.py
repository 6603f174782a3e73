"""Two gunicorn workers report one total (prometheus-client's multiprocess mode)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = str(Path(sys.executable).parent / "gunicorn")
TOKEN = "metrics-token-for-tests"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def healthz_count(url: str) -> float:
    response = requests.get(
        f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == "scaiflow_http_requests_total" and sample.labels == {
                "method": "GET", "route": "healthz", "status": "200"
            }:  # fmt: skip
                return sample.value
    return 0.0


def workers_that_served(metrics_dir: Path) -> list[str]:
    """The counter files (one per worker) that count a healthz request."""
    return [
        path.name
        for path in metrics_dir.glob("counter_*.db")
        if any(
            sample.name == "scaiflow_http_requests_total"
            and sample.labels.get("route") == "healthz"
            and sample.value > 0
            for family in MultiProcessCollector.merge([str(path)])
            for sample in family.samples
        )
    ]


@pytest.mark.slow
def test_two_workers_report_one_total(tmp_path):
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "scaiflow.settings",
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "CACHE_URL": "locmemcache://metrics",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "SCAIFLOW_METRICS_TOKEN": TOKEN,
    }
    server = subprocess.Popen(
        [GUNICORN, "scaiflow.wsgi", "--workers", "2", "--bind", f"127.0.0.1:{port}",
         "--log-level", "warning"],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{url}/healthz", timeout=5)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.1)
        # Until both workers have served: each one's values are in a file named after its pid.
        for _ in range(20):
            if len(workers_that_served(metrics_dir)) == 2:
                break
            for _ in range(10):
                requests.get(f"{url}/healthz", headers={"Connection": "close"}, timeout=5)
        assert len(workers_that_served(metrics_dir)) == 2
        served = healthz_count(url)
        for _ in range(20):
            requests.get(f"{url}/healthz", headers={"Connection": "close"}, timeout=5)
        # Whichever worker answers the scrape, it reports the sum of both.
        assert [healthz_count(url) for _ in range(6)] == [served + 20] * 6
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
