"""Canonical JSON: one byte form for equal content, whoever computes it."""

from __future__ import annotations

import hashlib

import pytest

from flows.compiler import canonical_json
from scaiflow.cli.flowfiles import canonical_sha256


def test_keys_sorted_no_whitespace_utf8():
    assert canonical_json({"b": [1, 2], "a": "é"}) == '{"a":"é","b":[1,2]}'.encode()


def test_equal_content_in_another_order_is_equal_bytes():
    assert canonical_json({"x": {"b": 1, "a": 2}}) == canonical_json({"x": {"a": 2, "b": 1}})


@pytest.mark.parametrize("content", [{"x": float("nan")}, {"x": "\ud800"}, {"x": object()}])
def test_what_json_cannot_carry_raises(content):
    with pytest.raises((ValueError, TypeError)):
        canonical_json(content)


def test_the_command_hashes_as_the_server_stores():
    from flows.storage import encode_content

    content = {"name": "Ünïcode", "nodes": [], "edges": []}
    assert canonical_sha256(content) == encode_content(content).sha256
    assert encode_content(content).sha256 == hashlib.sha256(canonical_json(content)).hexdigest()
