"""The `scaiflow` subcommands that talk to a running ScaiFlow: push, deploy, pull, status, diff.

Each takes its targets one by one and goes on after a failed one; the command's exit status
is the first failure's (docs/ci.md lists them). With `--json` it prints one JSON object,
`{"command", "ok", "exit_code", …}`, and nothing else; without, a line per target on standard
output and each failure, with its fix, on standard error. `diff` is in `scaiflow.remote_diff`.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from scaiflow.client import EXIT_OK, EXIT_USAGE, Client, ClientError
from scaiflow.flowfiles import (
    Entry,
    FlowFile,
    Locks,
    file_name_for,
    local_failure,
    pretty_json,
    read_flow_file,
)

FLOW_ID = re.compile(r"flw_[A-Za-z0-9]{1,60}")
DEPLOYMENT_FIELDS = (
    "id",
    "flow_id",
    "flow_version",
    "status",
    "core_id",
    "core_action",
    "published_slug",
    "created_at",
)


@dataclass
class Run:
    """One command's results and where its output goes."""

    command: str
    as_json: bool
    stdout: IO[str] = field(default_factory=lambda: sys.stdout)
    stderr: IO[str] = field(default_factory=lambda: sys.stderr)
    exit_code: int = EXIT_OK
    document: dict[str, Any] = field(default_factory=dict)

    def say(self, text: str) -> None:
        if not self.as_json:
            print(text, file=self.stdout)

    def failed(self, label: str, error: ClientError) -> dict[str, Any]:
        """Note a failure: its exit status counts when it is the first; the error for JSON."""
        if self.exit_code == EXIT_OK:
            self.exit_code = error.exit_status
        if not self.as_json:
            where = (
                f" (deployment {error.detail['deployment_id']})"
                if error.detail.get("deployment_id")
                else ""
            )
            print(f"scaiflow: {label}: {error.code}: {error.message}{where}", file=self.stderr)
            for message in error.detail.get("messages") or []:
                print(f"  {format_diagnostic(label, message)}", file=self.stderr)
            if error.fix:
                print(f"  fix: {error.fix}", file=self.stderr)
        return {"status": error.status, **error.detail}

    def finish(self, **document: Any) -> int:
        if self.as_json:
            body = {"command": self.command, "ok": self.exit_code == EXIT_OK}
            body.update(exit_code=self.exit_code, **document)
            print(json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False), file=self.stdout)
        return self.exit_code


def format_diagnostic(label: str, message: dict[str, Any]) -> str:
    """A compile diagnostic as `scaiflow compile` prints it, with the node it is about."""
    line = (
        f"{label}:{message.get('path') or ''}: {message.get('severity')} "
        f"{message.get('code')}: {message.get('message')}"
    )
    return f"{line} (node {message['node_id']})" if message.get("node_id") else line


def is_flow_id(target: str) -> bool:
    return bool(FLOW_ID.fullmatch(target)) and not Path(target).exists()


# --- push ------------------------------------------------------------------------------------


@dataclass
class Pushed:
    flow_file: FlowFile
    entry: Entry
    action: str  # created | updated | unchanged


def push_file(client: Client, locks: Locks, path: Path, *, force: bool) -> Pushed:
    """Save the file as its flow's next version (creating the flow the first time) and record
    it in the lock. Raises ClientError; a version saved by someone else since the lock's is a
    `version_conflict` (exit 3), unless `force`."""
    flow_file = read_flow_file(path)
    lock = locks.of(path)
    entry = lock.entry_for(flow_file)
    if entry is None:
        body = client.flow_create(name=flow_file.name, content=flow_file.content).body
        action = "created"
    elif flow_file.sha256 == entry.content_sha256 and not force:
        if lock.changed:  # the entry moved to the file's new name
            lock.save()
        return Pushed(flow_file, entry, "unchanged")
    else:
        body, saved = _update(client, flow_file, entry, force=force)
        action = "updated" if saved and body["version"] != entry.version else "unchanged"
    entry = Entry(
        id=body["id"],
        version=body["version"],
        content_sha256=body["content_sha256"],
        name=body["name"],
    )
    lock.entries[path.name] = entry
    lock.save()
    return Pushed(flow_file, entry, action)


