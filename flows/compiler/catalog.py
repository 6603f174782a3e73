"""The plugin catalog: which plugins a `plugin` block may call, and their args.

The catalog ships with the package (`catalog.yaml` beside this module); an operator extends it
with a YAML file of the same shape (SCAIFLOW_PLUGIN_CATALOG), whose plugins are added to the
shipped ones or replace them by name. Reading those files is the only I/O of the compiler.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from .diagnostics import quote
from .values import is_whole_template

SHIPPED_CATALOG = Path(__file__).with_name("catalog.yaml")

ARG_TYPES = ("string", "integer", "number", "boolean", "object", "array", "any")

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class CatalogError(ValueError):
    """A catalog file that cannot be read or does not have the catalog's shape."""


@dataclass(frozen=True, slots=True)
class ArgSpec:
    """One argument of a plugin: its allowed types, whether it is required, allowed values."""

    name: str
    types: tuple[str, ...]
    required: bool
    enum: tuple[Any, ...] | None = None

    def problem(self, value: Any) -> str | None:
        """Why `value` does not fit this arg, or None when it does."""
        if is_whole_template(value):
            return None  # "{{node.field}}": its type is only known at run time
        if not any(_has_type(value, type_) for type_ in self.types):
            return f"must be {' or '.join(self.types)}"
        if self.enum is not None and value not in self.enum:
            return "must be one of " + ", ".join(str(choice) for choice in self.enum)
        return None


@dataclass(frozen=True, slots=True)
class PluginSpec:
    name: str
    description: str
    args: Mapping[str, ArgSpec]


@dataclass(frozen=True, slots=True)
class Catalog:
    """The plugins known to the compiler, by name."""

    plugins: Mapping[str, PluginSpec]

    def get(self, name: str) -> PluginSpec | None:
        return self.plugins.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self.plugins


def _has_type(value: Any, type_: str) -> bool:
    kind = type(value)
    if type_ == "string":
        return kind is str
    if type_ == "integer":
        return kind is int
    if type_ == "number":
        return kind is int or kind is float
    if type_ == "boolean":
        return kind is bool
    if type_ == "object":
        return isinstance(value, Mapping)
    if type_ == "array":
        return kind is list or kind is tuple
    return True  # any


def _parse_arg(plugin: str, name: Any, spec: Any, where: str) -> ArgSpec:
    if type(name) is not str or not name:
        raise CatalogError(f"{where}: plugin {plugin!r} has an arg whose name is not a string")
    if not isinstance(spec, dict):
        raise CatalogError(f"{where}: {plugin}.{name} must be a mapping with type and required")
    types = spec.get("type")
    types = [types] if isinstance(types, str) else types
    if not isinstance(types, list) or not types or any(t not in ARG_TYPES for t in types):
        raise CatalogError(f"{where}: {plugin}.{name} type must be one of {', '.join(ARG_TYPES)}")
    required = spec.get("required")
    if type(required) is not bool:
        raise CatalogError(f"{where}: {plugin}.{name} needs required: true or false")
    enum = spec.get("enum")
    if enum is not None and not isinstance(enum, list):
        raise CatalogError(f"{where}: {plugin}.{name} enum must be a list")
    return ArgSpec(name, tuple(types), required, tuple(enum) if enum is not None else None)


def parse_catalog(document: Any, where: str = "catalog") -> dict[str, PluginSpec]:
    """The plugins of one catalog document (already loaded from YAML)."""
    if not isinstance(document, dict) or not isinstance(document.get("plugins"), dict):
        raise CatalogError(f"{where}: expected a mapping with a 'plugins' mapping")
    plugins = {}
    for name, spec in document["plugins"].items():
        if type(name) is not str or not name:
            raise CatalogError(f"{where}: plugin names must be non-empty strings")
        if not isinstance(spec, dict):
            raise CatalogError(f"{where}: plugin {name!r} must be a mapping")
        args = spec.get("args", {})
        if not isinstance(args, dict):
            raise CatalogError(f"{where}: plugin {name!r} args must be a mapping")
        parsed = {arg: _parse_arg(name, arg, arg_spec, where) for arg, arg_spec in args.items()}
        description = spec.get("description", "")
        plugins[name] = PluginSpec(name, str(description), MappingProxyType(parsed))
    return plugins


def _read(path: Path) -> dict[str, PluginSpec]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"cannot read plugin catalog {path}: {exc}") from exc
    try:
        document = yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path}: not valid YAML: {exc}") from exc
    return parse_catalog(document, str(path))


@functools.lru_cache(maxsize=1)
def _shipped() -> Catalog:
    return Catalog(MappingProxyType(_read(SHIPPED_CATALOG)))


@functools.lru_cache(maxsize=8)
def _extended(path: str, _mtime_ns: int, _size: int) -> Catalog:
    plugins = dict(_shipped().plugins)
    plugins.update(_read(Path(path)))
    return Catalog(MappingProxyType(dict(sorted(plugins.items()))))


def load_catalog(extra_path: str | Path | None = None) -> Catalog:
    """The shipped catalog, extended (or overridden by name) by the operator's YAML file.

    Catalogs are cached; an operator file is read again when its modification time or size
    changes. Raises CatalogError when a file cannot be read or has the wrong shape.
    """
    if not extra_path:
        return _shipped()
    try:
        stat = Path(extra_path).stat()
    except OSError as exc:
        raise CatalogError(f"cannot read plugin catalog {extra_path}: {exc}") from exc
    return _extended(str(extra_path), stat.st_mtime_ns, stat.st_size)


def check_args(spec: PluginSpec, args: Mapping[str, Any]) -> list[tuple[str, str | None, str]]:
    """Problems of a plugin call's args: (code, arg name or None, message)."""
    problems: list[tuple[str, str | None, str]] = []
    for name, arg in spec.args.items():
        if arg.required and name not in args:
            problems.append(
                ("plugin_missing_arg", None, f"{spec.name} needs the arg {quote(name)}"),
            )
    for name, value in args.items():
        arg = spec.args.get(name)
        if arg is None:
            problems.append(("plugin_bad_arg", name, f"{spec.name} has no arg {quote(name)}"))
            continue
        problem = arg.problem(value)
        if problem:
            problems.append(("plugin_bad_arg", name, f"{spec.name} arg {quote(name)} {problem}"))
    return problems
