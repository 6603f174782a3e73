"""What a command prints: a line per target, failures with their fix, or one JSON object.

Text that came from the server (messages, codes, ids) is made printable before it reaches a
terminal: a control character could rewrite the line above or forge one (`printable`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from scaiflow.cli.errors import ClientError, local_failure
from scaiflow.cli.exits import EXIT_OK, EXIT_USAGE

MAX_PRINTED = 2000  # characters of one server-given text
MAX_LINE = 20_000  # characters of one line of output


def printable(value: Any, limit: int = MAX_PRINTED) -> str:
    """`value` as text fit for one line of a terminal: control characters escaped, cut at
    `limit` characters."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        text = text[:limit] + "…"
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else f"\\x{ord(char):02x}" for char in text)


def format_diagnostic(label: str, message: Mapping[str, Any], *, with_node: bool = True) -> str:
    """A compile diagnostic (SPEC §6's JSON form) as `FILE:PATH: SEVERITY CODE: MESSAGE`, PATH
    empty for the whole document; ` (node ID)` follows when `with_node` and it names one."""
    path, node = message.get("path") or "", message.get("node_id")
    line = (
        f"{label}:{printable(path)}: {printable(message.get('severity'))} "
        f"{printable(message.get('code'))}: {printable(message.get('message'))}"
    )
    return f"{line} (node {printable(node)})" if with_node and node else line


@dataclass
class Run:
    """One command's results and where its output goes."""

    command: str
    as_json: bool
    stdout: IO[str] = field(default_factory=lambda: sys.stdout)
    stderr: IO[str] = field(default_factory=lambda: sys.stderr)
    exit_code: int = EXIT_OK
    # The token and what else must never be printed, even when a server echoes it back.
    secrets: tuple[str, ...] = field(default=(), repr=False)

    def _print(self, text: str, stream: IO[str]) -> None:
        for secret in self.secrets:
            text = text.replace(secret, "[token]")
        print(text, file=stream)

    def say(self, text: str) -> None:
        """Print lines for a human (none with `--json`), each made printable."""
        if not self.as_json:
            lines = (printable(line, MAX_LINE) for line in text.split("\n"))
            self._print("\n".join(lines), self.stdout)

    def failed(self, label: str, error: ClientError) -> dict[str, Any]:
        """Note a failure: its exit status counts when it is the first; the error for JSON."""
        if self.exit_code == EXIT_OK:
            self.exit_code = error.exit_status
        if not self.as_json:
            self._print_failure(label, error)
        return {"status": error.status, **error.detail}

    def _print_failure(self, label: str, error: ClientError) -> None:
        deployment = error.detail.get("deployment_id")
        where = f" (deployment {printable(deployment, 100)})" if deployment else ""
        head = f"{printable(error.code, 100)}: {printable(error.message)}"
        self._print(f"scaiflow: {printable(label, 200)}: {head}{where}", self.stderr)
        messages = error.detail.get("messages")
        for message in messages if isinstance(messages, list) else []:
            if isinstance(message, Mapping):
                self._print(f"  {format_diagnostic(label, message)}", self.stderr)
        if error.fix:
            self._print(f"  fix: {printable(error.fix)}", self.stderr)

    def give_up(self, label: str, error: ClientError | OSError) -> int:
        """Finish with one failure that stops the whole command (before any target)."""
        if isinstance(error, OSError):
            reason = f"cannot write {label}: {error.strerror or error}"
            error = local_failure("unwritable_directory", reason, "", EXIT_USAGE)
        return self.finish(error=self.failed(label, error))

    def finish(self, **document: Any) -> int:
        if self.as_json:
            body = {"command": self.command, "ok": self.exit_code == EXIT_OK}
            body.update(exit_code=self.exit_code, **document)
            text = json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False)
            if not _encodable(text):  # a lone surrogate from a `\ud800` escape in an answer
                text = json.dumps(body, indent=2, sort_keys=True)
            self._print(text, self.stdout)
        return self.exit_code


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
