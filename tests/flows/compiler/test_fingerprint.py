"""compile_fingerprint: what a cached manifest must be keyed by besides the flow."""

from __future__ import annotations

from pathlib import Path

from flows import compiler
from flows.compiler import compile_fingerprint, load_catalog


def test_the_same_catalog_gives_the_same_fingerprint():
    assert compile_fingerprint(load_catalog()) == compile_fingerprint(load_catalog())


def test_a_catalog_with_other_plugins_gives_another(tmp_path):
    extra = tmp_path / "plugins.yaml"
    extra.write_text("plugins:\n  crm.lookup:\n    args: {}\n")
    first = compile_fingerprint(load_catalog(extra))
    assert first != compile_fingerprint(load_catalog())
    extra.write_text("plugins:\n  crm.lookup:\n    args: {id: {type: string, required: true}}\n")
    assert compile_fingerprint(load_catalog(extra)) != first


def test_the_compilers_source_is_part_of_it(monkeypatch):
    catalog = load_catalog()
    before = compile_fingerprint(catalog)
    monkeypatch.setattr(compiler, "_catalog_fingerprints", {})
    monkeypatch.setattr(compiler, "_code_fingerprint", lambda: "another release")
    assert compile_fingerprint(catalog) != before


def test_without_its_source_no_two_processes_share_a_fingerprint(monkeypatch):
    class NoSource(type(Path())):
        def glob(self, pattern):
            return iter(())

    compiler._code_fingerprint.cache_clear()
    monkeypatch.setattr(compiler, "Path", NoSource)
    try:
        first = compiler._code_fingerprint()
        compiler._code_fingerprint.cache_clear()
        assert compiler._code_fingerprint() != first
    finally:
        compiler._code_fingerprint.cache_clear()
