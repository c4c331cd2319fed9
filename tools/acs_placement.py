"""Putting pods on ACS compute: the labels, selector, toleration and resources a pod template needs, and the
prerequisites checked before anything is created (each failure says what to do).

ACK Pro and registered clusters reach ACS through the ACK Virtual Node add-on (>= 2.13.0 on Kubernetes >= 1.26);
its virtual nodes carry `type=virtual-kubelet` and the `virtual-kubelet.io/provider` NoSchedule taint, so ACS pods
select and tolerate them. GPU-HPN pods go to reserved nodes, which exist only with a capacity reservation. On an
ACK Serverless cluster every pod runs on virtual nodes, and pods without the ACS labels become ECI instances.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from ack_compute.cloud.cs import AddonInfo
from ack_compute.cloud.errors import CloudError
from ack_compute.cloud.kube_workloads import KubeWorkloads, NodeView
from ack_compute.tools.errors import AckComputeError, CloudFailure
from ack_compute.tools.plans import AcsPlan, EciPlan
from ack_compute.tools.targets import ClusterTarget, Targets

VIRTUAL_NODE_ADDON = "ack-virtual-node"
MIN_ADDON_VERSION = (2, 13, 0)
MIN_KUBERNETES = (1, 26)
VIRTUAL_NODE_LABEL = ("type", "virtual-kubelet")
VIRTUAL_NODE_TAINT_KEY = "virtual-kubelet.io/provider"
RESERVED_NODE_LABEL = ("alibabacloud.com/node-type", "reserved")
ACS_INSTANCE_ANNOTATION = "alibabacloud.com/instance-id"
ECI_INSTANCE_ANNOTATION = "k8s.aliyun.com/eci-instance-id"
# ECI pod annotations (seed 002); they apply only to pods that run on virtual nodes.
ECI_USE_SPECS = "k8s.aliyun.com/eci-use-specs"
ECI_SPOT_STRATEGY = "k8s.aliyun.com/eci-spot-strategy"
ECI_SPOT_PRICE_LIMIT = "k8s.aliyun.com/eci-spot-price-limit"
ECI_AUTO_IMAGE_CACHE = "k8s.aliyun.com/eci-auto-imc"
GPU_PREVIEW_NOTE = (
    "ACS GPU compute classes (gpu, gpu-hpn) are an invitational preview: the account must be enabled for them, "
    "otherwise the pods stay Pending."
)

SPOT_NOTE = (
    "Spot ECI pods can be reclaimed (after a one-hour protection period) when the market price rises above the "
    "limit or stock runs out; the Deployment then recreates them."
)


def parse_version(text: str) -> tuple[int, ...]:
    """'v2.13.0' -> (2, 13, 0); '1.31.1-aliyun.1' -> (1, 31, 1); unparseable -> ()."""
    match = re.match(r"^v?(\d+(?:\.\d+)*)", text.strip())
    return tuple(int(p) for p in match.group(1).split(".")) if match else ()


def acs_labels(plan: AcsPlan) -> dict[str, str]:
    labels = {
        "alibabacloud.com/acs": "true",
        "alibabacloud.com/compute-class": plan.compute_class,
        "alibabacloud.com/compute-qos": plan.qos,
    }
    if plan.gpu_model:
        labels["alibabacloud.com/gpu-model-series"] = plan.gpu_model
    return labels


def _quantity(value: float) -> str:
    return format(Decimal(str(value)).normalize(), "f")


def acs_resources(plan: AcsPlan | EciPlan) -> dict[str, dict[str, str]]:
    """Requests equal to limits: ACS and ECI bill the requested spec, so the quote and the pod say the same thing."""
    amounts = {"cpu": _quantity(plan.vcpu), "memory": f"{_quantity(plan.memory_gib)}Gi"}
    if isinstance(plan, AcsPlan) and plan.gpu_count:
        amounts["nvidia.com/gpu"] = str(plan.gpu_count)
    return {"requests": dict(amounts), "limits": dict(amounts)}


def eci_annotations(plan: EciPlan) -> dict[str, str]:
    """The pod annotations that make an ECI pod of exactly the quoted spec (then the fallbacks), spot and cache."""
    annotations = {ECI_USE_SPECS: ",".join([f"{_quantity(plan.vcpu)}-{_quantity(plan.memory_gib)}Gi", *plan.use_specs])}
    if plan.spot_strategy:
        annotations[ECI_SPOT_STRATEGY] = plan.spot_strategy
    if plan.spot_price_limit is not None:
        annotations[ECI_SPOT_PRICE_LIMIT] = _quantity(plan.spot_price_limit)
    if plan.image_cache:
        annotations[ECI_AUTO_IMAGE_CACHE] = "true"
    return annotations


def _is_hpn(plan: AcsPlan | EciPlan) -> bool:
    return isinstance(plan, AcsPlan) and plan.compute_class == "gpu-hpn"


def acs_placement(plan: AcsPlan | EciPlan) -> dict[str, Any]:
    """nodeSelector and tolerations for ACS and ECI pods: virtual nodes, or reserved nodes for gpu-hpn."""
    key, value = RESERVED_NODE_LABEL if _is_hpn(plan) else VIRTUAL_NODE_LABEL
    return {
        "nodeSelector": {key: value},
        "tolerations": [{"key": VIRTUAL_NODE_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}],
    }


@dataclass(frozen=True)
class AddonWork:
    """What ack-virtual-node needs before ACS pods can run: install it, upgrade it from `installed`, or wait for
    the install or upgrade already running (state `initial` or `upgrading`)."""

    action: Literal["install", "upgrade", "wait"]
    installed: str = ""
    state: str = ""


BUSY_ADDON_STATES = ("initial", "upgrading", "updating")
# How to get the add-on where this server does not install it (a cluster it did not create).
INSTALL_BY_HAND = (
    f"Install {VIRTUAL_NODE_ADDON} 2.13.0 or later in the ACK console (cluster > Add-ons > {VIRTUAL_NODE_ADDON} > "
    "Install) or with InstallClusterAddons; it is free. Then retry. Nothing was created."
)


def addon_work(addons: list[AddonInfo], kubernetes_version: str, cluster: str) -> AddonWork | None:
    """ACS through virtual nodes needs ack-virtual-node >= 2.13.0 on Kubernetes >= 1.26: None when it is there and
    active, else what is missing. A Kubernetes version that is too old is no add-on's to fix and refuses."""
    kube = parse_version(kubernetes_version)
    if kube and kube[:2] < MIN_KUBERNETES:
        raise AckComputeError(
            f"Cluster {cluster} runs Kubernetes {kubernetes_version}; ACS compute needs 1.26 or later.",
            "Upgrade the cluster (ACK console or UpgradeCluster), or use a newer cluster. Nothing was created.",
        )
    found = next((a for a in addons if a.name == VIRTUAL_NODE_ADDON), None)
    if found is None:
        return AddonWork("install")
    state = (found.state or "").lower()
    if state in BUSY_ADDON_STATES:
        return AddonWork("wait", found.version, state)
    if parse_version(found.version) < MIN_ADDON_VERSION:
        return AddonWork("upgrade", found.version, state)
    if state and state not in ("active", "running", "installed"):
        raise AckComputeError(
            f"The {VIRTUAL_NODE_ADDON} add-on of cluster {cluster} is {found.state}.",
            "Repair it in the ACK console (cluster > Add-ons), wait until it is active, then retry. Nothing was "
            "created.",
        )
    return None


