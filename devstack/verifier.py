"""ScaiGrid's manifest verifier, as far as a Core's shape goes (SPEC §6, "Manifest shape").

It checks what ScaiGrid refuses a Core for: the YAML parses to a mapping, `apiVersion` is
`scaicore/v1` and `kind` is `Core`, `spec.blocks` is a non-empty list of blocks with unique
string ids and kinds from the closed set, `spec.entry` (when given) names a block, and every
`next` (a string or a list of strings), `default` and branch-case `next` names a block that
exists. It reports every problem at once.
"""

from __future__ import annotations

from typing import Any

import yaml

API_VERSION = "scaicore/v1"
KIND = "Core"
BLOCK_KINDS = frozenset({"trigger", "llm", "plugin", "branch", "transform", "queue", "output"})


class VerifierError(Exception):
    """The manifest is not a Core ScaiGrid would run; `problems` says why."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("verifier error: " + "; ".join(problems))


def verify_manifest(body: bytes) -> dict[str, Any]:
    """The parsed manifest; raises `VerifierError` listing every problem."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise VerifierError([f"manifest is not UTF-8 ({exc.reason})"]) from exc
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise VerifierError([f"YAML does not parse: {_yaml_problem(exc)}"]) from exc
    if not isinstance(document, dict):
        raise VerifierError(["manifest must be a YAML mapping"])
    problems = _header_problems(document)
    spec = document.get("spec")
    if not isinstance(spec, dict):
        problems.append("spec is missing or not a mapping")
    else:
        problems.extend(_spec_problems(spec))
    if problems:
        raise VerifierError(problems)
    return document


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    return f"{problem} at line {mark.line + 1}" if mark is not None else problem


def _header_problems(document: dict[str, Any]) -> list[str]:
    problems = []
    if "apiVersion" not in document:
        problems.append("apiVersion is missing")
    elif document["apiVersion"] != API_VERSION:
        problems.append(f"apiVersion must be {API_VERSION!r}, not {document['apiVersion']!r}")
    if "kind" not in document:
        problems.append("kind is missing")
    elif document["kind"] != KIND:
        problems.append(f"kind must be {KIND!r}, not {document['kind']!r}")
    metadata = document.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        problems.append("metadata must be a mapping")
    return problems


def _spec_problems(spec: dict[str, Any]) -> list[str]:
    blocks = spec.get("blocks")
    if not isinstance(blocks, list) or not blocks:
        return ["spec.blocks is missing or empty"]
    problems: list[str] = []
    ids: set[str] = set()
    for index, block in enumerate(blocks):
        if not isinstance(block, dict):
            problems.append(f"spec.blocks[{index}] is not a mapping")
            continue
        block_id = block.get("id")
        if not isinstance(block_id, str) or not block_id:
            problems.append(f"spec.blocks[{index}] has no id")
        elif block_id in ids:
            problems.append(f"block id {block_id!r} is used twice")
        else:
            ids.add(block_id)
        if block.get("kind") not in BLOCK_KINDS:
            problems.append(f"block {block_id!r}: unknown kind {block.get('kind')!r}")
    entry = spec.get("entry")
    if entry is not None and entry not in ids:
        problems.append(f"spec.entry {entry!r} is not a block")
    for block in blocks:
        if isinstance(block, dict):
            problems.extend(_target_problems(block, ids))
    return problems


def _target_problems(block: dict[str, Any], ids: set[str]) -> list[str]:
    name = block.get("id")
    targets: list[tuple[str, Any]] = []
    next_ = block.get("next")
    if isinstance(next_, list):
        targets.extend(("next", target) for target in next_)
    elif next_ is not None:
        targets.append(("next", next_))
    if "default" in block:
        targets.append(("default", block["default"]))
    config = block.get("config")
    cases = config.get("cases") if isinstance(config, dict) else None
    if cases is not None and not isinstance(cases, list):
        return [f"block {name!r}: config.cases must be a list"]
    for index, case in enumerate(cases or []):
        if isinstance(case, dict) and "next" in case:
            targets.append((f"config.cases[{index}].next", case["next"]))
    return [
        f"block {name!r}: {field} target {target!r} does not exist"
        for field, target in targets
        if not isinstance(target, str) or target not in ids
    ]
