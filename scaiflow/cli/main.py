"""The `scaiflow` command line (a console script of the package): its options and `main`.

`compile` works offline (`scaiflow.cli.compile`); `push`, `deploy`, `pull`, `status` and `diff`
talk to a running ScaiFlow over its REST API (`scaiflow.cli.remote`, `.pull`, `.diff`, through
`scaiflow.cli.client`); docs/ci.md describes them and their exit statuses (`exits`).

It needs no database and no Django settings. The environment is read once, here
(`Environment`): the server, the token, and the plugin catalog extending the compiler's
(`SCAIFLOW_PLUGIN_CATALOG`, the variable the server reads through its settings). Whatever
goes wrong, the user sees one line, never a traceback, and never the token.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

from scaiflow.cli import diff, pull, remote
from scaiflow.cli.client import DEFAULT_RETRIES, TOKEN_VARIABLE, URL_VARIABLE, Client
from scaiflow.cli.compile import add_compile_arguments, run_compile
from scaiflow.cli.errors import ClientError, CommandFailed, local_failure
from scaiflow.cli.exits import EXIT_AUTH, EXIT_STATUSES, EXIT_UNAVAILABLE, EXIT_USAGE
from scaiflow.cli.output import Run

CATALOG_VARIABLE = "SCAIFLOW_PLUGIN_CATALOG"


@dataclass(frozen=True)
class Environment:
    """What the command takes from its environment, read once."""

    url: str
    token: str
    catalog_path: str

    @classmethod
    def read(cls) -> Environment:
        return cls(
            url=os.environ.get(URL_VARIABLE, ""),
            token=os.environ.get(TOKEN_VARIABLE, ""),
            catalog_path=os.environ.get(CATALOG_VARIABLE, ""),
        )


Runner = Callable[[argparse.Namespace, Environment], int]
RemoteCommand = Callable[[Client, Run, argparse.Namespace, Environment], int]


def _client_options() -> argparse.ArgumentParser:
    """The options every REST subcommand takes."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url", help=f"ScaiFlow's base URL (default: ${URL_VARIABLE})", metavar="URL"
    )
    common.add_argument(
        "--token",
        metavar="TOKEN",
        help=f"a ScaiKey JWT or the shared token (default: ${TOKEN_VARIABLE}, which keeps it "
        "out of the process list)",
    )
    common.add_argument(
        "--json", action="store_true", help="print one JSON object (for scripts), nothing else"
    )
    common.add_argument(
        "--retries",
        type=_count,
        default=DEFAULT_RETRIES,
        metavar="N",
        help="retries of a read ScaiFlow refused with 503 or 429, and of any request that "
        f"could not connect (default {DEFAULT_RETRIES})",
    )
    return common


def _count(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 3):
        raise argparse.ArgumentTypeError("a whole number from 0")
    return int(raw)


def _integer(raw: str) -> int:
    """A whole number, negative ones included: the subcommand says what it accepts."""
    digits = raw.removeprefix("-")
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 6):
        raise argparse.ArgumentTypeError("a whole number")
    return int(raw)


def _is_base_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _client(options: argparse.Namespace, environment: Environment) -> Client:
    url = options.url or environment.url
    token = options.token or environment.token
    if not _is_base_url(url):
        raise local_failure(
            "no_url",
            f"no ScaiFlow URL: set {URL_VARIABLE} or pass --url (http:// or https://).",
            f"export {URL_VARIABLE}=https://scaiflow.example.com",
            EXIT_USAGE,
        )
    if not token:
        raise local_failure(
            "no_token",
            f"no credential: set {TOKEN_VARIABLE} (a ScaiKey JWT) or pass --token.",
            f"In CI, keep the token in a secret and expose it as {TOKEN_VARIABLE}.",
            EXIT_AUTH,
        )
    return Client(url, token, retries=options.retries)


def _remote(command: RemoteCommand) -> Runner:
    """A REST subcommand's runner: the client and the output, then `command`."""

    def run(options: argparse.Namespace, environment: Environment) -> int:
        output = Run(options.command, options.json, secrets=Parser.secrets)
        try:
            client = _client(options, environment)
        except ClientError as error:
            return output.finish(error=output.failed(options.command, error))
        return command(client, output, options, environment)

    return run


def _run_push(client: Client, output: Run, options: argparse.Namespace, _: Environment) -> int:
    return remote.push(client, output, options.files, force=options.force)


def _run_deploy(client: Client, output: Run, options: argparse.Namespace, _: Environment) -> int:
    if options.idempotency_key and len(options.targets) > 1:
        error = local_failure(
            "invalid_request",
            "--idempotency-key names one deploy: give one target with it.",
            "Run one `scaiflow deploy` per flow, each with its own key.",
            EXIT_USAGE,
        )
        return output.finish(error=output.failed("deploy", error))
    return remote.deploy(
        client,
        output,
        options.targets,
        force=options.force,
        publish=options.publish,
        group_ids=options.groups,
        idempotency_key=options.idempotency_key,
    )


def _run_pull(client: Client, output: Run, options: argparse.Namespace, _: Environment) -> int:
    if bool(options.flow_ids) == options.all:
        error = local_failure(
            "invalid_request",
            "name the flows to pull, or pass --all (not both).",
            "scaiflow pull flw_… [--dir D], or scaiflow pull --all [--dir D]",
            EXIT_USAGE,
        )
        return output.finish(error=output.failed("pull", error))
    return pull.pull(
        client,
        output,
        options.flow_ids,
        pull_all=options.all,
        directory=Path(options.dir),
        force=options.force,
    )


def _run_status(client: Client, output: Run, options: argparse.Namespace, _: Environment) -> int:
    return remote.status(client, output, options.target, limit=options.limit)