def check_addon(addons: list[AddonInfo], kubernetes_version: str, cluster: str) -> None:
    """The refusal on a cluster this server may not change: what is missing and how to get it by hand."""
    work = addon_work(addons, kubernetes_version, cluster)
    if work is None:
        return
    if work.action == "install":
        raise AckComputeError(
            f"Cluster {cluster} does not have the {VIRTUAL_NODE_ADDON} add-on, which ACS compute needs; this server "
            "installs it only on clusters it created.",
            INSTALL_BY_HAND,
        )
    if work.action == "upgrade":
        raise AckComputeError(
            f"Cluster {cluster} has {VIRTUAL_NODE_ADDON} {work.installed}; ACS compute needs 2.13.0 or later, and "
            "this server upgrades it only on clusters it created.",
            f"Upgrade {VIRTUAL_NODE_ADDON} in the ACK console (cluster > Add-ons > {VIRTUAL_NODE_ADDON} > Upgrade) "
            "or with UpgradeClusterAddons; it is free. Then retry. Nothing was created.",
        )
    raise AckComputeError(
        f"The {VIRTUAL_NODE_ADDON} add-on of cluster {cluster} is being installed or upgraded ({work.state}).",
        "Wait a few minutes until it is active, then retry. Nothing was created.",
    )


def check_pro(target: ClusterTarget) -> None:
    """ACS pods reach an ACK managed cluster through ack-virtual-node, which this server uses on ACK Pro
    (cluster_spec ack.pro.small); on ACK Basic (ack.standard) it says so before any quote is spent."""
    if target.kind == "ack" and target.info is not None and target.info.cluster_spec == "ack.standard":
        label = target.name or target.key
        raise AckComputeError(
            f"ACS compute needs an ACK Pro cluster; this one is ACK Basic ({label}, cluster_spec ack.standard).",
            "Use an ACK Pro or ACK Serverless cluster (estimate_cost a plan with edition pro, or kind serverless, "
            "then ensure_cluster with a new name and that quote_id), or run on this cluster's own nodes (run_job "
            "compute=nodes). Nothing was created and no quote was spent.",
        )


