"""The operator commands (SPEC §8) at the HTTP seam: output, exit codes, keep rules."""

from __future__ import annotations

import concurrent.futures
import io
import json
import random
import re
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command, find_commands, load_command_class
from django.db import connection
from django.db.backends.utils import CursorWrapper
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deployments import maintenance
from deployments.management.cli import parse_duration
from deployments.models import Deployment, Status
from deployments.services import abandoned_deployments_close
from flows.services import flow_update
from scaiflow.core.errors import ApiError
from tenants.credentials import credential_store
from tenants.models import Tenant
from tests.deployments.conftest import CORES, GRID, calls, grid_accepts

ENV_KEY = "sgk_env_key_for_commands_0000"
TENANT_KEY = "sgk_tenant_key_for_commands_1111"


class TerminalIO(io.StringIO):
    """Standard output as a terminal sees it."""

    def isatty(self) -> bool:
        return True


def run(*args, stdout=None) -> str:
    out = stdout if stdout is not None else io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def fails(*args, returncode: int = 1, stdout=None) -> str:
    """Run a command that must fail; its one-line reason."""
    with pytest.raises(CommandError) as caught:
        run(*args, stdout=stdout)
    assert caught.value.returncode == returncode
    reason = str(caught.value)
    assert "\n" not in reason
    return reason


@pytest.fixture(autouse=True)
def _env_key(settings):
    settings.SCAIGRID_API_KEY = ENV_KEY


def record(flow, status=Status.SUCCEEDED, *, age=timedelta(0), tenant=None, **fields):
    """A deployment record as if written `age` ago."""
    deployment = Deployment.objects.create(
        tenant=tenant or flow.tenant,
        flow=flow,
        flow_name=flow.name if flow else "(unsaved flow)",
        flow_version=flow.version if flow else None,
        status=status,
        actor="test",
        finished_at=None if status == Status.PENDING else timezone.now(),
        **fields,
    )
    Deployment.objects.filter(pk=deployment.pk).update(created_at=timezone.now() - age)
    return Deployment.objects.get(pk=deployment.pk)


# --- deploy_flow ------------------------------------------------------------------------------


class TestDeployFlow:
    def test_deploys_with_the_env_key_and_prints_the_result(self, flow, upstream):
        grid_accepts(upstream)
        output = run("deploy_flow", flow.public_id)
        deployment = Deployment.objects.get()
        assert f"deployment {deployment.pk}: succeeded" in output
        assert "core_1 (created)" in output
        assert deployment.auth_source == "env"
        assert deployment.actor.startswith("cli:")
        (create,) = calls(upstream, "POST", CORES)
        assert create.request.headers["Authorization"] == f"Bearer {ENV_KEY}"

    def test_the_tenant_key_wins_over_the_env_key(self, flow, upstream, acme):
        credential_store().set(tenant=acme, api_key=TENANT_KEY, base_url=GRID, actor="t")
        grid_accepts(upstream)
        run("deploy_flow", flow.public_id)
        assert Deployment.objects.get().auth_source == "tenant_key"
        (create,) = calls(upstream, "POST", CORES)
        assert create.request.headers["Authorization"] == f"Bearer {TENANT_KEY}"

    def test_publish_then_no_publish(self, flow, upstream):
        grid_accepts(upstream)
        output = run("deploy_flow", flow.public_id, "--publish")
        assert "published: echo-bot" in output
        run("deploy_flow", flow.public_id, "--no-publish")
        newest = Deployment.objects.order_by("-created_at").first()
        assert (newest.core_action, newest.published_slug) == ("updated", "")
        assert len(calls(upstream, "DELETE", f"{CORES}/core_1/publish")) == 1

    def test_an_older_version(self, flow, upstream):
        flow_update(flow=flow, actor="test", content={**_content(flow), "name": "v2"})
        grid_accepts(upstream)
        run("deploy_flow", flow.public_id, "--version", "1")
        assert Deployment.objects.get().flow_version == 1

    def test_missing_credentials_is_one_line_with_the_deployment(self, flow, settings):
        settings.SCAIGRID_API_KEY = ""
        reason = fails("deploy_flow", flow.public_id)
        deployment = Deployment.objects.get()
        assert reason.startswith("missing_scaigrid_credentials: ")
        assert reason.endswith(f"(deployment {deployment.pk})")
        assert deployment.status == Status.FAILED

    def test_upstream_failure(self, flow, upstream):
        upstream.post(CORES, status=500, json={"error": "boom", "message": "down\nfor now"})
        reason = fails("deploy_flow", flow.public_id)
        assert re.match(r"^scaicore_create_failed: .*\(deployment dep_\w+\)$", reason)

    def test_compile_error_names_the_first_diagnostic(self, make_flow):
        broken = make_flow({"name": "Broken", "nodes": [], "edges": []})
        reason = fails("deploy_flow", broken.public_id)
        assert reason.startswith("compile_error: ")
        assert "diagnostics; first" in reason

    def test_a_deploy_already_running(self, flow):
        running = record(flow, Status.PENDING)
        reason = fails("deploy_flow", flow.public_id)
        assert reason.startswith("deploy_in_progress: ")
        assert reason.endswith(f"(deployment {running.pk})")

    def test_unknown_flow_and_bad_version(self, db):
        assert fails("deploy_flow", "flw_nope").startswith("not_found: ")
        with pytest.raises(CommandError):
            run("deploy_flow", "flw_nope", "--version", "0")


