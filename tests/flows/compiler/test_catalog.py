"""The plugin catalog: shipped with the package, extended by an operator's YAML file."""

from __future__ import annotations

import pytest

from flows.compiler import CatalogError, load_catalog
from flows.compiler.catalog import ARG_TYPES, check_args


def test_shipped_catalog_has_the_required_plugins():
    catalog = load_catalog()
    for name in ("http.request", "email.send", "kv.get", "kv.set", "scaigrid.search"):
        spec = catalog.get(name)
        assert spec is not None and spec.args
        for arg in spec.args.values():
            assert type(arg.required) is bool
            assert arg.types and set(arg.types) <= set(ARG_TYPES)
    assert catalog.get("http.request").args["url"].required


def test_extra_catalog_adds_and_replaces_plugins(tmp_path):
    extra = tmp_path / "extra.yaml"
    extra.write_text(
        "plugins:\n"
        "  acme.crm.lookup:\n"
        "    args:\n"
        "      customer_id: {type: string, required: true}\n"
        "  kv.get:\n"
        "    args:\n"
        "      key: {type: [string, integer], required: true}\n"
    )
    catalog = load_catalog(str(extra))
    assert "acme.crm.lookup" in catalog and "http.request" in catalog
    assert catalog.get("kv.get").args["key"].types == ("string", "integer")
    assert "acme.crm.lookup" not in load_catalog()


@pytest.mark.parametrize(
    "text",
    [
        "plugins: []",
        "not a mapping",
        "plugins:\n  x: 5\n",
        "plugins:\n  x:\n    args:\n      a: {type: text, required: true}\n",
        "plugins:\n  x:\n    args:\n      a: {type: string}\n",
        "plugins:\n  x:\n    args:\n      a: {type: string, required: true, enum: 3}\n",
        "plugins: {x: [unclosed",
    ],
)
def test_bad_catalog_files_raise_catalog_error(tmp_path, text):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(CatalogError):
        load_catalog(str(path))


def test_missing_catalog_file_raises_catalog_error(tmp_path):
    with pytest.raises(CatalogError):
        load_catalog(str(tmp_path / "missing.yaml"))


def test_arg_checks():
    spec = load_catalog().get("http.request")
    assert check_args(spec, {"url": "https://x", "method": "GET"}) == []
    problems = check_args(spec, {"method": "FETCH", "timeout_seconds": True, "extra": 1})
    assert sorted(code for code, _arg, _message in problems) == [
        "plugin_bad_arg",
        "plugin_bad_arg",
        "plugin_bad_arg",
        "plugin_missing_arg",
    ]
    assert check_args(spec, {"url": "{{a.b}}", "timeout_seconds": "{{a.t}}"}) == []


def test_operator_catalog_is_cached_until_the_file_changes(tmp_path):
    path = tmp_path / "extra.yaml"
    path.write_text("plugins:\n  a.one: {}\n")
    first = load_catalog(str(path))
    assert load_catalog(str(path)) is first
    path.write_text("plugins:\n  a.one: {}\n  a.two: {}\n")
    assert "a.two" in load_catalog(str(path))