def check_nodes(plan: AcsPlan | EciPlan, nodes: list[NodeView], cluster: str) -> list[str]:
    """The nodes ACS or ECI pods would land on exist; returns the virtual node names."""
    key, value = RESERVED_NODE_LABEL if _is_hpn(plan) else VIRTUAL_NODE_LABEL
    targets = [n for n in nodes if n.labels.get(key) == value]
    if _is_hpn(plan) and not targets:
        raise AckComputeError(
            f"Cluster {cluster} has no reserved GPU-HPN nodes (label {key}={value}); gpu-hpn pods run only on a "
            "capacity reservation.",
            "Buy a GPU-HPN capacity reservation for this cluster, or use compute_class gpu. Nothing was created.",
        )
    if not targets:
        raise AckComputeError(
            f"Cluster {cluster} has no virtual nodes (label {key}={value}), so {plan.kind.upper()} pods cannot be "
            "placed.",
            f"Install or repair the {VIRTUAL_NODE_ADDON} add-on (2.13.0 or later). Nothing was created.",
        )
    if not any(n.ready for n in targets):
        raise AckComputeError(
            f"The virtual nodes of cluster {cluster} are not Ready ({', '.join(n.name for n in targets)}).",
            f"Check the {VIRTUAL_NODE_ADDON} add-on, then retry. Nothing was created.",
        )
    return [n.name for n in targets]


def check_worker_nodes(nodes: list[NodeView], cluster: str) -> None:
    """compute=nodes on a cluster we know only through a kubeconfig context: if it has virtual nodes and no worker
    node (an ACK Serverless cluster, say, where "pods ... are automatically scheduled to ECI",
    www.alibabacloud.com/help/en/ack/serverless-kubernetes/user-guide/configure-eci-profile), every pod is billed."""
    key, value = VIRTUAL_NODE_LABEL
    virtual = [n for n in nodes if n.labels.get(key) == value]
    if virtual and not any(n.labels.get(key) != value for n in nodes):
        raise AckComputeError(
            f"Cluster {cluster} has no worker nodes, only virtual nodes, where every pod runs as a billed ACS or ECI "
            "instance; compute=nodes runs only on the cluster's own nodes at no new cost.",
            "Run it with compute=acs and a quote (estimate_cost with an acs plan, replicas 1), or add worker nodes. "
            "Nothing was created.",
        )


def acs_notes(plan: AcsPlan | EciPlan) -> list[str]:
    if isinstance(plan, EciPlan):
        return [SPOT_NOTE] if plan.spot_strategy else []
    return [GPU_PREVIEW_NOTE] if plan.compute_class in ("gpu", "gpu-hpn") else []


def check_ready(
    targets: Targets,
    target: ClusterTarget,
    workloads: KubeWorkloads,
    plan: AcsPlan | EciPlan,
    *,
    may_install: bool = False,
) -> AddonWork | None:
    """Can these pods run here at all: ACK Pro, the virtual node add-on and Kubernetes version on ACK (ACK
    Serverless has them built in), then Ready virtual nodes everywhere. Checked before any quote is spent or any
    person asked. `may_install` (a cluster this server created and this caller owns): a missing or old add-on is
    returned as work to do first instead of refused; the virtual nodes are then checked once it is done."""
    label = target.name or target.key
    if isinstance(plan, EciPlan) and target.kind != "serverless":
        raise AckComputeError(
            f"Cluster {label} is not an ACK Serverless cluster; eci plans run only there. ECI through virtual nodes "
            "on ACK Pro (or a registered cluster) is not supported by this server yet.",
            "Quote an acs plan (kind=acs) for this cluster instead, or deploy the eci plan to an ACK Serverless "
            "cluster. Nothing was created.",
        )
    check_pro(target)
    if target.cluster_id is not None and target.kind != "serverless":
        try:
            addons = targets.cs.list_addons(target.cluster_id, target.region)
        except CloudError as exc:
            raise CloudFailure(str(exc), "Nothing was created; retry when the cloud answers.") from None
        version = target.info.current_version if target.info else ""
        work = addon_work(addons, version, label)
        if work is not None and may_install and not _is_hpn(plan):
            return work
        check_addon(addons, version, label)
    try:
        nodes = workloads.nodes()
    except CloudError as exc:
        raise CloudFailure(str(exc), "Nothing was created; check the cluster's API and retry.") from None
    check_nodes(plan, nodes, label)
    return None


def check_before_asking(targets: Targets, cluster: str, plan: AcsPlan | EciPlan, timeout_s: float) -> None:
    """`check_ready` from a cluster reference, for the consent question: nobody is asked to pay for pods that
    cannot run. Raises what the tool itself would raise."""
    target = targets.resolve(cluster, plan.region)
    access = targets.access(target, timeout_s=timeout_s)
    try:
        check_ready(targets, target, KubeWorkloads(access), plan)
    finally:
        access.close()
