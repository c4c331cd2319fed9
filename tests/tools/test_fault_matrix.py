"""The fault matrix of issue 5, asserted: for every fault the tool's answer says what happened (and what was cleaned
up), the ledger stays consistent, and after cleanup nothing this server created is left while everything planted by
someone else (an acf- cluster with a Job and a ConfigMap in it, an acf- cluster whose tags claim to be ours, a VPC)
is untouched.

The scenarios live in the fault_matrix package next to this file; bench/fault_matrix.py prints them as a table.
Each runs once per session in a sandbox of its own (clock 600x faster, like the `world` fixture); the tests below
read what it recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.tools.fault_matrix import states as fms
from tests.tools.fault_matrix.scenarios import SCENARIOS, run_isolated
from tests.tools.fault_matrix.stage import FOREIGN_JOB, HOST, LOOKALIKE, Outcome

pytestmark = pytest.mark.slow  # every scenario runs end to end in a sandbox of its own


def fm_transient_codes() -> frozenset[str]:
    from ack_compute.cloud.retry import TRANSIENT_CODES

    return TRANSIENT_CODES


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Outcome]:
    """Runs a scenario the first time it is asked for, and remembers what happened (or what it raised)."""
    done: dict[str, Outcome | BaseException] = {}

    def get(key: str) -> Outcome:
        if key not in done:
            try:
                done[key] = run_isolated(key, tmp_path_factory.mktemp(key))
            except Exception as exc:  # re-raised for every test of this scenario
                done[key] = exc
        found = done[key]
        if isinstance(found, BaseException):
            raise found
        return found

    return get


def cleanup_items(report: Any) -> list[tuple[str, str, str]]:
    return [(i.kind, i.action, i.outcome or i.reason) for i in report.items]


# -- every scenario: nothing of ours left, nothing foreign touched, the ledger consistent ----------------------


@pytest.mark.parametrize("key", list(SCENARIOS))
def test_cleanup_leaves_nothing_this_server_created(outcome: Callable[[str], Outcome], key: str) -> None:
    o = outcome(key)
    assert o.ours_left == [], [cleanup_items(c) for c in o.cleanups]
    assert o.cleanups[-1].status in ("done", "nothing_to_do"), cleanup_items(o.cleanups[-1])
    assert len(o.cleanups) <= 2, "one pass, or two when the fault blocked the first"


@pytest.mark.parametrize("key", list(SCENARIOS))
def test_nothing_someone_else_made_is_touched(outcome: Callable[[str], Outcome], key: str) -> None:
    o = outcome(key)
    planted = [
        f"({HOST})",
        f"({LOOKALIKE})",
        "(acf-vpc-theirs)",
        "(acf-vsw-theirs)",
        f"Job {FOREIGN_JOB} in",
        f"ConfigMap {FOREIGN_JOB}-script in",
    ]
    assert all(any(p in f for f in o.foreign) for p in planted), o.foreign
    assert o.foreign_touched == []


@pytest.mark.parametrize(
    "key",
    [k for k in SCENARIOS],
)
def test_the_ledger_stays_consistent(outcome: Callable[[str], Outcome], key: str) -> None:
    assert outcome(key).ledger_problems == []


# -- throttling, 5xx, timeouts, connection refused -----------------------------------------------------------


def test_throttling_waits_the_retry_after_and_succeeds(outcome: Callable[[str], Outcome]) -> None:
    o = outcome("throttling")
    assert o.answer.status == "created" and "running with 1 Ready nodes" in o.answer.message
    counts = o.facts["counts"]
    assert counts["DescribeClustersForRegion"] >= 3 and counts["CreateCluster"] == 2, counts
    # Two throttled lookups with a 500 ms retry-after: at least 1 s; the jittered backoff alone stays under 0.6 s.
    assert o.facts["ensure_seconds"] >= 1.0, o.facts
    assert o.facts["clusters_named"] == 1, "a retried CreateCluster never makes a second cluster"
    assert o.cleanups[0].status == "done", "throttled deletions are retried within the same cleanup"
    assert o.facts["cleanup_counts"]["DeleteCluster"] == 2 and o.facts["cleanup_counts"]["DeleteVpc"] == 2


def test_a_retry_after_beyond_the_wait_budget_fails_at_once(outcome: Callable[[str], Outcome]) -> None:
    o = outcome("throttling_beyond_budget")
    assert o.answer.via == "raised" and o.answer.status == "CloudFailure", o.answer
    assert "Throttling" in o.answer.message and "Nothing was created" in o.answer.next_step
    assert o.facts["seconds"] < 5, "a 60 s retry-after is not slept through"
    assert o.cleanups[0].status == "nothing_to_do"


def test_5xx_bursts_are_absorbed_by_retries(outcome: Callable[[str], Outcome]) -> None:
    o = outcome("server_errors")
    assert o.answer.status == "created", o.answer
    counts = o.facts["counts"]
    assert counts["CreateVSwitch"] == 4 and counts["DescribeClusterDetail"] >= 4, counts
    assert o.facts["vswitches"] == 1 and o.facts["clusters_named"] == 1, "no duplicates from retried creates"
    assert o.cleanups[0].status == "done"
    assert o.facts["cleanup_counts"]["DeleteVpc"] == 3 and o.facts["cleanup_counts"]["DeleteCluster"] == 2


def test_a_5xx_burst_outlasting_the_retries_names_the_call(outcome: Callable[[str], Outcome]) -> None:
    o = outcome("server_errors_exhausted")
    assert o.answer.status == "failed"
    assert "CreateCluster failed after 4 attempts" in o.answer.message and "503" in o.answer.message
    assert o.facts["counts"]["CreateCluster"] == 4 and o.facts["clusters_named"] == 0
    items = cleanup_items(o.cleanups[0])
    assert ("cluster", "gone", "already gone") in items, items  # the failed create never landed
    # the network made for it, and the cluster the retry (with a new quote) then created, go
    assert {k for k, a, _ in items if a == "delete"} == {"cluster", "vpc", "vswitch"}, items


def test_asking_again_after_a_failed_create_does_not_point_at_the_failed_operation(
    outcome: Callable[[str], Outcome],
) -> None:
    o = outcome("server_errors_exhausted")
    retry = o.facts["retry"]
    assert not (retry["status"] == "creating" and retry["operation_id"] == o.facts["failed_operation"]), retry


@pytest.mark.parametrize("key", ["server_errors_exhausted", "timeout_on_create"])
def test_a_failed_create_call_says_what_is_left_for_cleanup(outcome: Callable[[str], Outcome], key: str) -> None:
    assert "cleanup" in outcome(key).answer.text.lower()


def test_a_timeout_on_a_read_is_retried(outcome: Callable[[str], Outcome]) -> None:
    o = outcome("timeout_on_read")
    assert o.answer.status == "created", o.answer
    assert o.facts["counts"]["DescribeClusterUserKubeconfig"] == 2, o.facts["counts"]


def test_a_timeout_on_create_is_reported_and_the_late_cluster_found_by_its_tag(
    outcome: Callable[[str], Outcome],
) -> None:
    o = outcome("timeout_on_create")
    assert o.answer.status == "failed"
    assert "CreateCluster failed" in o.answer.message and "timed out" in o.answer.message
    assert o.facts["counts_at_answer"]["CreateCluster"] == 1, "a create that may have landed is not repeated blindly"
    assert ["cluster", "intent", None] in [list(r) for r in o.facts["rows_at_answer"]], "kept for reconciliation"
    assert len(o.facts["late_cluster"]) == 1
    assert ("cluster", "delete", "deleted") in cleanup_items(o.cleanups[0])


def test_a_late_cluster_of_ours_is_not_answered_as_reused(outcome: Callable[[str], Outcome]) -> None:
    o = outcome("timeout_on_create_then_ensure")
    assert o.facts["retry"]["cluster_id"] == o.facts["late_cluster"][0]
    assert o.facts["retry"]["origin"] != "reused", o.facts["retry"]


def test_connection_refused_is_a_clear_failure_and_creates_nothing(outcome: Callable[[str], Outcome]) -> None:
    o = outcome("connection_refused")
    assert o.answer.via == "raised" and o.answer.status == "CloudFailure", o.answer
    assert "could not be reached (connection failed)" in o.answer.message
    assert "Nothing was created" in o.answer.next_step
    assert all(e.startswith("CloudFailure:") for e in o.facts["other_errors"].values()), o.facts["other_errors"]
    assert o.facts["requests_reaching_the_cloud"] == 0 and o.facts["rows"] == 0
    assert o.facts["seconds"] < 20, "retries are bounded"
    assert o.cleanups[0].status == "nothing_to_do"


def test_connection_refused_during_cleanup_blocks_and_changes_nothing(outcome: Callable[[str], Outcome]) -> None:
    o = outcome("connection_refused_in_cleanup")
    assert o.answer.status == "partial"
    first = cleanup_items(o.cleanups[0])
    assert first and all(a == "blocked" and "could not be checked" in why for _, a, why in first), first
    assert "cleanup again" in o.answer.next_step
    assert [c.status for c in o.cleanups] == ["partial", "done"]


# -- cluster lifecycle faults --------------------------------------------------------------------------------


def test_creation_ending_failed_says_so_and_that_cleanup_removes_it(outcome: Callable[[str], Outcome]) -> None:
    o = outcome("creation_failed")
    assert o.answer.status == "failed"
    assert "failed to be created" in o.answer.message and "ErrorQuotaExceeded" in o.answer.message
    assert "run cleanup" in o.answer.message.lower()
    kinds = {k: (state, cloud_id) for k, state, cloud_id in o.facts["rows"]}
    assert kinds["cluster"][0] == "failed" and kinds["cluster"][1], "kept, with its id, for cleanup"
    assert o.cleanups[0].status == "done"


def test_nodes_never_ready_says_so_and_that_cleanup_removes_it(outcome: Callable[[str], Outcome]) -> None:
    o = outcome("nodes_never_ready")
    assert o.answer.status == "failed"
    assert "only 0 of 1 nodes became Ready" in o.answer.message and "cleanup" in o.answer.message
    assert ("cluster", "delete", "deleted") in cleanup_items(o.cleanups[0])


def test_delete_failed_is_reported_and_a_second_cleanup_finishes(outcome: Callable[[str], Outcome]) -> None:
    o = outcome("delete_failed")
    assert o.facts["created"] == "created"
    assert o.answer.via == "cleanup" and o.answer.status == "partial"
    first = cleanup_items(o.cleanups[0])
    (cluster,) = [why for k, _, why in first if k == "cluster"]
    assert "failed" in cluster and "ErrorDeleteCluster" in cluster and "cleanup again" in cluster
    assert all(a == "blocked" for k, a, _ in first), "the network stays while the cluster still uses it"
    assert [c.status for c in o.cleanups] == ["partial", "done"]


def test_a_vpc_with_a_dependency_is_kept_until_it_is_free(outcome: Callable[[str], Outcome]) -> None:
    o = outcome("vpc_dependency")
    assert o.answer.status == "partial"
    first = cleanup_items(o.cleanups[0])
    assert [(k, a) for k, a, _ in first] == [("cluster", "delete"), ("vswitch", "delete"), ("vpc", "blocked")]
    (vpc,) = [why for k, _, why in first if k == "vpc"]
    assert "still in use" in vpc and "DependencyViolation" in vpc
    assert o.facts["their_vswitch_after_first_cleanup"] == "live", "their vSwitch in our VPC is not ours to delete"
    assert [c.status for c in o.cleanups] == ["partial", "done"]


# -- workload faults -----------------------------------------------------------------------------------------


def test_an_unpullable_job_image_fails_fast_and_its_job_is_removed(outcome: Callable[[str], Outcome]) -> None:
    o = outcome("image_pull_job")
    assert o.answer.status == "failed" and o.answer.reason in ("ErrImagePull", "ImagePullBackOff"), o.answer
    assert any(c.startswith("Job default/acf-job-") for c in o.answer.cleaned_up), o.answer.cleaned_up
    assert "image" in o.answer.next_step
    assert o.facts["rows"] == [("job", "deleted")]
    assert o.cleanups[0].status == "nothing_to_do"


def test_an_unpullable_deployment_image_is_reported_with_how_to_stop_paying(outcome: Callable[[str], Outcome]) -> None:
    o = outcome("image_pull_deploy")
    assert o.answer.status == "failed" and "ErrImagePull" in o.answer.message, o.answer
    assert "cleanup" in o.answer.next_step
    assert ("deployment", "delete", "deleted") in cleanup_items(o.cleanups[0])


def test_a_crash_looping_deployment_really_crash_loops(outcome: Callable[[str], Outcome]) -> None:
    o = outcome("crash_loop_deploy")
    assert "CrashLoopBackOff" in o.facts["pod_after_answer"], o.facts
    assert ("deployment", "delete", "deleted") in cleanup_items(o.cleanups[0])


def test_a_crash_looping_deployment_is_reported_as_failing(outcome: Callable[[str], Outcome]) -> None:
    o = outcome("crash_loop_deploy")
    assert o.answer.status == "failed" and "CrashLoopBackOff" in o.answer.message, o.answer


def test_an_evicted_pod_fails_the_job_and_says_why(outcome: Callable[[str], Outcome]) -> None:
    o = outcome("evicted_pod")
    assert o.facts["evicted"]
    assert o.answer.status == "failed" and o.answer.reason == "Evicted", o.answer
    assert "Evicted" in o.answer.message and "low on resource" in o.answer.message
    assert o.answer.next_step


def test_a_job_outliving_its_kubeconfig_still_succeeds(outcome: Callable[[str], Outcome]) -> None:
    o = outcome("kubeconfig_expiry")
    assert o.answer.status == "succeeded", o.answer


def test_a_job_outliving_its_kubeconfig_returns_its_log(outcome: Callable[[str], Outcome]) -> None:
    o = outcome("kubeconfig_expiry")
    assert "begin" in o.facts["log"] and "end" in o.facts["log"], o.facts["log"]
    assert o.facts["kubeconfigs_fetched"] >= 2, "a fresh kubeconfig was fetched after the first expired"


# -- issue 12: the cloud's transient codes and the unusual cluster states ----------------------------------------


def test_every_transient_code_is_waited_out_and_lands_one_of_each(outcome: Callable[[str], Outcome]) -> None:
    o = outcome("transient_codes")
    assert o.answer.status == "created", o.answer.message
    assert (o.facts["clusters_named"], o.facts["vpcs"], o.facts["vswitches"]) == (1, 1, 1)
    counts = o.facts["counts"]
    for action, codes in fms.CREATE_FAULTS.items():
        assert counts[action] >= len(codes) + 1, action
    assert counts["CreateVpc"] == counts["CreateVSwitch"] == counts["CreateCluster"] == 4
    assert o.facts["cleanup_counts"]["DeleteVSwitch"] >= 3 and o.facts["cleanup_counts"]["DeleteCluster"] >= 2
    assert [c.status for c in o.cleanups] == ["done"]
    injected = {c for codes in [*fms.CREATE_FAULTS.values(), *fms.CLEANUP_FAULTS.values()] for c in codes}
    assert injected == set(fm_transient_codes()), "the matrix covers every code the product retries"


def test_a_create_repeated_while_processing_lands_one_vpc(outcome: Callable[[str], Outcome]) -> None:
    o = outcome("token_processing")
    assert o.answer.status == "created", o.answer.message
    assert o.facts["counts"]["CreateVpc"] >= 2 and o.facts["vpcs"] == 1 and o.facts["clusters_named"] == 1


def test_a_same_named_cluster_in_an_unusual_state_is_never_duplicated(outcome: Callable[[str], Outcome]) -> None:
    o = outcome("same_name_in_unusual_states")
    assert o.answer.status == "refused"
    assert set(o.facts["clusters_named"].values()) == {1}
    assert "CreateCluster" not in o.facts["counts"] and "CreateVpc" not in o.facts["counts"]
    for state, text in o.facts["answers"].items():
        assert fms.describe(state).meaning in text, (state, text)


def test_a_same_named_cluster_being_scaled_is_waited_for_and_kept(outcome: Callable[[str], Outcome]) -> None:
    o = outcome("busy_same_name")
    assert o.facts["first"]["status"] == "waiting" and "is adding or removing nodes" in o.facts["first"]["message"]
    assert o.answer.status == "reused" and o.answer.raw["cluster_id"] == o.facts["theirs"]
    assert o.facts["clusters_named"] == 1 and "CreateCluster" not in o.facts["counts"]
    assert [i for i in cleanup_items(o.cleanups[0]) if i[0] == "cluster"] == [], "not ours: cleanup never touches it"


def test_our_cluster_being_upgraded_is_left_for_the_next_cleanup(outcome: Callable[[str], Outcome]) -> None:
    o = outcome("ours_upgrading")
    assert o.facts["created"] == "created" and o.answer.status == "partial"
    (cluster,) = [why for k, _, why in cleanup_items(o.cleanups[0]) if k == "cluster"]
    assert "is being upgraded by ACK" in cluster and "run cleanup again" in cluster
    assert [c.status for c in o.cleanups] == ["partial", "done"]


def test_our_inactive_cluster_is_deleted(outcome: Callable[[str], Outcome]) -> None:
    o = outcome("ours_inactive")
    assert ("cluster", "delete") in [(k, a) for k, a, _ in o.facts["planned"]]
    assert [c.status for c in o.cleanups] == ["done"]
