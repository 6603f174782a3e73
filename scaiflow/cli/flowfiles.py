"""Flow files in a working tree and the `.scaiflow.json` lock file beside them.

A flow file holds a FlowGraph as JSON. The lock file, in the same directory, maps each file's
name to the flow it is (`id`), the version last pushed or pulled and that version's
content hash, so that a push knows which flow to save a version of (a rename does not make a
new flow) and whether someone else saved one since. It is meant to be committed.

Content is compared as ScaiFlow compares it: by the SHA-256 of its canonical JSON (keys sorted,
no whitespace, UTF-8), so a file reformatted or with its keys in another order is unchanged.
Nothing here needs Django.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from flows.compiler import canonical_json
from scaiflow.cli.answers import FLOW_ID
from scaiflow.cli.errors import ClientError, local_failure
from scaiflow.cli.exits import EXIT_COMPILE, EXIT_USAGE
from scaiflow.cli.output import printable

LOCK_NAME = ".scaiflow.json"
LOCK_FORMAT = 1
FLOW_SUFFIX = ".flow.json"


def canonical_sha256(content: Any) -> str:
    """The hash ScaiFlow gives this content (`content_sha256`)."""
    return hashlib.sha256(canonical_json(content)).hexdigest()


def pretty_json(content: Any) -> str:
    """How flow files are written: keys sorted, 2-space indent, a trailing newline."""
    return json.dumps(content, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class FlowFile:
    path: Path
    content: dict[str, Any]
    sha256: str

    @property
    def name(self) -> str:
        """The flow's name: the FlowGraph's `name`, else the file name without its suffix."""
        name = self.content.get("name")
        if isinstance(name, str) and name.strip():
            return name.strip()[:200]
        return self.path.name.removesuffix(FLOW_SUFFIX).removesuffix(".json")


def read_flow_file(path: Path) -> FlowFile:
    """The file's FlowGraph; raises ClientError (exit 2 unreadable, 1 not a JSON object)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise local_failure(
            "unreadable_file",
            f"cannot read {path}: {exc.strerror or exc}",
            "Name a flow file that exists, or a flow id (flw_…).",
            EXIT_USAGE,
        ) from exc
    try:
        content = json.loads(raw)
        sha = canonical_sha256(content)
    except (ValueError, RecursionError) as exc:
        raise local_failure(
            "invalid_json",
            f"{path} is not JSON: {exc}",
            f"Fix the file; `scaiflow compile {path}` shows every problem.",
            EXIT_COMPILE,
        ) from exc
    if not isinstance(content, dict):
        raise local_failure(
            "invalid_schema",
            f"{path} holds JSON but not an object: a FlowGraph is a JSON object.",
            f"`scaiflow compile {path}` shows every problem.",
            EXIT_COMPILE,
        )
    return FlowFile(path=path, content=content, sha256=sha)