def _content(flow):
    from flows.selectors import flow_content_read

    return flow_content_read(tenant=flow.tenant, flow=flow)


# --- retry_publish ----------------------------------------------------------------------------


class TestRetryPublish:
    def _publish_failed(self, flow, upstream):
        grid_accepts(upstream)
        upstream.replace("POST", f"{CORES}/core_1/publish", status=500, json={"error": "x"})
        reason = fails("deploy_flow", flow.public_id, "--publish")
        assert reason.startswith("scaicore_publish_failed: ")
        return Deployment.objects.get(status=Status.PUBLISH_FAILED)

    def test_redeploys_the_same_version_with_publish_on(self, flow, upstream):
        failed = self._publish_failed(flow, upstream)
        flow_update(flow=flow, actor="test", content={**_content(flow), "name": "v2"})
        upstream.replace("POST", f"{CORES}/core_1/publish", json={"slug": "echo-bot"})
        output = run("retry_publish", failed.pk)
        retried = Deployment.objects.exclude(pk=failed.pk).get()
        assert f"retried the publish of {failed.pk}" in output
        assert (retried.status, retried.published_slug) == (Status.SUCCEEDED, "echo-bot")
        assert (retried.flow_version, retried.core_action) == (1, "updated")
        assert retried.actor.startswith("cli:")

    def test_refuses_other_statuses(self, flow, upstream):
        grid_accepts(upstream)
        run("deploy_flow", flow.public_id)
        succeeded = Deployment.objects.get()
        reason = fails("retry_publish", succeeded.pk)
        assert reason.startswith("retry_publish_refused: the deployment is succeeded")

    def test_refuses_when_a_later_deployment_changed_the_core(self, flow, upstream):
        failed = self._publish_failed(flow, upstream)
        run("deploy_flow", flow.public_id, "--no-publish")
        reason = fails("retry_publish", failed.pk)
        assert reason.startswith("retry_publish_refused: a later deployment")
        assert Deployment.objects.count() == 2

    def test_refuses_a_deleted_flow(self, flow, upstream):
        failed = self._publish_failed(flow, upstream)
        flow.delete()
        assert "flow was deleted" in fails("retry_publish", failed.pk)

    def test_unknown_deployment(self, db):
        assert fails("retry_publish", "dep_nope").startswith("not_found: ")


# --- list_deployments -------------------------------------------------------------------------


