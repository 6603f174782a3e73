"""The `scaiflow` command line (a console script of the package).

`scaiflow compile FILE [--format yaml|ir] [-o OUT]` compiles a FlowGraph JSON file (`-` reads
standard input) and prints the manifest, or the IR as JSON. Diagnostics go to standard error
as `FILE:PATH: SEVERITY CODE: MESSAGE`. Exit status: 0 compiled (warnings allowed), 1 compile
errors, 2 usage error or a file that cannot be read or written.

`push`, `deploy`, `pull`, `status` and `diff` talk to a running ScaiFlow over its REST API
(`scaiflow.cli.remote`, through `scaiflow.cli.client`); docs/ci.md describes them and their exit
statuses.

It needs no database and no Django settings: the plugin catalog is extended by the file named
in the SCAIFLOW_PLUGIN_CATALOG environment variable, read here directly for that reason.
`python manage.py compile_flow` runs the same `compile_file`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, NoReturn

from flows.compiler import CatalogError, CompileResult, Diagnostic, compile_flow, load_catalog
from scaiflow.cli import diff as remote_diff
from scaiflow.cli import remote
from scaiflow.cli.client import (
    DEFAULT_RETRIES,
    EXIT_AUTH,
    TOKEN_VARIABLE,
    URL_VARIABLE,
    Client,
    ClientError,
)
from scaiflow.cli.flowfiles import local_failure
from scaiflow.cli.remote import Run

EXIT_OK = 0
EXIT_COMPILE_ERRORS = 1
EXIT_USAGE = 2

STDIN_NAME = "<stdin>"


class CommandFailed(Exception):
    """A command that could not do its work: a one-line reason and the exit status."""

    def __init__(self, reason: str, status: int, code: str = "usage"):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.code = code  # a stable name for it, in `--json` output


def format_diagnostic(file_label: str, diagnostic: Diagnostic) -> str:
    """`FILE:PATH: SEVERITY CODE: MESSAGE` (PATH is empty for the whole document)."""
    path = diagnostic.path or ""
    return f"{file_label}:{path}: {diagnostic.severity} {diagnostic.code}: {diagnostic.message}"


def _write(stream: IO[Any], text: str) -> None:
    """Write UTF-8 text whatever the stream's own encoding is (pipes under a C locale...)."""
    buffer = getattr(stream, "buffer", None)
    if buffer is None:
        stream.write(text)
        return
    stream.flush()
    buffer.write(text.encode("utf-8"))
    buffer.flush()


def compile_source(
    file: str, *, catalog_path: str | None, stdin: IO[Any]
) -> tuple[str, CompileResult]:
    """Read `file` (`-`: `stdin`) and compile it: its label and the result. Raises
    CommandFailed (status 2) for a catalog or a file that cannot be read."""
    try:
        catalog = load_catalog(catalog_path or None)
    except CatalogError as exc:
        raise CommandFailed(str(exc), EXIT_USAGE, "invalid_catalog") from exc
    label = STDIN_NAME if file == "-" else file
    try:
        source = getattr(stdin, "buffer", stdin).read() if file == "-" else Path(file).read_bytes()
    except OSError as exc:
        reason = f"cannot read {label}: {exc.strerror or exc}"
        raise CommandFailed(reason, EXIT_USAGE, "unreadable_file") from exc
    return label, compile_flow(source, catalog=catalog)


def _write_output(output: str, text: str) -> None:
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        reason = f"cannot write {output}: {exc.strerror or exc}"
        raise CommandFailed(reason, EXIT_USAGE, "unwritable_file") from exc


