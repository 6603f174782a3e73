"""The command's package imports no Django and no server module but the pure compiler and the
graph diff: it runs where only `requests` and PyYAML are installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "support-triage.flow.json"

PROBE = textwrap.dedent(
    """
    import importlib, io, json, pkgutil, sys

    BLOCKED = ("django", "rest_framework")

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} is blocked: the command must not import it")
            return None

    sys.meta_path.insert(0, Blocker())

    import scaiflow.cli
    from scaiflow.cli.main import main

    modules = [
        info.name for info in pkgutil.walk_packages(scaiflow.cli.__path__, "scaiflow.cli.")
    ]
    for name in modules:
        if name != "scaiflow.cli.__main__":
            importlib.import_module(name)
    try:
        main(["--help"])
    except SystemExit as exited:
        assert exited.code == 0, exited.code
    code = main(["compile", sys.argv[1]])
    server = sorted(
        name for name in sys.modules
        if name.split(".")[0] in ("tenants", "deployments", "devstack", *BLOCKED)
    )
    print(json.dumps({"modules": modules, "compile": code, "server": server}), file=sys.stderr)
    """
)


def test_the_command_imports_neither_django_nor_the_server():
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT)}
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, str(EXAMPLE)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stderr.strip().splitlines()[-1])
    assert report["compile"] == 0
    assert report["server"] == []
    assert {"scaiflow.cli.main", "scaiflow.cli.client", "scaiflow.cli.pull"} <= set(
        report["modules"]
    )
    assert "apiVersion: scaicore/v1" in completed.stdout