class TestListDeployments:
    @pytest.fixture
    def records(self, make_flow):
        globex = Tenant.objects.create(slug="globex")
        echo = make_flow()
        other = make_flow(tenant=globex, name="Globex flow")
        return {
            "ok": record(echo, core_id="core_1", age=timedelta(hours=2)),
            "failed": record(
                echo, Status.FAILED, error_code="scaicore_create_failed", age=timedelta(hours=1)
            ),
            "old": record(other, Status.PUBLISH_FAILED, core_id="core_9", age=timedelta(days=3)),
        }

    def test_table_by_default(self, records):
        lines = run("list_deployments").splitlines()
        assert lines[0].split() == [
            "ID", "TENANT", "FLOW", "VER", "STATUS", "ERROR", "CORE", "CREATED", "(UTC)"
        ]  # fmt: skip
        assert [line.split()[0] for line in lines[1:]] == [
            records["failed"].pk, records["ok"].pk, records["old"].pk
        ]  # fmt: skip
        assert "scaicore_create_failed" in lines[1]
        assert "Echo bot" in lines[1] and "acme" in lines[1]

    def test_json_for_scripts(self, records):
        rows = json.loads(run("list_deployments", "--format", "json"))
        assert [row["id"] for row in rows] == [
            records["failed"].pk, records["ok"].pk, records["old"].pk
        ]  # fmt: skip
        assert rows[2]["tenant"] == "globex"
        assert rows[2]["core_id"] == "core_9"
        assert rows[0]["flow_id"].startswith("flw_")

    def test_filters(self, records):
        def ids(*args):
            return [
                row["id"] for row in json.loads(run("list_deployments", "--format=json", *args))
            ]

        assert ids("--failed") == [records["failed"].pk, records["old"].pk]
        assert ids("--failed", "--since", "24h") == [records["failed"].pk]
        assert ids("--status", "succeeded") == [records["ok"].pk]
        assert ids("--tenant", "globex") == [records["old"].pk]
        assert ids("--limit", "1") == [records["failed"].pk]
        assert ids("--since", "30m") == []

    def test_nothing_matches(self, records):
        assert run("list_deployments", "--since", "1m") == "no deployments match\n"

    def test_failures(self, records):
        assert fails("list_deployments", "--tenant", "nope") == "tenant 'nope' does not exist"
        assert "exclude each other" in fails("list_deployments", "--failed", "--status", "pending")
        for bad in (["--since", "yesterday"], ["--format", "xml"], ["--limit", "0"]):
            with pytest.raises(CommandError):
                run("list_deployments", *bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("45s", timedelta(seconds=45)), ("30m", timedelta(minutes=30)), ("24h", timedelta(hours=24)),
     ("7d", timedelta(days=7)), ("90d", timedelta(days=90)), ("2w", timedelta(weeks=2))],
)  # fmt: skip
def test_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "24", "h", "0d", "-1d", "1y", "1.5h", "24 hours"])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


