"""Operation params rows as earlier versions wrote them still load after an upgrade: a resumed operation must not
fail on a key added later, and what the typed params write again is what the old code read."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from ack_compute.tools.cleanup import CleanupParams
from ack_compute.tools.operation_params import DeployParams, NodePoolParams, RunJobParams
from ack_compute.tools.plans import AcsPlan

TARGET = {"ref": "c-1", "kind": "ack", "region": "cn-hangzhou", "cluster_id": "c0123", "name": "acf-demo"}

# run_job's params_json as the first run_job wrote it (before cleanup_after existed).
FIRST_RUN_JOB_ROW = {
    "resource_id": 7,
    "target": TARGET,
    "namespace": "default",
    "job": "acf-job-1a2b3c",
    "config_map": "acf-job-1a2b3c-script",
    "image": "busybox:1.36",
    "compute": "nodes",
    "retries": 1,
    "timeout_seconds": 600,
    "log_lines": 200,
    "log_bytes": 65536,
    "notes": ["image from the cluster's registry"],
    "started_at": 1764800000.5,
}

# deploy_acs's params_json before requested_by existed, its plan from before eci plans (no kind).
PLAN = {"replicas": 1, "vcpu": 1, "memory_gib": 2}
FIRST_DEPLOY_ROW = {
    "request": {"cluster": "c0123", "name": "web", "image": "nginx:1.27", "plan": PLAN},
    "target": TARGET,
    "plan": PLAN,
    "notes": [],
}


def test_a_run_job_row_from_the_first_version_loads_with_what_it_meant() -> None:
    p = RunJobParams.model_validate(json.loads(json.dumps(FIRST_RUN_JOB_ROW)))
    assert p.cleanup_after is False  # the first run_job never cleaned up after the job
    assert p.target.cluster_id == "c0123" and p.resource_id == 7 and p.started_at == 1764800000.5
    # Written again, it carries every key the old code read, with the same value.
    again = p.model_dump(mode="json")
    assert {k: again[k] for k in FIRST_RUN_JOB_ROW if k != "target"} == {
        k: v for k, v in FIRST_RUN_JOB_ROW.items() if k != "target"
    }


def test_a_deploy_row_without_requested_by_or_plan_kind_loads() -> None:
    p = DeployParams.model_validate(FIRST_DEPLOY_ROW)
    assert p.requested_by == "" and isinstance(p.plan, AcsPlan) and p.request.name == "web"


def test_a_cleanup_row_loads_and_a_wrong_one_names_the_field() -> None:
    p = CleanupParams.model_validate({"request": {"target": "operation", "operation_id": "op-0123abcd"}, "rows": [3]})
    assert p.rows == [3] and p.request.operation_id == "op-0123abcd" and p.request.dry_run is True
    with pytest.raises(ValidationError, match="rows"):
        CleanupParams.model_validate({"request": {}, "rows": "all"})


def test_a_run_job_row_missing_a_field_fails_naming_it() -> None:
    row = {k: v for k, v in FIRST_RUN_JOB_ROW.items() if k != "started_at"}
    with pytest.raises(ValidationError, match="started_at"):
        RunJobParams.model_validate(row)


# ensure_node_pool's params_json as the dict-writing versions wrote them: a create (plan, gpu, vswitch_ids) and a
# shrink (the nodes it drains).
POOL_WHERE = {"resource_id": 12, "cluster": "acf-demo", "cluster_id": "c0123", "region": "cn-hangzhou", "name": "gpu"}
POOL_PLAN = {"region": "cn-hangzhou", "hours": 2.0, "kind": "node_pool", "cluster": "acf-demo",
             "instance_types": ["ecs.gn7i-c8g1.2xlarge"], "node_count": 1}  # fmt: skip
FIRST_POOL_CREATE_ROW = {
    "mode": "create", **POOL_WHERE, "nodes": 1, "plan": POOL_PLAN, "gpu": True, "vswitch_ids": ["vsw-1", "vsw-2"]
}  # fmt: skip
FIRST_POOL_SHRINK_ROW = {
    "mode": "shrink", **POOL_WHERE, "nodes": 1, "nodepool_id": "np-1",
    "removed": [{"node": "cn-hangzhou.10.0.0.7", "instance_id": "i-7", "state": "Ready"}],
}  # fmt: skip


def test_node_pool_rows_from_the_dict_versions_load_and_write_back_what_the_old_code_read() -> None:
    create = NodePoolParams.model_validate(FIRST_POOL_CREATE_ROW)
    assert create.plan is not None and create.plan.instance_types == ["ecs.gn7i-c8g1.2xlarge"]
    assert (create.gpu, create.vswitch_ids, create.growth_row) == (True, ["vsw-1", "vsw-2"], None)
    shrink = NodePoolParams.model_validate(FIRST_POOL_SHRINK_ROW)
    assert [(n.node, n.instance_id) for n in shrink.removed] == [("cn-hangzhou.10.0.0.7", "i-7")]
    for row, p in ((FIRST_POOL_CREATE_ROW, create), (FIRST_POOL_SHRINK_ROW, shrink)):
        again = p.model_dump(mode="json")
        assert {k: again[k] for k in row if k != "plan"} == {k: v for k, v in row.items() if k != "plan"}


def test_a_node_pool_row_that_cannot_resume_names_what_it_lacks() -> None:
    with pytest.raises(ValidationError, match="records the plan it was paid for"):
        NodePoolParams.model_validate({k: v for k, v in FIRST_POOL_CREATE_ROW.items() if k != "plan"})
    with pytest.raises(ValidationError, match="names the pool"):
        NodePoolParams.model_validate({k: v for k, v in FIRST_POOL_SHRINK_ROW.items() if k != "nodepool_id"})
    with pytest.raises(ValidationError, match="mode"):
        NodePoolParams.model_validate({**FIRST_POOL_SHRINK_ROW, "mode": "resize"})
