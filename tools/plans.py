"""Plans: the exact things a quote pays for, normalised so one plan has exactly one digest."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Any, Literal, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

INSTANCE_TYPE_PATTERN = r"^ecs\.[a-z0-9]+(-[a-z0-9]+)*\.[a-z0-9]+$"
REGION_PATTERN = r"^[a-z]{2,3}(-[a-z0-9]+)+$"
# A cluster as a plan names it: an ACK cluster id or name (tools/targets.py CLUSTER_REF_PATTERN without context:).
CLUSTER_PATTERN = r"^[0-9A-Za-z\u4e00-\u9fa5][0-9A-Za-z\u4e00-\u9fa5-]{0,62}$"
# Kubernetes label syntax (kubernetes.io/docs/concepts/overview/working-with-objects/labels/#syntax-and-character-set):
# an optional DNS-subdomain prefix and a name of up to 63 characters; values up to 63 characters, may be empty.
LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
RESERVED_LABEL_PREFIXES = ("ack-compute", "kubernetes.io/", "k8s.io/", "alibabacloud.com/", "node.kubernetes.io/")
# Minimum ESSD size per performance level (GiB): PL2 and PL3 need big disks to exist at all.
ESSD_MIN_SIZE = {"PL0": 1, "PL1": 20, "PL2": 461, "PL3": 1261}


InstanceTypes = list[Annotated[str, Field(pattern=INSTANCE_TYPE_PATTERN)]]


def _instance_types(description: str) -> Any:
    """A cluster's and a pool's ECS types, one rule: one to ten, by preference, ecs.g7.xlarge when not given."""
    return Field(default_factory=lambda: ["ecs.g7.xlarge"], min_length=1, max_length=10, description=description)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Disk(_Strict):
    category: Literal["cloud_essd", "cloud_ssd", "cloud_efficiency"] = "cloud_essd"
    size_gib: int
    performance_level: Literal["PL0", "PL1", "PL2", "PL3"] | None = Field(
        None, description="cloud_essd only (default PL1)."
    )

    @model_validator(mode="after")
    def _performance_level_fits(self) -> _Disk:
        if self.category != "cloud_essd":
            if self.performance_level is not None:
                raise ValueError(f"performance_level applies only to cloud_essd, not {self.category}")
            return self
        if self.performance_level is None:
            object.__setattr__(self, "performance_level", "PL1")  # the cloud's default, made explicit
        minimum = ESSD_MIN_SIZE[self.performance_level or "PL1"]
        if self.size_gib < minimum:
            raise ValueError(f"ESSD {self.performance_level} needs size_gib >= {minimum}, got {self.size_gib}")
        return self


class SystemDisk(_Disk):
    size_gib: int = Field(120, ge=40, le=500, description="System disk size in GiB, 40..500.")


class DataDisk(_Disk):
    size_gib: int = Field(ge=20, le=32768, description="Data disk size in GiB, 20..32768.")


class _PlanBase(_Strict):
    region: str | None = Field(
        None, pattern=REGION_PATTERN, description="Region, e.g. cn-hangzhou; default: the server's."
    )
    hours: float = Field(1.0, gt=0, le=8760, description="Hours the total covers.")


class ClusterPlan(_PlanBase):
    """An ACK managed cluster with one worker node pool."""

    kind: Literal["cluster"] = "cluster"
    edition: Literal["basic", "pro"] = Field("basic", description="pro (ack.pro.small) adds an hourly fee.")
    instance_types: InstanceTypes = _instance_types("ECS types by preference, e.g. ['ecs.g7.xlarge'].")
    node_count: int = Field(2, ge=0, le=100, description="Nodes, 0..100.")
    system_disk: SystemDisk = Field(default_factory=SystemDisk)
    data_disks: list[DataDisk] = Field(default_factory=list, max_length=16)
    zone: str | None = Field(None, pattern=REGION_PATTERN, description="Zone, e.g. cn-hangzhou-h.")
    new_vpc_with_snat: bool = Field(
        False, description="New VPC with SNAT (billed NAT gateway + EIP) for internet access."
    )

    @field_validator("instance_types", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        if isinstance(value, list):
            return [v.strip().lower() if isinstance(v, str) else v for v in value]
        return value

    @field_validator("instance_types")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        seen = {t for t in value if value.count(t) > 1}
        if seen:
            raise ValueError(f"instance types listed twice: {sorted(seen)}")
        return value

    @model_validator(mode="after")
    def _zone_in_region(self) -> ClusterPlan:
        _check_zone(self.zone, self.region)
        return self


class ServerlessPlan(_PlanBase):
    """An ACK Serverless cluster: no worker nodes; its pods run on virtual nodes and are billed per pod."""

    kind: Literal["serverless"] = "serverless"
    edition: Literal["basic", "pro"] = Field(
        "basic",
        description="basic = ACK Serverless Basic (no management fee); pro = ACK Serverless Pro (hourly fee).",
    )
    zone: str | None = Field(
        None,
        pattern=REGION_PATTERN,
        description="Zone of the vSwitch (and so of the virtual node), e.g. cn-hangzhou-h.",
    )
    new_vpc_with_snat: bool = Field(
        False, description="A new VPC with SNAT (NAT gateway + EIP) is needed for the pods' outbound internet access."
    )

    @model_validator(mode="after")
    def _zone_in_region(self) -> ServerlessPlan:
        _check_zone(self.zone, self.region)
        return self


def _check_zone(zone: str | None, region: str | None) -> None:
    if zone and region and not zone.startswith(region):
        raise ValueError(f"zone {zone} is not in region {region}")


class AcsPlan(_PlanBase):
    """Serverless ACS pods: replicas x (vCPU, memory, GPUs) for a number of hours."""

    kind: Literal["acs"] = "acs"
    replicas: int = Field(1, ge=1, le=1000)
    vcpu: float = Field(ge=0.25, le=128, multiple_of=0.25, description="vCPU per pod.")
    memory_gib: float = Field(ge=0.5, le=1024, multiple_of=0.5, description="Memory per pod in GiB.")
    compute_class: Literal["general-purpose", "gpu", "gpu-hpn"] = "general-purpose"
    qos: Literal["default", "best-effort"] = "default"
    gpu_model: str | None = Field(None, min_length=1, max_length=64, description="GPU model, e.g. A10.")
    gpu_count: int = Field(0, ge=0, le=16, description="GPUs per pod.")

    @model_validator(mode="after")
    def _gpu_consistent(self) -> AcsPlan:
        wants_gpu = self.compute_class in ("gpu", "gpu-hpn")
        if wants_gpu and (self.gpu_count < 1 or not self.gpu_model):
            raise ValueError(f"compute_class {self.compute_class} needs gpu_model and gpu_count >= 1")
        if not wants_gpu and (self.gpu_count or self.gpu_model):
            raise ValueError("gpu_model/gpu_count need compute_class gpu or gpu-hpn")
        return self


# The vCPU/memory specs ECI offers in every region (vCPU -> GiB); others are rounded up by ECI and billed as such,
# so a plan must name one exactly for its quote to be what is billed.
ECI_SPECS: dict[float, tuple[float, ...]] = {
    0.25: (0.5, 1),
    0.5: (1, 2),
    1: (2, 4, 8),
    2: (1, 2, 4, 8, 16),
    4: (2, 4, 8, 16, 32),
    8: (4, 8, 16, 32, 64),
    12: (12, 24, 48, 96),
    16: (16, 32, 64, 128),
    24: (24, 48, 96, 192),
    32: (32, 64, 128, 256),
    52: (96, 192, 384),
    64: (128, 256, 512),
}
# An extra spec for k8s.aliyun.com/eci-use-specs: "<vcpu>-<mem>Gi" or an ECS instance type.
ECI_USE_SPEC_PATTERN = r"^(\d+(\.\d+)?-\d+(\.\d+)?Gi|ecs\.[a-z0-9]+(-[a-z0-9]+)*\.[a-z0-9]+)$"


def nearest_eci_specs(vcpu: float, memory_gib: float, count: int = 3) -> list[tuple[float, float]]:
    """What ECI would round the spec up to, then the closest others (relative distance in both dimensions)."""
    pairs = [(c, m) for c, sizes in ECI_SPECS.items() for m in sizes]
    covering = sorted(p for p in pairs if p[0] >= vcpu and p[1] >= memory_gib)[:1]

    def distance(p: tuple[float, float]) -> float:
        return abs(p[0] - vcpu) / max(vcpu, 0.25) + abs(p[1] - memory_gib) / max(memory_gib, 0.5)

    return covering + [p for p in sorted(pairs, key=distance) if p not in covering][: count - len(covering)]


class EciPlan(_PlanBase):
    """ECI pods on an ACK Serverless cluster: replicas x one supported (vCPU, memory) spec, optionally spot."""

    kind: Literal["eci"] = "eci"
    replicas: int = Field(1, ge=1, le=1000)
    vcpu: float = Field(gt=0, le=64, description="vCPU per pod; with memory_gib one of ECI's supported specs.")
    memory_gib: float = Field(gt=0, le=512, description="Memory per pod in GiB, e.g. 2 vCPU with 1, 2, 4, 8 or 16.")
    spot_strategy: Literal["SpotAsPriceGo", "SpotWithPriceLimit"] | None = Field(
        None, description="Preemptible pods; SpotWithPriceLimit needs spot_price_limit."
    )
    spot_price_limit: float | None = Field(None, gt=0, le=1000, description="Max price per pod-hour.")
    use_specs: list[Annotated[str, Field(pattern=ECI_USE_SPEC_PATTERN)]] = Field(
        default_factory=list,
        max_length=5,
        description="Fallback specs, e.g. ['4-8Gi'] or ECS types.",
    )
    image_cache: bool = Field(False, description="Use ECI image caches (eci-auto-imc).")

    @model_validator(mode="after")
    def _valid(self) -> EciPlan:
        if self.memory_gib not in ECI_SPECS.get(self.vcpu, ()):
            nearest = ", ".join(f"{c:g} vCPU/{m:g} GiB" for c, m in nearest_eci_specs(self.vcpu, self.memory_gib))
            raise ValueError(
                f"ECI has no {self.vcpu:g} vCPU / {self.memory_gib:g} GiB spec; nearest supported: {nearest}"
            )
        if (self.spot_strategy == "SpotWithPriceLimit") != (self.spot_price_limit is not None):
            raise ValueError("spot_price_limit is required with spot_strategy SpotWithPriceLimit, and only then")
        if self.spot_price_limit is not None and round(self.spot_price_limit, 3) != self.spot_price_limit:
            raise ValueError("spot_price_limit takes at most 3 decimal places")
        for spec in self.use_specs:
            if not spec.startswith("ecs."):
                cpu, memory = (float(x) for x in spec.removesuffix("Gi").split("-"))
                if memory not in ECI_SPECS.get(cpu, ()):
                    nearest = ", ".join(f"{c:g}-{m:g}Gi" for c, m in nearest_eci_specs(cpu, memory))
                    raise ValueError(f"use_specs: ECI has no {spec} spec; nearest supported: {nearest}")
        own = f"{self.vcpu:g}-{self.memory_gib:g}Gi"
        if own in self.use_specs or len(set(self.use_specs)) != len(self.use_specs):
            raise ValueError(f"use_specs lists a spec twice (the plan's own spec {own} comes first by itself)")
        return self


class NodePoolPlan(_PlanBase):
    """A node pool on an existing ACK cluster: node_count x one of the instance types, with their disks."""

    kind: Literal["node_pool"] = "node_pool"
    cluster: str | None = Field(None, pattern=CLUSTER_PATTERN, description="Cluster id or name.")
    instance_types: InstanceTypes = _instance_types(
        "ECS types in order of preference, e.g. ['ecs.gn7i-c8g1.2xlarge'] (GPU)."
    )
    # The same field as a cluster's (one published shape); a pool plan buys at least one node (checked below).
    node_count: int = Field(2, ge=0, le=100, description="Nodes bought, 1..100 (for growth: the nodes added).")
    system_disk: SystemDisk = Field(default_factory=SystemDisk)
    data_disks: list[DataDisk] = Field(default_factory=list, max_length=16)
    spot_strategy: Literal["SpotAsPriceGo", "SpotWithPriceLimit"] | None = Field(
        None, description="Spot nodes (SpotAsPriceGo: the market price, never above pay-as-you-go; may be reclaimed)."
    )
    labels: dict[str, str] = Field(default_factory=dict, max_length=20, description="Node labels.")

    _lower = field_validator("instance_types", mode="before")(ClusterPlan._lower.__func__)  # type: ignore[attr-defined]
    _unique = field_validator("instance_types")(ClusterPlan._unique.__func__)  # type: ignore[attr-defined]

    @property
    def zone(self) -> None:
        """A pool's zones are its cluster's vSwitches': the plan names none (pricing reads it as a cluster's)."""
        return None

    @field_validator("node_count")
    @classmethod
    def _some_nodes(cls, value: int) -> int:
        if value < 1:
            raise ValueError("a node_pool plan buys at least 1 node (to shrink a pool, call ensure_node_pool)")
        return value

    @field_validator("spot_strategy")
    @classmethod
    def _spot_as_price_go(cls, value: str | None) -> str | None:
        if value == "SpotWithPriceLimit":
            raise ValueError("a node pool takes spot_strategy SpotAsPriceGo only (no per-type price limits here)")
        return value

    @field_validator("labels")
    @classmethod
    def _label_keys(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [k for k, v in value.items() if not LABEL_KEY.match(k) or not LABEL_VALUE.match(v)]
        if bad:
            raise ValueError(
                f"labels {bad}: keys like team or example.com/team, values up to 63 letters, digits, '-', '_', '.'"
            )
        reserved = [k for k in value if k.startswith(RESERVED_LABEL_PREFIXES)]
        if reserved:
            raise ValueError(f"labels {reserved}: these prefixes are the server's and the cloud's own")
        return value


AnyPlan = ClusterPlan | AcsPlan | ServerlessPlan | EciPlan | NodePoolPlan
Plan = Annotated[AnyPlan, Field(discriminator="kind")]
# Every field any plan takes: a tool given one beside its plan is told where it belongs (server/errors.py).
PLAN_FIELDS = frozenset(f for model in get_args(AnyPlan) for f in model.model_fields)
# The same by plan kind: a near miss is matched against the fields of the kind it was given in.
FIELDS_BY_KIND = {model.model_fields["kind"].default: frozenset(model.model_fields) for model in get_args(AnyPlan)}
# What ensure_cluster creates: a cluster with nodes or a Serverless one, told apart by `kind`.
AnyClusterPlan = Annotated[ClusterPlan | ServerlessPlan, Field(discriminator="kind")]
P = TypeVar("P", ClusterPlan, AcsPlan, ServerlessPlan, EciPlan, NodePoolPlan)


SNAT_PURCHASE = "a new VPC with a NAT gateway and an EIP, billed hourly until cleanup"


def network_purchase(plan: AnyPlan) -> str:
    """What a cluster plan buys besides the cluster, in the person's words ("" if nothing): the consent
    question names it, because new_vpc_with_snat makes ACK buy a NAT gateway and an EIP (CreateCluster
    snat_entry)."""
    return SNAT_PURCHASE if isinstance(plan, ClusterPlan | ServerlessPlan) and plan.new_vpc_with_snat else ""


def normalise(plan: P, default_region: str) -> P:
    """Fill server defaults so the plan that is priced is the plan that is digested and created."""
    plan = plan if plan.region else plan.model_copy(update={"region": default_region})
    # Re-validate: the default region must also agree with the zone.
    return type(plan).model_validate(plan.model_dump())


def canonical_json(plan: AnyPlan) -> str:
    return json.dumps(plan.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def plan_digest(plan: AnyPlan) -> str:
    return hashlib.sha256(canonical_json(plan).encode()).hexdigest()


def plan_differences(quoted: dict[str, object], given: dict[str, object], prefix: str = "") -> list[str]:
    """Field paths whose values differ, so a refused agent knows exactly what it changed."""
    out: list[str] = []
    for key in sorted(set(quoted) | set(given)):
        a, b = quoted.get(key), given.get(key)
        path = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            out.extend(plan_differences(a, b, f"{path}."))
        elif a != b:
            out.append(f"{path}: quoted {json.dumps(a)}, given {json.dumps(b)}")
    return out