def compile_file(
    file: str,
    *,
    output_format: str = "yaml",
    output: str | None = None,
    catalog_path: str | None = None,
    stdin: IO[Any] | None = None,
    stdout: IO[Any] | None = None,
    stderr: IO[Any] | None = None,
) -> int:
    """Compile one FlowGraph file; diagnostics to `stderr`, the result to `stdout` or `output`.

    Returns 0 when it compiled; raises CommandFailed (status 1 or 2) otherwise.
    """
    stdin = stdin if stdin is not None else sys.stdin
    stdout = stdout if stdout is not None else sys.stdout
    stderr = stderr if stderr is not None else sys.stderr
    label, result = compile_source(file, catalog_path=catalog_path, stdin=stdin)
    if result.diagnostics:
        lines = "".join(format_diagnostic(label, item) + "\n" for item in result.diagnostics)
        _write(stderr, lines)
    if not result.ok:
        errors = sum(1 for item in result.diagnostics if item.is_error)
        noun = "error" if errors == 1 else "errors"
        raise CommandFailed(f"{label}: {errors} compile {noun}; nothing written", 1)
    text = result.manifest if output_format == "yaml" else result.ir_json()
    if output:
        _write_output(output, text)
    else:
        _write(stdout, text)
    return EXIT_OK


def compile_as_json(options: argparse.Namespace) -> int:
    """`compile --json`: the compile endpoint's body (`ok`, `messages`, `manifest`, `ir`) with
    `file`, as one JSON object; `-o` still writes the output."""
    run = Run("compile", as_json=True)
    catalog_path = os.environ.get("SCAIFLOW_PLUGIN_CATALOG", "")
    try:
        label, result = compile_source(options.file, catalog_path=catalog_path, stdin=sys.stdin)
        if result.ok and options.output:
            text = result.manifest if options.format == "yaml" else result.ir_json()
            _write_output(options.output, text)
    except CommandFailed as failure:
        error = local_failure(failure.code, failure.reason, "", failure.status)
        return run.finish(error=run.failed(options.file, error))
    run.exit_code = EXIT_OK if result.ok else EXIT_COMPILE_ERRORS
    return run.finish(file=label, **result.as_dict())


def add_compile_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `compile`, shared with `manage.py compile_flow`."""
    parser.add_argument("file", metavar="FILE", help="a FlowGraph JSON file; - reads stdin")
    parser.add_argument(
        "--format",
        choices=("yaml", "ir"),
        default="yaml",
        help="print the ScaiCore manifest (yaml, the default) or the compiler's IR as JSON",
    )
    parser.add_argument("-o", "--output", metavar="OUT", help="write to OUT instead of stdout")


def _run_compile(options: argparse.Namespace) -> int:
    if options.json:
        return compile_as_json(options)
    return compile_file(
        options.file,
        output_format=options.format,
        output=options.output,
        catalog_path=os.environ.get("SCAIFLOW_PLUGIN_CATALOG", ""),
    )


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
        help="retries of a request ScaiFlow refused with 503 or 429, or that could not "
        f"connect (default {DEFAULT_RETRIES})",
    )
    return common


def _count(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 3):
        raise argparse.ArgumentTypeError("a whole number from 0")
    return int(raw)


def _client(options: argparse.Namespace) -> Client:
    url = options.url or os.environ.get(URL_VARIABLE, "")
    token = options.token or os.environ.get(TOKEN_VARIABLE, "")
    if not url.startswith(("http://", "https://")):
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


def _remote(command: Callable[..., int]) -> Callable[[argparse.Namespace], int]:
    """A REST subcommand's runner: the client and the output, then `command`."""

    def run(options: argparse.Namespace) -> int:
        output = Run(options.command, options.json)
        try:
            client = _client(options)
        except ClientError as error:
            return output.finish(error=output.failed(options.command, error))
        return command(client, output, options)

    return run


