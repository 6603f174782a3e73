"""The `scaiflow` subcommands that save and deploy flows and list deployments: push, deploy,
status (`pull` is in `scaiflow.cli.pull`, `diff` in `scaiflow.cli.diff`).

Each takes its targets one by one and goes on after a failed one; the command's exit status
is the first failure's (docs/ci.md lists them). With `--json` it prints one JSON object,
`{"command", "ok", "exit_code", …}`, and nothing else; without, a line per target on standard
output and each failure, with its fix, on standard error.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scaiflow.cli.client import Client
from scaiflow.cli.errors import ClientError, local_failure
from scaiflow.cli.exits import EXIT_USAGE
from scaiflow.cli.flowfiles import Entry, FlowFile, LockFile, Locks, read_flow_file
from scaiflow.cli.output import Run, printable

# A flow id as a user may type it (the server's are lowercase).
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
        same = _same_flow(client, lock, flow_file)
        if same is not None:
            return Pushed(flow_file, lock.record(path.name, same), "unchanged")
        body = client.flow_create(name=flow_file.name, content=flow_file.content).body
        return Pushed(flow_file, lock.record(path.name, body), "created")
    if flow_file.sha256 == entry.content_sha256 and not force:
        if lock.changed:  # the entry moved to the file's new name
            lock.save()
        return Pushed(flow_file, entry, "unchanged")
    try:
        body = client.flow_update(
            entry.id,
            name=flow_file.name,
            content=flow_file.content,
            if_match=None if force else entry.version,
        ).body
    except ClientError as error:
        if error.code != "version_conflict":
            raise
        body = same_content_or_conflict(client, flow_file, entry)
        return Pushed(flow_file, lock.record(path.name, body), "unchanged")
    action = "updated" if body["version"] != entry.version else "unchanged"
    return Pushed(flow_file, lock.record(path.name, body), action)


def _same_flow(client: Client, lock: LockFile, flow_file: FlowFile) -> dict[str, Any] | None:
    """A flow of the tenant that is this file already — same name, same content, and no file
    of the lock tied to it — as an earlier push whose lock was not kept made it (a CI job run
    again before its lock was committed). Creating another would make a duplicate."""
    tied = {entry.id for entry in lock.entries.values()}
    for flow in client.flows(search=flow_file.name):
        if (
            flow["name"] == flow_file.name
            and flow["content_sha256"] == flow_file.sha256
            and flow["id"] not in tied
        ):
            return flow
    return None


def same_content_or_conflict(client: Client, flow_file: FlowFile, entry: Entry) -> dict[str, Any]:
    """After a 412: the flow, when its current version is the file's content (someone pushed
    this very content since); else the conflict, said for the command line."""
    current = client.flow(entry.id).body
    if current["content_sha256"] == flow_file.sha256:
        return current
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


def deploy_file(
    client: Client, locks: Locks, path: Path, *, force: bool, **options: Any
) -> tuple[Pushed, dict[str, Any]]:
    """Push the file when needed, then deploy the version pushed (`If-Match` on it): what is
    deployed is the file, or the deploy is a version_conflict."""
    pushed = push_file(client, locks, path, force=force)
    try:
        return pushed, client.deploy(pushed.entry.id, if_match=pushed.entry.version, **options).body
    except ClientError as error:
        if error.code != "version_conflict":
            raise
    # A version was saved since the lock's: deploy it only when it is this file's content.
    body = same_content_or_conflict(client, pushed.flow_file, pushed.entry)
    pushed = Pushed(pushed.flow_file, locks.of(path).record(path.name, body), "unchanged")
    return pushed, client.deploy(pushed.entry.id, if_match=pushed.entry.version, **options).body


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
    options = {"publish": publish, "group_ids": group_ids, "idempotency_key": idempotency_key}
    locks, results = Locks(), []
    for target in targets:
        result: dict[str, Any] = {"target": target, "flow_id": None, "version": None}
        result.update(push=None, deployment=None, error=None)
        try:
            if is_flow_id(target):
                result["flow_id"] = target
                record = client.deploy(target, **options).body
            else:
                pushed, record = deploy_file(client, locks, Path(target), force=force, **options)
                result["push"] = pushed.action
        except ClientError as error:
            result["error"] = run.failed(target, error)
        else:
            result.update(flow_id=record["flow_id"], version=record["flow_version"])
            result["deployment"] = {name: record.get(name) for name in DEPLOYMENT_FIELDS}
            run.say(f"{target}: {_deployed(record, result['push'])}")
        results.append(result)
    return run.finish(results=results)


def _deployed(record: dict[str, Any], push_action: str | None) -> str:
    pushed = f" ({push_action})" if push_action else ""
    text = (
        f"{record['flow_id']} version {record['flow_version']}{pushed} deployed: "
        f"{record['id']} {record['status']}, Core {record['core_id']} ({record['core_action']})"
    )
    if record.get("published_slug"):
        text += f", published as {record['published_slug']}"
    return text


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
    if limit < 1:  # page_size=0 would be the server's 400, after a round trip
        reason = f"--limit must be a whole number from 1, not {limit}."
        return run.give_up("status", local_failure("invalid_request", reason, "", EXIT_USAGE))
    try:
        flow_id = flow_id_of(target, Locks()) if target else None
        records = client.deployments(flow_id=flow_id, limit=limit)
    except ClientError as error:
        return run.give_up(target or "status", error)
    rows = []
    for record in records:
        row = {name: record.get(name) for name in DEPLOYMENT_FIELDS}
        row["flow_name"] = record.get("flow_name")
        row["error"] = (record.get("error") or {}).get("error")  # its code
        rows.append(row)
    _table(run.say, rows)
    return run.finish(flow_id=flow_id, deployments=rows)


def _table(say: Callable[[str], None], rows: list[dict[str, Any]]) -> None:
    columns = ("id", "flow_id", "flow_version", "status", "core_id", "created_at", "error")
    heads = ("DEPLOYMENT", "FLOW", "VERSION", "STATUS", "CORE", "CREATED", "ERROR")
    cells = [heads] + [tuple(_cell(row, column) for column in columns) for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    for line in cells:
        say("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
    if not rows:
        say("no deployments")


def _cell(row: dict[str, Any], column: str) -> str:
    value = row[column]
    if value is None:
        return "-"
    text = printable(value, 100)
    return text[:19] if column == "created_at" else text  # times to the second