# --- redeploy_flows ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
class TestRedeployFlows:
    """Deploys run in worker threads, which need committed data: a transactional database."""

    @pytest.fixture
    def deployed(self, make_flow, upstream):
        grid_accepts(upstream)
        flows = [make_flow(name=f"Flow {n}") for n in range(3)]
        for flow in flows:
            run("deploy_flow", flow.public_id)
        make_flow(name="Never deployed")
        return flows

    def new_records(self, before):
        return Deployment.objects.exclude(pk__in=before)

    def test_redeploys_every_deployed_flow_with_plain_lines_off_a_terminal(
        self, deployed, upstream
    ):
        before = list(Deployment.objects.values_list("pk", flat=True))
        output = run("redeploy_flows", "--concurrency", "1")
        new = self.new_records(before)
        assert new.count() == 3
        assert all(d.status == Status.SUCCEEDED and d.core_action == "updated" for d in new)
        assert all(d.actor.startswith("cli:") for d in new)
        assert "redeploying 3 flow(s), 1 at a time" in output
        assert [line[:5] for line in output.splitlines() if line.startswith("[")] == [
            "[1/3]", "[2/3]", "[3/3]"
        ]  # fmt: skip
        assert "\r" not in output
        assert "3 of 3 flow(s) redeployed: 3 succeeded, 0 failed" in output

    def test_a_progress_bar_on_a_terminal(self, deployed, upstream):
        output = run("redeploy_flows", "--concurrency", "1", stdout=TerminalIO())
        assert "\r\033[K[" in output
        assert f"[{'#' * 30}] 3/3  ok 3  failed 0" in output
        assert "[1/3]" not in output

    def test_on_a_terminal_failures_print_above_the_bar(self, deployed, upstream):
        upstream.replace("PUT", f"{CORES}/core_1", status=500, json={"error": "x"})
        out = TerminalIO()
        fails("redeploy_flows", "--concurrency", "1", stdout=out)
        output = out.getvalue()
        assert output.count("\r\033[KFAILED flw_") == 3
        assert f"[{'#' * 30}] 3/3  ok 0  failed 3\n" in output

    # SQLite's shared in-memory test database locks whole tables across threads.
    @pytest.mark.postgres
    def test_concurrently(self, deployed, upstream):
        run("redeploy_flows", "--concurrency", "3")
        assert Deployment.objects.filter(status=Status.SUCCEEDED).count() == 6
        assert not Deployment.objects.filter(status=Status.PENDING).exists()

    def test_continues_past_failures_and_summarises_them(self, deployed, upstream):
        upstream.replace("PUT", f"{CORES}/core_1", status=500, json={"error": "x"})
        before = list(Deployment.objects.values_list("pk", flat=True))
        out = io.StringIO()
        reason = fails("redeploy_flows", "--concurrency", "1", stdout=out)
        assert reason == "3 of 3 redeploy(s) failed"
        output = out.getvalue()
        assert "0 succeeded, 3 failed" in output
        assert output.count("FAILED flw_") == 6  # a progress line and a summary line each
        assert re.search(r"scaicore_create_failed: .* \(deployment dep_\w+\)", output)
        assert self.new_records(before).filter(status=Status.FAILED).count() == 3

    def test_some_fail(self, deployed, upstream):
        # The first flow's Core is gone and cannot be created anew: only it fails.
        upstream.replace("PUT", f"{CORES}/core_1", status=404)
        upstream.replace("POST", CORES, status=500, json={"error": "x"})
        upstream.add("PUT", f"{CORES}/core_2", json={"id": "core_2"})
        Deployment.objects.filter(flow=deployed[1]).update(core_id="core_2")
        Deployment.objects.filter(flow=deployed[2]).update(core_id="core_2")
        out = io.StringIO()
        assert fails("redeploy_flows", "--concurrency", "1", stdout=out) == (
            "1 of 3 redeploy(s) failed"
        )
        assert "2 succeeded, 1 failed" in out.getvalue()
        assert f"FAILED {deployed[0].public_id} (Flow 0): scaicore_create_failed" in out.getvalue()

    def test_only_failed_tenant_and_dry_run(self, deployed, upstream, make_flow):
        Deployment.objects.filter(flow=deployed[1]).update(status=Status.PUBLISH_FAILED)
        globex = Tenant.objects.create(slug="globex")
        elsewhere = make_flow(tenant=globex, name="Elsewhere")
        record(elsewhere, Status.FAILED)
        count = Deployment.objects.count()

        output = run("redeploy_flows", "--only-failed", "--dry-run")
        assert output.splitlines()[0] == "would redeploy 2 flow(s):"
        assert deployed[1].public_id in output and elsewhere.public_id in output
        assert deployed[0].public_id not in output
        output = run("redeploy_flows", "--tenant", "globex", "--dry-run")
        assert elsewhere.public_id in output and deployed[1].public_id not in output
        assert Deployment.objects.count() == count

        run("redeploy_flows", "--only-failed", "--tenant", "acme")
        assert Deployment.objects.count() == count + 1
        assert Deployment.objects.order_by("-created_at").first().flow == deployed[1]

    def test_keeps_the_last_publish_settings(self, make_flow, upstream):
        grid_accepts(upstream)
        flow = make_flow()
        run("deploy_flow", flow.public_id, "--publish")
        run("redeploy_flows")
        assert len(calls(upstream, "POST", f"{CORES}/core_1/publish")) == 2
        assert calls(upstream, "DELETE") == []

    def test_ctrl_c_lets_the_running_deploy_finish_and_starts_no_more(
        self, deployed, upstream, monkeypatch
    ):
        real_wait = concurrent.futures.wait
        waits = []

        def interrupted_once(futures, **kwargs):
            waits.append(len(futures))
            if len(waits) == 1:
                raise KeyboardInterrupt
            return real_wait(futures, **kwargs)

        monkeypatch.setattr("deployments.maintenance.wait", interrupted_once)
        before = list(Deployment.objects.values_list("pk", flat=True))
        out = io.StringIO()
        reason = fails("redeploy_flows", "--concurrency", "1", returncode=130, stdout=out)
        assert reason == "interrupted: 2 flow(s) not started"
        assert "waiting for 1 running deploy(s)" in out.getvalue()
        assert "1 of 3 flow(s) redeployed: 1 succeeded, 0 failed, 2 not started" in out.getvalue()
        assert self.new_records(before).get().status == Status.SUCCEEDED
        assert not Deployment.objects.filter(status=Status.PENDING).exists()

    def test_nothing_to_do_and_bad_options(self, db):
        assert run("redeploy_flows") == "no flows to redeploy\n"
        assert fails("redeploy_flows", "--tenant", "nope") == "tenant 'nope' does not exist"
        assert fails("redeploy_flows", "--concurrency", "33") == "--concurrency is at most 32"
        with pytest.raises(CommandError):
            run("redeploy_flows", "--concurrency", "0")


