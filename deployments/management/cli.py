"""What the deployments' management commands share: argument types, the actor, output lines.

Presentation only; the work is done by `deployments.services` and `deployments.maintenance`.
"""

from __future__ import annotations

import argparse
import getpass
import re
from datetime import timedelta

from deployments.models import Deployment
from scaiflow.core.errors import ApiError

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
DURATION_HELP = "a number and a unit: s, m, h, d or w (e.g. 30m, 24h, 7d, 90d)"


def parse_duration(text: str) -> timedelta:
    """`30m`, `24h`, `7d`, `90d`, `2w` (also `45s`) → a timedelta; ValueError otherwise."""
    match = _DURATION.match(text)
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"'{text}' is not a duration ({DURATION_HELP}, more than 0)")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def duration(text: str) -> timedelta:
    """`parse_duration` as an argparse type."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is less than 1")
    return value


def non_negative_int(text: str) -> int:
    """An argparse type: an integer of at least 0."""
    if text.strip() == "0":
        return 0
    return positive_int(text)


def cli_actor() -> str:
    """Who the records say did it: `cli:<the operating-system user>`."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}"


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def error_line(error: ApiError) -> str:
    """`error_code: message (deployment dep_…)`: what a failed command prints."""
    line = f"{error.code}: {one_line(error.message)}"
    messages = error.extra.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[0], dict):
        first = messages[0]
        where = f" at {first['node_id']}" if first.get("node_id") else ""
        line += f" ({len(messages)} diagnostics; first{where}: {one_line(first.get('message'))})"
    deployment_id = error.extra.get("deployment_id")
    if deployment_id:
        line += f" (deployment {deployment_id})"
    return line


def deployment_lines(deployment: Deployment) -> list[str]:
    """A deployment's result, one fact a line."""
    lines = [
        f"deployment {deployment.pk}: {deployment.status}",
        f"  flow:      {deployment.flow_name} v{deployment.flow_version}",
        f"  core_id:   {deployment.core_id or '-'}"
        + (f" ({deployment.core_action})" if deployment.core_action else ""),
        f"  published: {deployment.published_slug or '-'}",
        f"  auth:      {deployment.auth_source or '-'}",
    ]
    return lines
