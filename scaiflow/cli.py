"""The `scaiflow` command line (a console script of the package).

`scaiflow compile FILE [--format yaml|ir] [-o OUT]` compiles a FlowGraph JSON file (`-` reads
standard input) and prints the manifest, or the IR as JSON. Diagnostics go to standard error
as `FILE:PATH: SEVERITY CODE: MESSAGE`. Exit status: 0 compiled (warnings allowed), 1 compile
errors, 2 usage error or a file that cannot be read or written.

It needs no database and no Django settings: the plugin catalog is extended by the file named
in the SCAIFLOW_PLUGIN_CATALOG environment variable, read here directly for that reason.
`python manage.py compile_flow` runs the same `compile_file`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from flows.compiler import CatalogError, Diagnostic, compile_flow, load_catalog

EXIT_OK = 0
EXIT_COMPILE_ERRORS = 1
EXIT_USAGE = 2

STDIN_NAME = "<stdin>"


class CommandFailed(Exception):
    """A command that could not do its work: a one-line reason and the exit status."""

    def __init__(self, reason: str, status: int):
        super().__init__(reason)
        self.reason = reason
        self.status = status


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
    try:
        catalog = load_catalog(catalog_path or None)
    except CatalogError as exc:
        raise CommandFailed(str(exc), EXIT_USAGE) from exc
    label = STDIN_NAME if file == "-" else file
    try:
        source = getattr(stdin, "buffer", stdin).read() if file == "-" else Path(file).read_bytes()
    except OSError as exc:
        raise CommandFailed(f"cannot read {label}: {exc.strerror or exc}", EXIT_USAGE) from exc
    result = compile_flow(source, catalog=catalog)
    if result.diagnostics:
        lines = "".join(format_diagnostic(label, item) + "\n" for item in result.diagnostics)
        _write(stderr, lines)
    if not result.ok:
        errors = sum(1 for item in result.diagnostics if item.is_error)
        noun = "error" if errors == 1 else "errors"
        raise CommandFailed(f"{label}: {errors} compile {noun}; nothing written", 1)
    text = result.manifest if output_format == "yaml" else result.ir_json()
    if output:
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            reason = f"cannot write {output}: {exc.strerror or exc}"
            raise CommandFailed(reason, EXIT_USAGE) from exc
    else:
        _write(stdout, text)
    return EXIT_OK


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
    return compile_file(
        options.file,
        output_format=options.format,
        output=options.output,
        catalog_path=os.environ.get("SCAIFLOW_PLUGIN_CATALOG", ""),
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    compile_parser.set_defaults(run=_run_compile)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    options = build_parser().parse_args(argv)  # a usage error exits with status 2
    try:
        return options.run(options)
    except CommandFailed as failure:
        print(f"scaiflow: {failure.reason}", file=sys.stderr)
        return failure.status


if __name__ == "__main__":
    sys.exit(main())
