"""`scaiflow diff FILE`: what `push` would change, from the server's current version to the file.

The answer has the shape of the API's version diff (`flows.graphdiff`, the same code), plus
`file`, `flow_id`, `changed` and `conflict`; both sides are compiled here, with the same plugin
catalog, for `compiles` and `manifest_diff`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flows.compiler import CatalogError, compile_flow, load_catalog
from flows.graphdiff import content_diff, manifest_diff
from scaiflow.cli.client import Client
from scaiflow.cli.errors import ClientError, local_failure
from scaiflow.cli.exits import EXIT_USAGE
from scaiflow.cli.flowfiles import Locks, read_flow_file
from scaiflow.cli.output import Run


def diff(client: Client, run: Run, file: str, *, catalog_path: str) -> int:
    """What `push FILE` would change: the version diff, from the server's current version to
    the file (both compiled here, with the same catalog, for the manifest diff)."""
    path = Path(file)
    try:
        flow_file = read_flow_file(path)
        entry = Locks().of(path).entry_for(flow_file)
        current = client.flow(entry.id).body if entry else None
        catalog = load_catalog(catalog_path or None)
    except CatalogError as exc:
        return run.give_up(file, local_failure("invalid_catalog", str(exc), "", EXIT_USAGE))
    except ClientError as error:
        return run.give_up(file, error)
    before = current["content"] if current else {}
    compiled = [compile_flow(content, catalog=catalog) for content in (before, flow_file.content)]
    from_label = f"{current['id']} v{current['version']}" if current else "(no flow)"
    body = {
        "file": file,
        "flow_id": current and current["id"],
        "from_version": current and current["version"],
        "changed": not current or current["content_sha256"] != flow_file.sha256,
        "conflict": bool(current and entry and current["version"] != entry.version),
        **content_diff(before, flow_file.content),
        "compiles": {"from": compiled[0].ok if current else None, "to": compiled[1].ok},
        "manifest_diff": manifest_diff(
            compiled[0].manifest if current else "",
            compiled[1].manifest,
            labels=(from_label, file),
        ),
    }
    _say_diff(run.say, body, from_label)
    return run.finish(**body)


def _say_diff(say: Callable[[str], None], body: dict[str, Any], from_label: str) -> None:
    file = body["file"]
    if body["flow_id"] is None:
        say(f"{file}: not pushed yet; push creates a new flow")
    elif not body["changed"]:
        say(f"{file}: no changes against {from_label}")
        return
    else:
        say(f"{file} against {from_label}:")
    if body["conflict"]:
        say("  someone saved a version since the last push: push is a conflict")
    nodes, edges, config = body["nodes"], body["edges"], body["config"]
    lines = [
        ("nodes added", nodes["added"]),
        ("nodes removed", nodes["removed"]),
        ("nodes changed", [_node_change(change) for change in nodes["changed"]]),
        ("nodes moved", nodes["moved"]),
        ("edges added", [_edge(edge) for edge in edges["added"]]),
        ("edges removed", [_edge(edge) for edge in edges["removed"]]),
        ("config added", config["added"]),
        ("config removed", config["removed"]),
        ("config changed", config["changed"]),
    ]
    for label, items in lines:
        if items:
            say(f"  {label}: {', '.join(items)}")
    compiles = body["compiles"]
    if compiles["from"] is not None and compiles["from"] != compiles["to"]:
        yes_no = {True: "yes", False: "no"}
        say(f"  compiles: {yes_no[compiles['from']]} -> {yes_no[compiles['to']]}")
    if body["manifest_diff"]:
        say(body["manifest_diff"].rstrip("\n"))
    elif not compiles["to"]:
        say(f"  the file does not compile: `scaiflow compile {file}` says why")


def _node_change(change: dict[str, Any]) -> str:
    parts = [f"data {'/'.join(change['data_fields'])}"] if change["data_fields"] else []
    if "kind" in change:
        parts.append(f"kind {change['kind']['from']} -> {change['kind']['to']}")
    return f"{change['id']} ({'; '.join(parts)})"


def _edge(edge: dict[str, Any]) -> str:
    handle = f"[{edge['source_handle']}]" if edge["source_handle"] else ""
    return f"{edge['source']}{handle} -> {edge['target']}"