def _update(
    client: Client, flow_file: FlowFile, entry: Entry, *, force: bool
) -> tuple[dict[str, Any], bool]:
    """The flow after saving the file over `entry`'s version, and whether this saved it."""
    if_match = None if force else entry.version
    try:
        answer = client.flow_update(
            entry.id, name=flow_file.name, content=flow_file.content, if_match=if_match
        )
        return answer.body, True
    except ClientError as error:
        if error.code != "version_conflict":
            raise
    current = client.flow(entry.id).body
    if current["content_sha256"] == flow_file.sha256:
        return current, False  # someone pushed this very content already
    file = flow_file.path
    raise ClientError(
        412,
        {
            "error": "version_conflict",
            "message": f"{entry.id} is at version {current['version']} on the server, but "
            f"{file.name} was last pushed or pulled as version {entry.version}: someone saved "
            "a version since. Nothing was overwritten.",
            "fix": f"See their changes with `scaiflow diff {file}`, merge them into the file "
            "(`scaiflow pull` writes the server's version), then push again; or push with "
            "--force to save the file over them (every version is kept).",
            "current_version": current["version"],
        },
    )


def push(client: Client, run: Run, files: list[str], *, force: bool) -> int:
    locks, results = Locks(), []
    for file in files:
        result: dict[str, Any] = {"file": file, "flow_id": None, "version": None}
        try:
            pushed = push_file(client, locks, Path(file), force=force)
        except ClientError as error:
            result.update(action=None, error=run.failed(file, error))
        else:
            entry = pushed.entry
            result.update(flow_id=entry.id, version=entry.version, action=pushed.action)
            result["error"] = None
            run.say(f"{file}: {pushed.action} {entry.id} version {entry.version}")
        results.append(result)
    return run.finish(results=results)


# --- deploy ----------------------------------------------------------------------------------


def deploy(
    client: Client,
    run: Run,
    targets: list[str],
    *,
    force: bool,
    publish: bool | None,
    group_ids: list[str] | None,
    idempotency_key: str | None,
) -> int:
    locks, results = Locks(), []
    for target in targets:
        result: dict[str, Any] = {"target": target, "flow_id": None, "version": None}
        result.update(push=None, deployment=None, error=None)
        try:
            if_match = None
            if is_flow_id(target):
                flow_id = target
            else:
                pushed = push_file(client, locks, Path(target), force=force)
                flow_id, if_match = pushed.entry.id, pushed.entry.version
                result.update(flow_id=flow_id, version=if_match, push=pushed.action)
            record = client.deploy(
                flow_id,
                publish=publish,
                group_ids=group_ids,
                if_match=if_match,
                idempotency_key=idempotency_key,
            ).body
        except ClientError as error:
            result["error"] = run.failed(target, error)
        else:
            summary = {name: record.get(name) for name in DEPLOYMENT_FIELDS}
            result.update(flow_id=record["flow_id"], version=record["flow_version"])
            result["deployment"] = summary
            pushed_text = f" ({result['push']})" if result["push"] else ""
            core = f"Core {record['core_id']} ({record['core_action']})"
            published = f", published as {record['published_slug']}" * bool(
                record["published_slug"]
            )
            run.say(
                f"{target}: {record['flow_id']} version {record['flow_version']}{pushed_text} "
                f"deployed: {record['id']} {record['status']}, {core}{published}"
            )
        results.append(result)
    return run.finish(results=results)


# --- pull ------------------------------------------------------------------------------------


