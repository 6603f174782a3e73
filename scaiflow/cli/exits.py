"""The `scaiflow` command's exit statuses: stable, documented in docs/ci.md, defined here only."""

from __future__ import annotations

EXIT_OK = 0
EXIT_COMPILE = 1  # the flow does not compile
EXIT_USAGE = 2  # a bad option, a file that cannot be read or written, a refused path
EXIT_CONFLICT = 3  # a version saved since, a deploy in progress, changes never pushed
EXIT_AUTH = 4  # authentication or permission
EXIT_UPSTREAM = 5  # an upstream of ScaiFlow failed (502)
EXIT_UNAVAILABLE = 6  # ScaiFlow unavailable, unreachable, redirecting or not answering as itself

DOCUMENTED = frozenset(range(EXIT_OK, EXIT_UNAVAILABLE + 1))

EXIT_STATUSES = (
    "Exit status: 0 ok, 1 the flow does not compile, 2 usage, 3 conflict or deploy in "
    "progress, 4 authentication or permission, 5 upstream failure, 6 ScaiFlow unavailable or "
    "unreachable."
)

# The codes of SPEC §2 / §4 that do not follow from the HTTP status alone.
_CODE_EXITS = {
    "compile_error": EXIT_COMPILE,
    "flow_too_large": EXIT_COMPILE,
    "version_conflict": EXIT_CONFLICT,
    "deploy_in_progress": EXIT_CONFLICT,
    "missing_scaigrid_credentials": EXIT_AUTH,
}


def exit_status_of(status: int | None, code: str | None) -> int:
    """The command's exit status for an API error answer (`status` None: no answer at all)."""
    if code in _CODE_EXITS:
        return _CODE_EXITS[code]
    if status is None or status in (429, 503) or (status >= 500 and status != 502):
        return EXIT_UNAVAILABLE
    if status == 502:
        return EXIT_UPSTREAM
    if status in (401, 403):
        return EXIT_AUTH
    if status in (409, 412):
        return EXIT_CONFLICT
    return EXIT_USAGE
