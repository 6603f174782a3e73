"""`scaiflow compile FILE [--format yaml|ir] [-o OUT] [--json]`: a FlowGraph compiled locally.

It prints the manifest, or the IR as JSON; diagnostics go to standard error as
`FILE:PATH: SEVERITY CODE: MESSAGE`. Exit status: 0 compiled (warnings allowed), 1 compile
errors, 2 usage error or a file that cannot be read or written. No server, no database:
`python manage.py compile_flow` runs the same `compile_file`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import IO, Any

from flows.compiler import CatalogError, CompileResult, compile_flow, load_catalog
from scaiflow.cli.errors import CommandFailed, local_failure
from scaiflow.cli.exits import EXIT_COMPILE, EXIT_OK, EXIT_USAGE
from scaiflow.cli.output import Run, format_diagnostic

STDIN_NAME = "<stdin>"


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
        lines = "".join(
            format_diagnostic(label, item.as_dict(), with_node=False) + "\n"
            for item in result.diagnostics
        )
        _write(stderr, lines)
    if not result.ok:
        errors = sum(1 for item in result.diagnostics if item.is_error)
        noun = "error" if errors == 1 else "errors"
        raise CommandFailed(f"{label}: {errors} compile {noun}; nothing written", EXIT_COMPILE)
    text = result.manifest if output_format == "yaml" else result.ir_json()
    if output:
        _write_output(output, text)
    else:
        _write(stdout, text)
    return EXIT_OK


def compile_as_json(options: argparse.Namespace, *, catalog_path: str) -> int:
    """`compile --json`: the compile endpoint's body (`ok`, `messages`, `manifest`, `ir`) with
    `file`, as one JSON object; `-o` still writes the output."""
    run = Run("compile", as_json=True)
    try:
        label, result = compile_source(options.file, catalog_path=catalog_path, stdin=sys.stdin)
        if result.ok and options.output:
            text = result.manifest if options.format == "yaml" else result.ir_json()
            _write_output(options.output, text)
    except CommandFailed as failure:
        error = local_failure(failure.code, failure.reason, "", failure.status)
        return run.finish(error=run.failed(options.file, error))
    run.exit_code = EXIT_OK if result.ok else EXIT_COMPILE
    return run.finish(file=label, **result.as_dict())


def run_compile(options: argparse.Namespace, *, catalog_path: str) -> int:
    """The `compile` subcommand, with the plugin catalog the command was given."""
    if options.json:
        return compile_as_json(options, catalog_path=catalog_path)
    return compile_file(
        options.file,
        output_format=options.format,
        output=options.output,
        catalog_path=catalog_path,
    )


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