def pull(
    client: Client, run: Run, flow_ids: list[str], *, pull_all: bool, directory: Path, force: bool
) -> int:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        lock = Locks().of_directory(directory)
        if pull_all:
            flow_ids = [flow["id"] for flow in client.flows()]
    except (ClientError, OSError) as error:
        return give_up(run, str(directory), error)
    results, taken = [], set()
    for flow_id in flow_ids:
        result: dict[str, Any] = {"flow_id": flow_id, "file": None, "version": None}
        try:
            flow = client.flow(flow_id).body
            file = _file_for(lock, flow, directory, taken)
            action = _write_pulled(lock, flow, directory / file, force=force)
        except ClientError as error:
            result.update(action=None, error=run.failed(flow_id, error))
        else:
            taken.add(file)
            path = str(directory / file)
            result.update(file=path, version=flow["version"], action=action, error=None)
            run.say(f"{flow_id}: {action} {path} (version {flow['version']})")
        results.append(result)
    return run.finish(results=results)


def _file_for(lock, flow: dict[str, Any], directory: Path, taken: set[str]) -> str:
    """The lock's file for this flow, else one named after it that no other flow has."""
    known = lock.file_of(flow["id"])
    if known:
        return known
    file = file_name_for(flow["name"], flow["id"])
    if file in taken or file in lock.entries or (directory / file).exists():
        file = file_name_for(f"{flow['name']}-{flow['id']}", flow["id"])
    return file


def _write_pulled(lock, flow: dict[str, Any], path: Path, *, force: bool) -> str:
    entry = lock.entries.get(path.name)
    if path.exists() and entry is not None and not force:
        local = read_flow_file(path)
        if local.sha256 not in (entry.content_sha256, flow["content_sha256"]):
            raise ClientError(
                409,
                {
                    "error": "local_changes",
                    "message": f"{path} has changes that were never pushed; not overwritten.",
                    "fix": f"Push them (`scaiflow push {path}`), or pull with --force to "
                    "discard them.",
                },
            )
    text = pretty_json(flow["content"])
    unchanged = path.exists() and path.read_text(encoding="utf-8") == text
    if not unchanged:
        path.write_text(text, encoding="utf-8")
    lock.entries[path.name] = Entry(
        id=flow["id"],
        version=flow["version"],
        content_sha256=flow["content_sha256"],
        name=flow["name"],
    )
    lock.save()
    return "unchanged" if unchanged else "written"


def give_up(run: Run, label: str, error: ClientError | OSError) -> int:
    if isinstance(error, OSError):
        error = local_failure(
            "unwritable_directory", f"cannot write {label}: {error}", "", EXIT_USAGE
        )
    return run.finish(error=run.failed(label, error))


# --- status ----------------------------------------------------------------------------------


def flow_id_of(target: str, locks: Locks) -> str:
    """A flow id as given, or the one the lock file ties the file to."""
    if is_flow_id(target):
        return target
    path = Path(target)
    entry = locks.of(path).entry_for(read_flow_file(path))
    if entry is None:
        raise local_failure(
            "not_pushed",
            f"{target} was never pushed: {path.parent / '.scaiflow.json'} does not name it.",
            f"Push it first: `scaiflow push {target}`.",
            EXIT_USAGE,
        )
    return entry.id


def status(client: Client, run: Run, target: str | None, *, limit: int) -> int:
    try:
        flow_id = flow_id_of(target, Locks()) if target else None
        records = client.deployments(flow_id=flow_id, limit=limit)
    except ClientError as error:
        return give_up(run, target or "status", error)
    rows = []
    for record in records:
        row = {name: record.get(name) for name in DEPLOYMENT_FIELDS}
        row["flow_name"] = record.get("flow_name")
        row["error"] = (record.get("error") or {}).get("error")
        rows.append(row)
    _table(run.say, rows)
    return run.finish(flow_id=flow_id, deployments=rows)


def _table(say: Callable[[str], None], rows: list[dict[str, Any]]) -> None:
    columns = ("id", "flow_id", "flow_version", "status", "core_id", "created_at", "error")
    heads = ("DEPLOYMENT", "FLOW", "VERSION", "STATUS", "CORE", "CREATED", "ERROR")
    cells = [heads] + [
        tuple("-" if row[c] is None else str(row[c])[:19 if c == "created_at" else None]
              for c in columns)
        for row in rows
    ]  # fmt: skip
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    for line in cells:
        say("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
    if not rows:
        say("no deployments")
