"""What stops a command: a failure with a stable code, a message, a fix and an exit status."""

from __future__ import annotations

from typing import Any

from scaiflow.cli.exits import exit_status_of


class ClientError(Exception):
    """A request (or a step before one) that did not succeed: the API's error detail and the
    exit status it means.

    `detail` has at least `error` and `message` (SPEC §2's `detail`), and `fix` when known;
    errors that never reached ScaiFlow get a code of the command's own (`unreachable`,
    `invalid_answer`, `redirected`, `unsafe_path`, …). `exit_status` follows from the status
    and the code unless given.
    """

    def __init__(
        self, status: int | None, detail: dict[str, Any], *, exit_status: int | None = None
    ) -> None:
        self.status = status
        self.detail = detail
        self.code = str(detail.get("error") or "error")
        self.exit_status = exit_status_of(status, self.code) if exit_status is None else exit_status
        super().__init__(f"{self.code}: {detail.get('message', '')}")

    @property
    def message(self) -> str:
        return str(self.detail.get("message") or "")

    @property
    def fix(self) -> str:
        return str(self.detail.get("fix") or "")


def local_failure(code: str, message: str, fix: str, exit_status: int) -> ClientError:
    """A failure found without ScaiFlow's say (a file that cannot be read, a refused path, …)."""
    return ClientError(
        None, {"error": code, "message": message, "fix": fix}, exit_status=exit_status
    )


class CommandFailed(Exception):
    """A local command (compile) that could not do its work: a one-line reason and the exit
    status; `code` names it in `--json` output."""

    def __init__(self, reason: str, status: int, code: str = "usage"):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.code = code