def write_file(path: Path, text: str) -> None:
    """Replace the file at once (a temporary file beside it, renamed): never half written.
    Raises ClientError (exit 2) when it cannot be written."""
    temporary = None
    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".scaiflow-")
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(temporary, 0o666 & ~_umask())  # as a plain open() would (mkstemp: 0600)
        os.replace(temporary, path)
    except OSError as exc:
        if temporary:
            Path(temporary).unlink(missing_ok=True)
        raise local_failure(
            "unwritable_file",
            f"cannot write {path}: {exc.strerror or exc}",
            "Run the command where it may write its files and .scaiflow.json.",
            EXIT_USAGE,
        ) from exc


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def file_name_for(name: str, flow_id: str) -> str:
    """A file name for a pulled flow, made only of `[a-z0-9-]`: its name in lowercase words
    joined by hyphens, else its id when that is a flow id. Raises ClientError (exit 2) when
    neither gives one: a name or an id from the server never becomes a path."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:80].strip("-")
    if slug:
        return f"{slug}{FLOW_SUFFIX}"
    if FLOW_ID.fullmatch(flow_id):
        return f"{flow_id}{FLOW_SUFFIX}"
    raise unsafe_path(flow_id, "its name gives no file name and its id is no flow id")


def unsafe_path(subject: str, why: str) -> ClientError:
    """The refusal to write (or read) a file outside the directory a command works in."""
    return local_failure(
        "unsafe_path",
        f"refused to write a file for {printable(subject, 120)}: {why}.",
        "",
        EXIT_USAGE,
    )


def is_plain_file_name(name: str) -> bool:
    """A name of a file in a directory itself: not `.` or `..`, no separator, no NUL."""
    return (
        bool(name)
        and len(name) <= 255
        and name not in (".", "..")
        and not any(char in name for char in "/\\\0")
        and name.isprintable()
    )


def path_inside(directory: Path, name: str, *, subject: str) -> Path:
    """`directory / name`, when `name` is a plain file name and the path, resolved (symbolic
    links followed), is in `directory` itself. Raises ClientError (exit 2) otherwise."""
    if not is_plain_file_name(name):
        raise unsafe_path(subject, f"{printable(name, 120)!r} is not a plain file name")
    path = directory / name
    if path.resolve().parent != directory.resolve():
        raise unsafe_path(subject, f"{path} leads outside {directory}")
    return path


@dataclass
class Entry:
    """What the lock knows of one file: its flow, and the version of it last pushed or pulled."""

    id: str
    version: int
    content_sha256: str
    name: str = ""


class LockFile:
    """`.scaiflow.json` of one directory: file name → Entry. Written atomically, sorted."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / LOCK_NAME
        self.entries: dict[str, Entry] = {}
        self.changed = False  # entries changed since read, not yet saved
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            self.entries = {
                file: Entry(
                    id=str(item["id"]),
                    version=int(item["version"]),
                    content_sha256=str(item["content_sha256"]),
                    name=str(item.get("name", "")),
                )
                for file, item in data["flows"].items()
            }
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise self._invalid(f"{self.path} is not a lock file ScaiFlow wrote: {exc!r}") from exc
        for file in self.entries:
            if not is_plain_file_name(file) or (
                (self.directory / file).resolve().parent != self.directory.resolve()
            ):
                where = printable(file, 120)
                raise self._invalid(f"{self.path} names {where!r}, a file outside its directory")

    @staticmethod
    def _invalid(message: str) -> ClientError:
        return local_failure(
            "invalid_lock_file",
            message,
            "Restore it from git, or remove it (the next push then creates new flows).",
            EXIT_USAGE,
        )

    def record(self, file: str, flow: dict[str, Any]) -> Entry:
        """Tie `file` to the flow as the API answered it (its current version), and save."""
        entry = Entry(
            id=flow["id"],
            version=flow["version"],
            content_sha256=flow["content_sha256"],
            name=flow["name"],
        )
        self.entries[file] = entry
        self.save()
        return entry

    def save(self) -> None:
        data = {
            "format": LOCK_FORMAT,
            "flows": {file: asdict(entry) for file, entry in sorted(self.entries.items())},
        }
        write_file(self.path, pretty_json(data))
        self.changed = False

    def file_of(self, flow_id: str) -> str | None:
        """The file name the lock ties to `flow_id`, if any."""
        for file, entry in self.entries.items():
            if entry.id == flow_id:
                return file
        return None

    def entry_for(self, flow_file: FlowFile) -> Entry | None:
        """The file's entry; for a file the lock does not know, the entry of a file that is
        gone and was this one (a rename): same content, else the only one of the same name."""
        entry = self.entries.get(flow_file.path.name)
        if entry is not None:
            return entry
        gone = {
            file: item
            for file, item in self.entries.items()
            if not (self.directory / file).exists()
        }
        same = [f for f, item in gone.items() if item.content_sha256 == flow_file.sha256]
        if not same:
            same = [f for f, item in gone.items() if item.name and item.name == flow_file.name]
        if len(same) != 1:
            return None
        entry = self.entries.pop(same[0])
        self.entries[flow_file.path.name] = entry
        self.changed = True
        return entry


class Locks:
    """The lock files of the directories a command touches, each read once."""

    def __init__(self) -> None:
        self._by_directory: dict[Path, LockFile] = {}

    def of(self, path: Path) -> LockFile:
        directory = path.resolve().parent
        if directory not in self._by_directory:
            self._by_directory[directory] = LockFile(directory)
        return self._by_directory[directory]

    def of_directory(self, directory: Path) -> LockFile:
        return self.of(directory / LOCK_NAME)
