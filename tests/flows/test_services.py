"""The services and selectors directly: concurrent writers, failures half-way, tenant checks."""

from __future__ import annotations

import pytest
from django.db import IntegrityError

from flows import services
from flows.models import Flow, FlowVersion
from flows.selectors import (
    flow_content_read,
    flow_get,
    flow_version_content,
    flow_version_get,
    flow_versions,
    flows_for_tenant,
)
from flows.services import flow_create, flow_delete, flow_update
from scaiflow.core.errors import NotFound, VersionConflict
from tests.flows.conftest import SUPPORT_TRIAGE, graph_variant, stored_files

# --- Concurrent writers -----------------------------------------------------------------------


def test_a_writer_holding_a_stale_copy_builds_on_the_newer_version(make_flow):
    stale = make_flow()
    fresh = Flow.objects.get(pk=stale.pk)
    flow_update(flow=fresh, actor="scaikey:alice", content=graph_variant("alice"))
    result = flow_update(flow=stale, actor="scaikey:bob", content=graph_variant("bob"))
    assert result.version == 3
    assert [v.author for v in FlowVersion.objects.order_by("number")] == [
        "scaikey:alice",
        "scaikey:alice",
        "scaikey:bob",
    ]
    assert flow_content_read(tenant=stale.tenant, flow=result, number=2) == graph_variant("alice")
    assert flow_content_read(tenant=stale.tenant, flow=result) == graph_variant("bob")


def test_a_writer_with_if_match_on_a_stale_copy_gets_a_conflict(make_flow, local_flow_files):
    stale = make_flow()
    flow_update(flow=Flow.objects.get(pk=stale.pk), actor="a", content=graph_variant("first"))
    with pytest.raises(VersionConflict) as conflict:
        flow_update(flow=stale, actor="b", content=graph_variant("second"), if_match={1})
    assert conflict.value.extra == {"current_version": 2}
    assert Flow.objects.get(pk=stale.pk).version == 2
    assert len(stored_files(local_flow_files)) == 2


@pytest.fixture
def rival_commits_during_write(monkeypatch):
    """The first write of a new version is followed, before our conditional update, by a
    rival's save: the race the conditional update exists for."""
    real_write = services.content_write
    state = {"raced": False}

    def write_then_let_a_rival_in(**kwargs):
        key = real_write(**kwargs)
        if kwargs["number"] > 1 and not state["raced"]:
            state["raced"] = True
            rival = Flow.objects.get(public_id=kwargs["flow_public_id"])
            flow_update(flow=rival, actor="scaikey:rival", content=graph_variant("rival"))
        return key

    monkeypatch.setattr(services, "content_write", write_then_let_a_rival_in)
    return state


def test_losing_the_race_without_if_match_retries_on_top_of_the_winner(
    make_flow, rival_commits_during_write, local_flow_files
):
    flow = make_flow()
    result = flow_update(flow=flow, actor="scaikey:alice", content=graph_variant("alice"))
    assert rival_commits_during_write["raced"]
    assert result.version == 3
    versions = {v.number: v.author for v in FlowVersion.objects.filter(flow=flow)}
    assert versions == {1: "scaikey:alice", 2: "scaikey:rival", 3: "scaikey:alice"}
    assert flow_content_read(tenant=flow.tenant, flow=result, number=2) == graph_variant("rival")
    assert flow_content_read(tenant=flow.tenant, flow=result) == graph_variant("alice")
    # The object written for the lost attempt was removed: one object per version.
    assert len(stored_files(local_flow_files)) == 3


def test_losing_the_race_with_if_match_is_a_conflict_and_leaves_no_object(
    make_flow, rival_commits_during_write, local_flow_files
):
    flow = make_flow()
    with pytest.raises(VersionConflict):
        flow_update(flow=flow, actor="scaikey:alice", content=graph_variant("a"), if_match={1})
    assert Flow.objects.get(pk=flow.pk).version == 2
    assert FlowVersion.objects.filter(flow=flow).count() == 2
    assert len(stored_files(local_flow_files)) == 2


def test_a_flow_deleted_meanwhile_is_not_found(make_flow):
    flow = make_flow()
    Flow.objects.filter(pk=flow.pk).delete()
    with pytest.raises(NotFound):
        flow_update(flow=flow, actor="a", content=graph_variant("late"))
    flow_delete(flow=flow, actor="test")  # already gone: not an error


def test_an_update_that_changes_nothing_writes_nothing(make_flow, django_assert_num_queries):
    flow = make_flow(description="same")
    with django_assert_num_queries(1):  # reading the flow back, nothing else
        result = flow_update(
            flow=flow, actor="b", name=flow.name, description="same", content=SUPPORT_TRIAGE
        )
    assert (result.version, result.updated_by, result.updated_at) == (
        1,
        flow.updated_by,
        flow.updated_at,
    )


# --- Failures half-way --------------------------------------------------------------------------


def test_a_database_failure_after_the_write_removes_the_object(acme, monkeypatch, local_flow_files):
    def refuse(**kwargs):
        raise IntegrityError("simulated")

    monkeypatch.setattr(FlowVersion.objects, "create", refuse)
    with pytest.raises(IntegrityError):
        flow_create(tenant=acme, name="x", content=SUPPORT_TRIAGE, actor="a")
    assert not Flow.objects.exists()
    assert stored_files(local_flow_files) == []


def test_a_database_failure_during_an_update_removes_the_new_object(
    make_flow, monkeypatch, local_flow_files
):
    flow = make_flow()

    def refuse(**kwargs):
        raise IntegrityError("simulated")

    monkeypatch.setattr(FlowVersion.objects, "create", refuse)
    with pytest.raises(IntegrityError):
        flow_update(flow=flow, actor="a", content=graph_variant("x"))
    assert Flow.objects.get(pk=flow.pk).version == 1
    assert len(stored_files(local_flow_files)) == 1


def test_objects_are_removed_only_once_the_delete_commits(
    make_flow, local_flow_files, django_capture_on_commit_callbacks
):
    flow = make_flow()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        flow_delete(flow=flow, actor="test")
    assert len(stored_files(local_flow_files)) == 1
    for callback in callbacks:
        callback()
    assert stored_files(local_flow_files) == []


# --- Selectors are tenant-bound -------------------------------------------------------------


def test_selectors_never_answer_for_another_tenant(make_flow, globex):
    flow = make_flow()
    with pytest.raises(NotFound):
        flow_get(tenant=globex, flow_id=flow.public_id)
    with pytest.raises(NotFound):
        flow_versions(tenant=globex, flow=flow)
    with pytest.raises(NotFound):
        flow_version_get(tenant=globex, flow=flow, number=1)
    with pytest.raises(NotFound):
        flow_content_read(tenant=globex, flow=flow)
    assert list(flows_for_tenant(tenant=globex)) == []


def test_flow_version_content_reads_a_version_for_the_compiler_and_the_deploy(make_flow):
    flow = make_flow()
    flow_update(flow=flow, actor="b", content=graph_variant("2"))
    flow = flow_get(tenant=flow.tenant, flow_id=flow.public_id)
    current = flow_version_content(tenant=flow.tenant, flow=flow)
    assert (current.version.number, current.content) == (2, graph_variant("2"))
    first = flow_version_content(tenant=flow.tenant, flow=flow, number=1)
    assert (first.version.number, first.content) == (1, SUPPORT_TRIAGE)