def _add_remote_commands(commands: Any) -> None:
    common = _client_options()

    def add(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            parents=[common],
            help=summary,
            description=f"{description} {EXIT_STATUSES}",
            allow_abbrev=False,  # `--tok` would be taken for --token
        )

    push = add(
        "push",
        "save flow files as flows (a new version when changed)",
        "Create each file's flow, or save its content as the flow's next version; the "
        ".scaiflow.json beside the files records which flow each file is.",
    )
    push.add_argument("files", nargs="+", metavar="FILE")
    push.add_argument("--force", action="store_true", help="save over versions saved since")
    push.set_defaults(run=_remote(lambda c, out, o: remote.push(c, out, o.files, force=o.force)))

    deploy = add(
        "deploy",
        "push if needed, then deploy",
        "Push each file when it changed, then deploy the flow (a FILE, or a flow id).",
    )
    deploy.add_argument("targets", nargs="+", metavar="FILE|FLOW_ID")
    publish = deploy.add_mutually_exclusive_group()
    publish.add_argument("--publish", dest="publish", action="store_true", default=None)
    publish.add_argument("--no-publish", dest="publish", action="store_false")
    deploy.add_argument("--group", action="append", dest="groups", metavar="ID")
    deploy.add_argument("--idempotency-key", metavar="KEY")
    deploy.add_argument("--force", action="store_true", help="save over versions saved since")
    deploy.set_defaults(run=_remote(_run_deploy))

    pull = add(
        "pull",
        "write flows as files",
        "Write flows as files (keys sorted, 2-space JSON) and record them in .scaiflow.json.",
    )
    pull.add_argument("flow_ids", nargs="*", metavar="FLOW_ID")
    pull.add_argument("--all", action="store_true", help="every flow of the tenant")
    pull.add_argument("--dir", default=".", metavar="D", help="where to write (default: .)")
    pull.add_argument("--force", action="store_true", help="overwrite changes never pushed")
    pull.set_defaults(run=_remote(_run_pull))

    status = add("status", "the latest deployments", "The latest deployments, newest first.")
    status.add_argument("target", nargs="?", metavar="FILE|FLOW_ID")
    status.add_argument("--limit", type=_count, default=10, metavar="N", help="default 10")
    status.set_defaults(
        run=_remote(lambda c, out, o: remote.status(c, out, o.target, limit=o.limit))
    )

    diff = add(
        "diff",
        "what push would change",
        "What push would change: the server's current version against the file.",
    )
    diff.add_argument("file", metavar="FILE")
    diff.set_defaults(
        run=_remote(
            lambda c, out, o: remote_diff.diff(
                c, out, o.file, catalog_path=os.environ.get("SCAIFLOW_PLUGIN_CATALOG", "")
            )
        )
    )


def _run_deploy(client: Client, output: Run, options: argparse.Namespace) -> int:
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


def _run_pull(client: Client, output: Run, options: argparse.Namespace) -> int:
    if bool(options.flow_ids) == options.all:
        error = local_failure(
            "invalid_request",
            "name the flows to pull, or pass --all (not both).",
            "scaiflow pull flw_… [--dir D], or scaiflow pull --all [--dir D]",
            EXIT_USAGE,
        )
        return output.finish(error=output.failed("pull", error))
    return remote.pull(
        client,
        output,
        options.flow_ids,
        pull_all=options.all,
        directory=Path(options.dir),
        force=options.force,
    )


EXIT_STATUSES = (
    "Exit status: 0 ok, 1 the flow does not compile, 2 usage, 3 conflict or deploy in "
    "progress, 4 authentication or permission, 5 upstream failure, 6 ScaiFlow unavailable or "
    "unreachable."
)


class Parser(argparse.ArgumentParser):
    """argparse, whose usage errors never echo a token given on the command line (an
    unknown option's error repeats the words that follow it)."""

    secrets: tuple[str, ...] = ()

    def error(self, message: str) -> NoReturn:
        for secret in self.secrets:
            message = message.replace(secret, "[token]")
        super().error(message)


def _command_line_secrets(argv: Sequence[str]) -> tuple[str, ...]:
    """The token's value, and every word that follows (or is glued to) a `--t…` option."""
    found = {os.environ.get(TOKEN_VARIABLE, "")}
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


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    Parser.secrets = _command_line_secrets(argv)
    options = build_parser().parse_args(argv)  # a usage error exits with status 2
    try:
        return options.run(options)
    except CommandFailed as failure:
        print(f"scaiflow: {failure.reason}", file=sys.stderr)
        return failure.status


if __name__ == "__main__":
    sys.exit(main())