def _run_diff(client: Client, output: Run, options: argparse.Namespace, env: Environment) -> int:
    return diff.diff(client, output, options.file, catalog_path=env.catalog_path)


def _run_compile(options: argparse.Namespace, environment: Environment) -> int:
    return run_compile(options, catalog_path=environment.catalog_path)


def _add_remote_commands(commands: Any) -> None:
    common = _client_options()

    def add(name: str, summary: str, description: str, run: RemoteCommand) -> Any:
        parser = commands.add_parser(
            name,
            parents=[common],
            help=summary,
            description=f"{description} {EXIT_STATUSES}",
            allow_abbrev=False,  # `--tok` would be taken for --token
        )
        parser.set_defaults(run=_remote(run))
        return parser

    push = add(
        "push",
        "save flow files as flows (a new version when changed)",
        "Create each file's flow, or save its content as the flow's next version; the "
        ".scaiflow.json beside the files records which flow each file is.",
        _run_push,
    )
    push.add_argument("files", nargs="+", metavar="FILE")
    push.add_argument("--force", action="store_true", help="save over versions saved since")

    deploy = add(
        "deploy",
        "push if needed, then deploy",
        "Push each file when it changed, then deploy the flow (a FILE, or a flow id).",
        _run_deploy,
    )
    deploy.add_argument("targets", nargs="+", metavar="FILE|FLOW_ID")
    publish = deploy.add_mutually_exclusive_group()
    publish.add_argument("--publish", dest="publish", action="store_true", default=None)
    publish.add_argument("--no-publish", dest="publish", action="store_false")
    deploy.add_argument("--group", action="append", dest="groups", metavar="ID")
    deploy.add_argument("--idempotency-key", metavar="KEY")
    deploy.add_argument("--force", action="store_true", help="save over versions saved since")

    _add_read_commands(add)


def _add_read_commands(add: Callable[..., Any]) -> None:
    pull_parser = add(
        "pull",
        "write flows as files",
        "Write flows as files (keys sorted, 2-space JSON) and record them in .scaiflow.json; "
        "a file is never written outside --dir.",
        _run_pull,
    )
    pull_parser.add_argument("flow_ids", nargs="*", metavar="FLOW_ID")
    pull_parser.add_argument("--all", action="store_true", help="every flow of the tenant")
    pull_parser.add_argument("--dir", default=".", metavar="D", help="where to write (default: .)")
    pull_parser.add_argument("--force", action="store_true", help="overwrite changes never pushed")

    status = add(
        "status", "the latest deployments", "The latest deployments, newest first.", _run_status
    )
    status.add_argument("target", nargs="?", metavar="FILE|FLOW_ID")
    status.add_argument("--limit", type=_integer, default=10, metavar="N", help="1 or more; 10")

    diff_parser = add(
        "diff",
        "what push would change",
        "What push would change: the server's current version against the file.",
        _run_diff,
    )
    diff_parser.add_argument("file", metavar="FILE")


class Parser(argparse.ArgumentParser):
    """argparse, whose usage errors never echo a token given on the command line (an
    unknown option's error repeats the words that follow it)."""

    secrets: tuple[str, ...] = ()

    def error(self, message: str) -> NoReturn:
        for secret in self.secrets:
            message = message.replace(secret, "[token]")
        super().error(message)


def _command_line_secrets(argv: Sequence[str], token: str) -> tuple[str, ...]:
    """The token's value, and every word that follows (or is glued to) a `--t…` option."""
    found = {token}
    for before, word in zip(["", *argv], argv, strict=False):
        if before.startswith("--t"):
            found.add(word)
        if word.startswith("--t") and "=" in word:
            found.add(word.split("=", 1)[1])
    return tuple(sorted((secret for secret in found if secret), key=len, reverse=True))


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="scaiflow", description="ScaiFlow command line tools (no database needed)."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    compile_parser = commands.add_parser(
        "compile",
        help="compile a FlowGraph to a ScaiCore manifest",
        description="Compile a FlowGraph JSON file to its ScaiCore manifest. Exit status: "
        "0 compiled, 1 compile errors, 2 usage or unreadable file.",
    )
    add_compile_arguments(compile_parser)
    compile_parser.add_argument(
        "--json", action="store_true", help="print one JSON object (for scripts), nothing else"
    )
    compile_parser.set_defaults(run=_run_compile)
    _add_remote_commands(commands)
    return parser


def _last_resort(options: argparse.Namespace, exc: Exception) -> int:
    """What the user sees of a failure nothing else caught: one line (the exception's class,
    never its text, which may hold what a server sent), and exit 6."""
    error = local_failure(
        "internal_error",
        f"stopped by an unexpected {type(exc).__name__}: an answer the command does not "
        "understand, or a bug of the command. Nothing more was done.",
        "",
        EXIT_UNAVAILABLE,
    )
    print(f"scaiflow: {options.command}: internal_error: {error.message}", file=sys.stderr)
    if getattr(options, "json", False):
        run = Run(options.command, as_json=True)
        run.finish(error=run.failed(options.command, error))
    return EXIT_UNAVAILABLE


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    environment = Environment.read()
    Parser.secrets = _command_line_secrets(argv, environment.token)
    options = build_parser().parse_args(argv)  # a usage error exits with status 2
    try:
        return options.run(options, environment)
    except CommandFailed as failure:
        print(f"scaiflow: {failure.reason}", file=sys.stderr)
        return failure.status
    except Exception as exc:  # the last resort: no traceback reaches the user
        return _last_resort(options, exc)


if __name__ == "__main__":
    sys.exit(main())
