"""`scaiflow pull`: flows written as files in `--dir`, and recorded in its `.scaiflow.json`.

What the server says never becomes a path by itself: a file is named after the flow's name
(lowercase words and hyphens) or its id when that is a flow id (`flw_` and lowercase letters
or digits), and its resolved path must be in `--dir` itself; anything else is refused with
exit 2 (`unsafe_path`), one line per flow, and nothing is written for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scaiflow.cli import answers
from scaiflow.cli.client import Client
from scaiflow.cli.errors import ClientError
from scaiflow.cli.flowfiles import (
    LockFile,
    Locks,
    file_name_for,
    path_inside,
    pretty_json,
    read_flow_file,
    unsafe_path,
    write_file,
)
from scaiflow.cli.output import Run


def pull(
    client: Client, run: Run, flow_ids: list[str], *, pull_all: bool, directory: Path, force: bool
) -> int:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        lock = Locks().of_directory(directory)
        if pull_all:
            flow_ids = [flow["id"] for flow in client.flows()]
    except (ClientError, OSError) as error:
        return run.give_up(str(directory), error)
    results, taken = [], set()
    for flow_id in flow_ids:
        result: dict[str, Any] = {"flow_id": flow_id, "file": None, "version": None}
        try:
            flow, path, action = pull_flow(client, lock, flow_id, directory, taken, force=force)
        except ClientError as error:
            result.update(action=None, error=run.failed(flow_id, error))
        else:
            result.update(file=str(path), version=flow["version"], action=action, error=None)
            run.say(f"{flow_id}: {action} {path} (version {flow['version']})")
        results.append(result)
    return run.finish(results=results)


def pull_flow(
    client: Client, lock: LockFile, flow_id: str, directory: Path, taken: set[str], *, force: bool
) -> tuple[dict[str, Any], Path, str]:
    """Fetch one flow and write its file in `directory`: the flow, the path, the action."""
    if not answers.FLOW_ID.fullmatch(flow_id):
        raise unsafe_path(flow_id, "it is no flow id (flw_ and lowercase letters or digits)")
    answer = client.flow(flow_id)
    flow = answer.body
    if flow["id"] != flow_id:
        raise answers.invalid(answer.status, f"asked for {flow_id}, it answered another flow")
    file = _file_for(lock, flow, directory, taken)
    path = path_inside(directory, file, subject=flow_id)
    action = _write_pulled(lock, flow, path, force=force)
    taken.add(file)
    return flow, path, action


def _file_for(lock: LockFile, flow: dict[str, Any], directory: Path, taken: set[str]) -> str:
    """The lock's file for this flow, else one named after it that no other flow has."""
    known = lock.file_of(flow["id"])
    if known:
        return known
    file = file_name_for(flow["name"], flow["id"])
    if file in taken or file in lock.entries or (directory / file).exists():
        file = file_name_for(f"{flow['name']}-{flow['id']}", flow["id"])
    return file


def _write_pulled(lock: LockFile, flow: dict[str, Any], path: Path, *, force: bool) -> str:
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
    unchanged = _holds(path, text)
    if not unchanged:
        write_file(path, text)
    lock.record(path.name, flow)
    return "unchanged" if unchanged else "written"


def _holds(path: Path, text: str) -> bool:
    """Whether the file exists and holds exactly `text`."""
    try:
        return path.read_text(encoding="utf-8") == text
    except (OSError, ValueError):
        return False
