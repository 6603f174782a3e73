"""The content store, on local files and on a real S3-compatible server."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import storages

from flows.storage import (
    ContentNotEncodable,
    FlowContentCorrupt,
    FlowStorageError,
    content_delete,
    content_key,
    content_read,
    content_write,
    encode_content,
)
from tests.flows.conftest import SUPPORT_TRIAGE, s3_storage_config, unused_port


@pytest.fixture(params=["local", "s3"])
def backend(request) -> str:
    """Run the test once on local files and once on S3."""
    if request.param == "s3":
        request.getfixturevalue("s3_flow_storage")
    return request.param


def write(content: dict, *, number: int = 1, flow_id: str = "flw_test") -> tuple[str, str]:
    encoded = encode_content(content)
    key = content_write(tenant_slug="acme", flow_public_id=flow_id, number=number, encoded=encoded)
    return key, encoded.sha256


# --- Canonical JSON ----------------------------------------------------------------------------


def test_equal_content_encodes_to_equal_bytes_whatever_the_key_order():
    shuffled = json.loads(json.dumps(SUPPORT_TRIAGE))
    shuffled = {key: shuffled[key] for key in reversed(list(shuffled))}
    assert list(shuffled) != list(SUPPORT_TRIAGE)
    assert encode_content(shuffled) == encode_content(SUPPORT_TRIAGE)


def test_canonical_json_is_compact_sorted_utf8():
    encoded = encode_content({"b": 1, "a": {"é": [1, 2]}})
    assert encoded.data == '{"a":{"é":[1,2]},"b":1}'.encode()
    assert encoded.sha256 == hashlib.sha256(encoded.data).hexdigest()
    assert encoded.size == len(encoded.data)


def test_different_content_hashes_differently():
    assert encode_content({"a": 1}).sha256 != encode_content({"a": 2}).sha256


@pytest.mark.parametrize("content", [{"a": "\ud800"}, {"a": float("nan")}, {"a": object()}])
def test_content_json_cannot_carry_is_refused(content):
    with pytest.raises(ContentNotEncodable):
        encode_content(content)


def test_keys_never_repeat_and_name_tenant_flow_and_version():
    keys = {content_key(tenant_slug="acme", flow_public_id="flw_x", number=3) for _ in range(50)}
    assert len(keys) == 50
    key = keys.pop()
    assert key.startswith("acme/flw_x/v3-")
    assert key.endswith(".json")


# --- Both backends ----------------------------------------------------------------------------


def test_written_content_reads_back(backend):
    key, sha256 = write(SUPPORT_TRIAGE)
    assert content_read(key=key, sha256=sha256) == SUPPORT_TRIAGE


def test_two_writes_of_one_version_number_get_two_objects(backend):
    first, _ = write(SUPPORT_TRIAGE, number=2)
    second, _ = write({"other": True}, number=2)
    assert first != second
    assert content_read(key=first, sha256=encode_content(SUPPORT_TRIAGE).sha256) == SUPPORT_TRIAGE


def test_a_hash_mismatch_is_refused(backend):
    key, _ = write(SUPPORT_TRIAGE)
    with pytest.raises(FlowContentCorrupt):
        content_read(key=key, sha256=hashlib.sha256(b"something else").hexdigest())


def test_an_object_changed_behind_our_back_is_refused(backend):
    key, sha256 = write(SUPPORT_TRIAGE)
    storage = storages["flows"]
    storage.delete(key)
    storage.save(key, ContentFile(b'{"tampered":true}'))
    with pytest.raises(FlowContentCorrupt):
        content_read(key=key, sha256=sha256)


def test_a_missing_object_is_a_storage_error(backend):
    with pytest.raises(FlowStorageError):
        content_read(key="acme/flw_gone/v1-0.json", sha256="0" * 64)


def test_delete_removes_objects_and_ignores_missing_ones(backend):
    key, sha256 = write(SUPPORT_TRIAGE)
    content_delete(keys=[key, "acme/flw_gone/v1-0.json"])
    assert not storages["flows"].exists(key)
    with pytest.raises(FlowStorageError):
        content_read(key=key, sha256=sha256)


# --- Where the bytes land -------------------------------------------------------------------


def test_local_objects_are_files_under_the_storage_location(local_flow_files):
    key, _ = write(SUPPORT_TRIAGE)
    path = local_flow_files / key
    assert path.read_bytes() == encode_content(SUPPORT_TRIAGE).data


def test_s3_objects_land_in_the_bucket_under_the_prefix(s3_flow_storage):
    key, _ = write(SUPPORT_TRIAGE, flow_id="flw_s3")
    full_key = f"{s3_flow_storage.prefix}/{key}"
    assert s3_flow_storage.keys() == [full_key]
    assert s3_flow_storage.get(full_key) == encode_content(SUPPORT_TRIAGE).data


# --- An unreachable store ---------------------------------------------------------------------


@pytest.fixture
def unreachable_s3(settings, monkeypatch):
    """S3 configured at a port where nothing listens."""
    endpoint = f"http://127.0.0.1:{unused_port()}"
    config = s3_storage_config(monkeypatch, endpoint=endpoint, prefix="down")
    settings.STORAGES = {**settings.STORAGES, "flows": config}


def test_an_unreachable_s3_is_a_storage_error_on_write(unreachable_s3):
    with pytest.raises(FlowStorageError):
        write(SUPPORT_TRIAGE)


def test_an_unreachable_s3_is_a_storage_error_on_read(unreachable_s3):
    with pytest.raises(FlowStorageError):
        content_read(key="acme/flw_x/v1-0.json", sha256="0" * 64)


def test_a_failing_local_disk_is_a_storage_error(settings, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the storage directory should be")
    settings.STORAGES = {
        **settings.STORAGES,
        "flows": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": blocker},
        },
    }
    with pytest.raises(FlowStorageError):
        write(SUPPORT_TRIAGE)