def test_the_pool_runs_n_at_a_time_and_reports_in_the_calling_thread(monkeypatch):
    lock = threading.Lock()
    running, peak, threads = [0], [0], set()

    def fake_redeploy(*, flow, actor):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1
        error = None if flow % 2 else ApiError("no")
        return maintenance.RedeployOutcome(flow=flow, deployment=None, error=error)

    monkeypatch.setattr(maintenance, "flow_redeploy", fake_redeploy)
    report = maintenance.flows_redeploy(
        flows=list(range(9)),
        actor="cli:test",
        concurrency=3,
        on_outcome=lambda outcome: threads.add(threading.get_ident()),
    )
    assert 1 < peak[0] <= 3
    assert threads == {threading.get_ident()}
    assert (len(report.succeeded), len(report.failed), report.interrupted) == (4, 5, False)
    with pytest.raises(ValueError):
        maintenance.flows_redeploy(flows=[], actor="cli:test", concurrency=0)


# --- prune_deployments ------------------------------------------------------------------------


class TestPruneDeployments:
    OLD = timedelta(days=100)

    def test_keeps_the_latest_success_and_the_core_holder(self, flow):
        success = record(flow, core_id="core_1", age=self.OLD + timedelta(days=5))
        failures = [record(flow, Status.FAILED, age=self.OLD + timedelta(days=n)) for n in (1, 2)]
        holder = record(flow, Status.PUBLISH_FAILED, core_id="core_1", age=self.OLD)
        young = record(flow, Status.FAILED, age=timedelta(days=1))

        output = run("prune_deployments", "--older-than", "90d", "--keep-last", "0")
        assert "deleted 2" in output and "kept 2 old one(s)" in output
        left = set(Deployment.objects.values_list("pk", flat=True))
        assert left == {success.pk, holder.pk, young.pk}
        assert not left & {f.pk for f in failures}

    def test_keeps_the_last_n_per_flow(self, flow, make_flow):
        other = make_flow(name="Other")
        mine = [record(flow, Status.FAILED, age=self.OLD + timedelta(days=n)) for n in range(4)]
        theirs = [record(other, Status.FAILED, age=self.OLD + timedelta(days=n)) for n in range(2)]
        run("prune_deployments", "--older-than", "90d", "--keep-last", "2")
        left = set(Deployment.objects.values_list("pk", flat=True))
        assert left == {mine[0].pk, mine[1].pk, theirs[0].pk, theirs[1].pk}

    def test_default_keeps_five(self, flow):
        for n in range(7):
            record(flow, Status.FAILED, age=self.OLD + timedelta(days=n))
        run("prune_deployments", "--older-than", "90d")
        assert Deployment.objects.count() == 5

    def test_records_without_a_flow_go_by_age(self, flow, acme):
        legacy = record(None, core_id="core_x", age=self.OLD, tenant=acme)
        orphan = record(flow, core_id="core_y", age=self.OLD)
        flow.delete()
        kept_young = record(None, age=timedelta(days=2), tenant=acme)
        run("prune_deployments", "--older-than", "90d", "--keep-last", "0")
        left = set(Deployment.objects.values_list("pk", flat=True))
        assert left == {kept_young.pk}
        assert legacy.pk not in left and orphan.pk not in left

    def test_closes_abandoned_pending_records(self, flow, make_flow):
        stale = record(flow, Status.PENDING, core_id="core_1", age=timedelta(minutes=20))
        running = record(make_flow(name="Running"), Status.PENDING, age=timedelta(minutes=1))
        output = run("prune_deployments", "--older-than", "90d")
        assert output.startswith("closed 1 abandoned pending deployment(s)")
        stale.refresh_from_db()
        assert (stale.status, stale.error_code, stale.core_id) == (
            Status.FAILED, "deploy_abandoned", "core_1"
        )  # fmt: skip
        running.refresh_from_db()
        assert running.status == Status.PENDING

    def test_dry_run_changes_nothing(self, flow):
        for n in range(3):
            record(flow, Status.FAILED, age=self.OLD + timedelta(days=n))
        stale = record(flow, Status.PENDING, age=timedelta(minutes=20))
        output = run("prune_deployments", "--older-than", "90d", "--keep-last", "2", "--dry-run")
        assert output == (
            "dry run: would close 1 abandoned pending deployment(s), delete 2, "
            "keep 1 old one(s) by the keep rules\n"
        )
        assert Deployment.objects.count() == 4
        stale.refresh_from_db()
        assert stale.status == Status.PENDING

    def test_small_batches_keep_and_delete_exactly_what_one_batch_does(self, flow, make_flow):
        """Batches of flows, then of legacy records; the same keep rules as in one go."""
        flows = [flow, make_flow(name="Two"), make_flow(name="Three")]
        statuses = [Status.FAILED, Status.SUCCEEDED, Status.PUBLISH_FAILED, Status.FAILED]
        for n in range(24):
            core = {"core_id": f"core_{n % 3}"} if n % 5 == 0 else {}
            # Pairs share a timestamp: the batches' (created_at, id) edges must not skip one.
            age = self.OLD + timedelta(days=n // 2)
            record(flows[n % 3], statuses[n % 4], age=age, **core)
        seen = []
        legacy = [record(None, age=self.OLD, tenant=flow.tenant) for _ in range(3)]
        whole = maintenance.deployments_prune(older_than=self.OLD, keep_last=2, dry_run=True)
        in_batches = maintenance.deployments_prune(
            older_than=self.OLD,
            keep_last=2,
            batch_size=2,
            on_batch=lambda read, deleted: seen.append((read, deleted)),
        )
        assert in_batches == whole and whole.deleted > 3 and whole.kept > 6
        # Two batches of flows (two, then one), then the legacy records two at a time.
        assert [read for read, _ in seen] == [16, 24, 26, 27]
        assert seen[-1] == (27, whole.deleted)
        assert not Deployment.objects.filter(pk__in=[d.pk for d in legacy]).exists()
        assert Deployment.objects.count() == 27 - whole.deleted
        assert maintenance.deployments_prune(older_than=self.OLD, keep_last=2).deleted == 0

    def test_a_rollback_of_a_pruned_record_stays_and_forgets_it(self, flow):
        old = record(flow, Status.FAILED, age=self.OLD + timedelta(days=2))
        record(flow, age=self.OLD + timedelta(days=1))
        rollback = record(flow, rollback_of=old)
        run("prune_deployments", "--older-than", "90d", "--keep-last", "0")
        rollback.refresh_from_db()
        assert rollback.rollback_of is None
        assert not Deployment.objects.filter(pk=old.pk).exists()

    def test_the_sql_keeps_what_the_rules_say_on_a_mixed_history(self, flow, make_flow):
        """The keep rules, applied by SQL, against a plain reading of them over every record:
        ties on created_at, young and pending latest records, flows with few records, a
        rollback across flows, records without a flow."""
        rng = random.Random(17)
        flows = [flow, *(make_flow(name=f"Flow {n}") for n in range(4))]
        statuses = [Status.SUCCEEDED, Status.FAILED, Status.PUBLISH_FAILED]
        made = []
        for n in range(60):
            owner = flows[rng.choice([0, 0, 0, 1, 1, 2, 3])]  # flow 4 has no record
            days = rng.choice([100, 100, 101, 103, 120, 1, 5])  # shared days: ties
            core = {"core_id": f"core_{n}"} if rng.random() < 0.3 else {}
            made.append(record(owner, rng.choice(statuses), age=timedelta(days=days), **core))
        made.append(record(flows[1], Status.PENDING, core_id="core_p", age=timedelta(days=200)))
        made.append(record(flows[2], Status.PENDING, age=timedelta(days=3)))
        target = record(flows[0], Status.FAILED, age=timedelta(days=300))
        rollback = record(flows[3], rollback_of=target, age=timedelta(days=2))
        made += [target, rollback]
        made += [record(None, age=timedelta(days=d), tenant=flow.tenant) for d in (2, 100, 200)]

        def by_the_rules(keep_last: int) -> set[str]:
            """What may go: read from every record in Python, newest first per flow."""
            records = list(Deployment.objects.order_by("-created_at", "-pk"))
            before = timezone.now() - self.OLD + timedelta(hours=1)  # the run comes later
            kept = set()
            for owner in {d.flow_id for d in records} - {None}:
                mine = [d for d in records if d.flow_id == owner]
                kept |= {d.pk for d in mine[:keep_last]}
                kept |= {next((d.pk for d in mine if d.status == Status.SUCCEEDED), None)}
                kept |= {next((d.pk for d in mine if d.core_id), None)}
            return {
                d.pk
                for d in records
                if d.created_at < before and d.status != Status.PENDING and d.pk not in kept
            }

        for keep_last in (0, 1, 3):
            doomed = by_the_rules(keep_last)
            assert doomed and len(doomed) < len(made)
            dry = maintenance.deployments_prune(
                older_than=self.OLD, keep_last=keep_last, dry_run=True, batch_size=2
            )
            assert dry.deleted == len(doomed)
        abandoned_deployments_close()  # what the real run does first
        doomed = by_the_rules(1)
        assert target.pk in doomed and rollback.pk not in doomed
        before = set(Deployment.objects.values_list("pk", flat=True))
        result = maintenance.deployments_prune(older_than=self.OLD, keep_last=1, batch_size=2)
        assert result.deleted == len(doomed)
        assert before - set(Deployment.objects.values_list("pk", flat=True)) == doomed
        rollback.refresh_from_db()
        assert rollback.rollback_of_id is None

    def test_set_based_what_it_reads_does_not_grow_with_the_records(
        self, flow, make_flow, monkeypatch
    ):
        """The keep rules run in the database: the statements, and the rows read back (counts,
        flow ids, one edge record), are the same for 3 and for 12 old records per flow."""
        flows = [flow, make_flow(name="Two")]
        fetched = []

        def counting(name):
            def fetch(self, *args):
                rows = getattr(self.cursor, name)(*args)
                fetched.append(int(rows is not None) if name == "fetchone" else len(rows))
                return rows

            return fetch

        def reads(per_flow: int) -> tuple[int, int, int]:
            Deployment.objects.all().delete()
            for n in range(per_flow):
                for owner in flows:
                    record(owner, Status.FAILED, age=self.OLD + timedelta(days=n))
                record(None, age=self.OLD + timedelta(days=n), tenant=flow.tenant)
            fetched.clear()
            with monkeypatch.context() as patch, CaptureQueriesContext(connection) as queries:
                for name in ("fetchone", "fetchmany", "fetchall"):
                    patch.setattr(CursorWrapper, name, counting(name), raising=False)
                result = maintenance.deployments_prune(
                    older_than=self.OLD, keep_last=2, batch_size=100
                )
            assert result.deleted == 3 * per_flow - 2 * 2  # each flow keeps its last two
            return len(queries), sum(fetched), result.kept

        assert reads(3) == reads(12)

    def test_a_rollback_and_the_record_it_rolled_back_go_together(self, flow):
        target = record(flow, Status.FAILED, age=self.OLD + timedelta(days=3))
        record(flow, Status.FAILED, rollback_of=target, age=self.OLD + timedelta(days=2))
        latest = record(flow, age=self.OLD + timedelta(days=1))
        output = run("prune_deployments", "--older-than", "90d", "--keep-last", "0")
        assert "deleted 2, kept 1 old one(s)" in output
        assert list(Deployment.objects.values_list("pk", flat=True)) == [latest.pk]

    def test_reports_progress_on_stderr(self, flow):
        for n in range(3):
            record(flow, Status.FAILED, age=self.OLD + timedelta(days=n))
        err = io.StringIO()
        call_command(
            "prune_deployments", "--older-than", "90d", "--keep-last", "1", "--dry-run",
            stdout=io.StringIO(), stderr=err,
        )  # fmt: skip
        assert err.getvalue() == "3 old record(s) read, 2 would delete\n"

    def test_refusals(self, db):
        assert fails("prune_deployments", "--older-than", "12h") == (
            "older_than must be at least 1 day"
        )
        for bad in ([], ["--older-than", "soon"], ["--older-than", "90d", "--keep-last", "-1"]):
            with pytest.raises(CommandError):
                run("prune_deployments", *bad)


# --- every command: a test and an explained --help ---------------------------------------------

PROJECT_APPS = ("tenants", "flows", "deployments", "devstack", "scaiflow")
TESTS = Path(__file__).resolve().parents[1]


def project_commands() -> dict[str, str]:
    """Each management command of the project's apps, with its app's name."""
    found = {}
    for label in PROJECT_APPS:
        config = apps.get_app_config(label)
        for name in find_commands(str(Path(config.path) / "management")):
            found[name] = config.name
    return found


def test_every_management_command_has_a_test():
    commands = project_commands()
    assert "deploy_flow" in commands and "create_tenant" in commands
    sources = "\n".join(path.read_text() for path in TESTS.rglob("*.py"))
    untested = [name for name in commands if not re.search(rf"""["']{name}["']""", sources)]
    assert untested == [], f"management commands without a test: {untested}"


def test_every_option_is_explained_in_help():
    base = {action.dest for action in _parser("check", "django.core")._actions}
    for name, app in project_commands().items():
        parser = _parser(name, app)
        assert parser.description, f"{name} has no help text"
        for action in parser._actions:
            if action.dest not in base:
                assert action.help, f"{name}: {action.option_strings or action.dest} is unexplained"


def _parser(name: str, app: str):
    return load_command_class(app, name).create_parser("manage.py", name)
