"""What run_job and deploy_acs send to the cluster, and what they refuse before sending anything."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from ack_compute.cloud.cs import AddonInfo
from ack_compute.cloud.kube_workloads import NodeView
from ack_compute.tools import acs_placement
from ack_compute.tools.deploy_acs import DeployRequest, costs_more, deployment_manifest, service_manifest
from ack_compute.tools.errors import AckComputeError
from ack_compute.tools.job_spec import JobRequest, config_map_manifest, job_manifest, resolve_image, tail
from ack_compute.tools.plans import AcsPlan

CLUSTER = "c" + "0" * 32


def request(**kw: object) -> JobRequest:
    return JobRequest.model_validate({"cluster": CLUSTER, "script": "echo hi", **kw})


def test_the_script_travels_in_a_config_map_not_on_the_command_line() -> None:
    secretish = "echo $TOKEN_THAT_MUST_NOT_BE_IN_ARGV; " + "x" * 5000
    req = request(script=secretish, script_type="python", env={"B": "2", "A": "1"}, timeout_seconds=120, retries=2)
    job = job_manifest(req, job_name="acf-job-abc", config_map="acf-job-abc-script", image="img", operation_id="op-1")
    cm = config_map_manifest(req, name="acf-job-abc-script", job_name="acf-job-abc", operation_id="op-1")
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python3", "-u", "/acf/script/run.py"]
    assert secretish not in json.dumps(container)
    assert cm["data"] == {"run.py": secretish}
    volumes = job["spec"]["template"]["spec"]["volumes"]
    assert volumes == [{"name": "script", "configMap": {"name": "acf-job-abc-script"}}]
    assert container["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    spec = job["spec"]
    assert (spec["backoffLimit"], spec["activeDeadlineSeconds"], spec["ttlSecondsAfterFinished"]) == (2, 120, 300)
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    for labels in (job["metadata"]["labels"], spec["template"]["metadata"]["labels"], cm["metadata"]["labels"]):
        assert labels["ack-compute-mcp/managed-by"] == "ack-compute-mcp"
        assert labels["ack-compute-mcp/run"] == "acf-job-abc"


def test_acs_jobs_carry_the_acs_labels_resources_and_virtual_node_placement() -> None:
    plan = AcsPlan(vcpu=2, memory_gib=4, hours=1)
    req = request(compute="acs", acs=plan.model_dump(), quote_token="t", timeout_seconds=3600)
    job = job_manifest(req, job_name="j", config_map="c", image="img", operation_id="op")
    pod = job["spec"]["template"]
    assert pod["metadata"]["labels"]["alibabacloud.com/acs"] == "true"
    assert pod["metadata"]["labels"]["alibabacloud.com/compute-class"] == "general-purpose"
    assert pod["metadata"]["labels"]["alibabacloud.com/compute-qos"] == "default"
    assert pod["spec"]["nodeSelector"] == {"type": "virtual-kubelet"}
    assert pod["spec"]["tolerations"] == [
        {"key": "virtual-kubelet.io/provider", "operator": "Exists", "effect": "NoSchedule"}
    ]
    resources = pod["spec"]["containers"][0]["resources"]
    assert resources["requests"] == resources["limits"] == {"cpu": "2", "memory": "4Gi"}


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"script": ""}, "script"),
        ({"script": "x" * (512 * 1024 + 1)}, "at most"),
        ({"env": {"1BAD NAME": "x"}}, "environment variable"),
        ({"namespace": "Not_A_Label"}, "namespace"),
        ({"timeout_seconds": 5}, "timeout_seconds"),
        ({"compute": "acs"}, "needs quote_id"),
        ({"quote_token": "abc"}, "only with compute=acs"),
        ({"compute": "acs", "acs": {"vcpu": 1, "memory_gib": 2, "replicas": 2}}, "replicas to 1"),
        ({"compute": "acs", "acs": {"vcpu": 1, "memory_gib": 2, "hours": 0.5}, "timeout_seconds": 3600}, "exceeds"),
        ({"image": "UPPER/Case"}, "image"),
        ({"cluster": "has spaces"}, "cluster"),
    ],
)
def test_bad_requests_are_refused_with_the_field_named(fields: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        request(**fields)
    assert fragment in str(caught.value)


def test_image_comes_from_the_cluster_registry_or_a_public_fallback_with_a_note() -> None:
    prefix = "registry-cn-hangzhou-vpc.ack.aliyuncs.com/acs"
    assert resolve_image("shell", prefix) == (f"{prefix}/busybox", None)
    assert resolve_image("python", prefix) == (f"{prefix}/python:3.10-slim", None)
    image, note = resolve_image("python", None)
    assert image.startswith("python:") and note and "internet" in note


def test_log_tail_is_bounded_by_lines_and_bytes_and_says_so() -> None:
    text = "".join(f"line {i}\n" for i in range(1000))
    kept, truncated = tail(text, 200, 1 << 20)
    assert truncated and kept.splitlines()[0] == "line 800" and kept.splitlines()[-1] == "line 999"
    kept, truncated = tail(text, 5000, 100)
    assert truncated and len(kept.encode()) <= 100 and kept.endswith("line 999\n")
    assert kept.startswith("line ")  # cut at a line boundary
    assert tail("a\nb\n", 200, 1024) == ("a\nb\n", False)


def test_deployment_manifest_routes_pods_to_acs_and_records_the_plan() -> None:
    plan = AcsPlan(replicas=3, vcpu=1, memory_gib=2, compute_class="gpu", gpu_model="A10", gpu_count=1)
    req = DeployRequest(cluster=CLUSTER, name="web", image="nginx:1.27", plan=plan, ports=[80, 443])
    body = deployment_manifest(req, plan, "op-1")
    template = body["spec"]["template"]
    assert body["spec"]["replicas"] == 3
    assert template["metadata"]["labels"]["alibabacloud.com/gpu-model-series"] == "A10"
    assert template["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert AcsPlan.model_validate(json.loads(body["metadata"]["annotations"]["ack-compute-mcp/plan"])) == plan
    assert body["spec"]["selector"]["matchLabels"].items() <= template["metadata"]["labels"].items()
    service = service_manifest(req, "op-1")
    assert [p["port"] for p in service["spec"]["ports"]] == [80, 443]
    assert service["spec"]["selector"] == body["spec"]["selector"]["matchLabels"]
    hpn = AcsPlan(vcpu=1, memory_gib=2, compute_class="gpu-hpn", gpu_model="H20", gpu_count=1)
    assert deployment_manifest(req, hpn, "op")["spec"]["template"]["spec"]["nodeSelector"] == {
        "alibabacloud.com/node-type": "reserved"
    }
    same = deployment_manifest(req, plan, "op-2")["metadata"]["annotations"]
    assert same["ack-compute-mcp/spec-sha256"] == body["metadata"]["annotations"]["ack-compute-mcp/spec-sha256"]


def test_a_new_quote_is_needed_only_when_the_plan_costs_more() -> None:
    base = AcsPlan(replicas=2, vcpu=1, memory_gib=2)
    assert not costs_more(base.model_copy(update={"replicas": 1}), base)
    assert not costs_more(base.model_copy(update={"hours": 100}), base)
    assert costs_more(base.model_copy(update={"replicas": 3}), base)
    assert costs_more(base.model_copy(update={"memory_gib": 4}), base)
    assert costs_more(base.model_copy(update={"qos": "best-effort"}), base)


def test_acs_prerequisites_say_what_to_do() -> None:
    with pytest.raises(AckComputeError, match="does not have the ack-virtual-node add-on"):
        acs_placement.check_addon([AddonInfo(name="coredns", version="v1.11")], "1.31.1-aliyun.1", "c1")
    with pytest.raises(AckComputeError, match=r"needs 2\.13\.0 or later"):
        acs_placement.check_addon([AddonInfo(name="ack-virtual-node", version="v2.12.4")], "1.31.1", "c1")
    with pytest.raises(AckComputeError, match=r"needs 1\.26 or later"):
        acs_placement.check_addon([AddonInfo(name="ack-virtual-node", version="v2.14.0")], "1.24.6-aliyun.1", "c1")
    acs_placement.check_addon([AddonInfo(name="ack-virtual-node", version="v2.13.0", state="active")], "1.26.3", "c1")
    plan = AcsPlan(vcpu=1, memory_gib=2)
    virtual = NodeView(name="virtual-kubelet-cn-hangzhou-k", labels={"type": "virtual-kubelet"}, ready=True)
    assert acs_placement.check_nodes(plan, [virtual], "c1") == ["virtual-kubelet-cn-hangzhou-k"]
    with pytest.raises(AckComputeError, match="no virtual nodes"):
        acs_placement.check_nodes(plan, [NodeView(name="n1", ready=True)], "c1")
    hpn = AcsPlan(vcpu=1, memory_gib=2, compute_class="gpu-hpn", gpu_model="H20", gpu_count=1)
    with pytest.raises(AckComputeError, match="capacity reservation"):
        acs_placement.check_nodes(hpn, [virtual], "c1")
