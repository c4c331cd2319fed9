"""Network preparation for a new cluster: reuse or create the `acf-vpc` VPC and a vSwitch in the zone,
and choose pod/service CIDRs that overlap neither the VPC nor each other (CreateCluster rejects that)."""

from __future__ import annotations

import functools
import ipaddress
import uuid
from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel

from ack_compute.cloud.retry import Waits, while_token_processing
from ack_compute.cloud.vpc import VpcInfo, VpcNetworks
from ack_compute.tools.errors import AckComputeError
from ack_compute.tools.ownership import NAME_PREFIX, Claim, NameBusy, OwnedResource, Ownership, ResourceKind

T = TypeVar("T")
VPC_NAME = f"{NAME_PREFIX}vpc"
VPC_CIDR = "192.168.0.0/16"
# Where pod and service ranges may come from. CreateCluster (alibabacloud_cs20151215 CreateClusterRequest doc):
# container_cidr "must be a valid private CIDR block, specifically ... 10.0.0.0/8, 172.16-31.0.0/12-16, and
# 192.168.0.0/16" and subnets; service_cidr "Valid ranges: 10.0.0.0/16-24, 172.16-31.0.0/16-24, and
# 192.168.0.0/16-24"; neither may overlap the VPC or any cluster already in the VPC. We take a /16 for pods
# (256 nodes at Flannel's /24 per node) and a /20 for services (4096, ACK's default size, 172.19.0.0/20).
PRIVATE_BLOCKS = ("172.16.0.0/12", "10.0.0.0/8", "192.168.0.0/16")
POD_PREFIX = 16
SERVICE_PREFIX = 20
# ACK's documented defaults come first, so the first cluster in a VPC looks like one made in the console.
PREFERRED_POD = "172.20.0.0/16"
PREFERRED_SERVICE = "172.21.0.0/20"


class NetworkChoice(BaseModel):
    vpc_id: str
    vpc_cidr: str
    vswitch_id: str
    zone: str
    container_cidr: str
    service_cidr: str
    created: list[str]  # cloud ids this step created (the rest was reused)


class NetworkUnavailable(AckComputeError):
    pass


def overlaps(a: str, b: str) -> bool:
    return ipaddress.ip_network(a).overlaps(ipaddress.ip_network(b))


def free_subnet(vpc_cidr: str, used: list[str], prefix: int = 24) -> str | None:
    """The first /prefix inside the VPC that no existing vSwitch overlaps."""
    taken = [ipaddress.ip_network(u) for u in used]
    for candidate in ipaddress.ip_network(vpc_cidr).subnets(new_prefix=prefix):
        if not any(candidate.overlaps(t) for t in taken):
            return str(candidate)
    return None


@functools.cache
def _candidates(prefix: int, preferred: str) -> tuple[ipaddress.IPv4Network, ...]:
    """Every /prefix of the private blocks, starting at `preferred` and wrapping round within its block."""
    out: list[ipaddress.IPv4Network] = []
    for block in PRIVATE_BLOCKS:
        subnets = list(ipaddress.IPv4Network(block).subnets(new_prefix=prefix))
        first = ipaddress.IPv4Network(preferred)
        at = next((i for i, n in enumerate(subnets) if n == first), 0)
        out += subnets[at:] + subnets[:at]
    return tuple(out)


def _first_free(candidates: tuple[ipaddress.IPv4Network, ...], busy: list[ipaddress.IPv4Network]) -> str | None:
    spans = sorted((int(b.network_address), int(b.broadcast_address)) for b in busy)
    for c in candidates:
        lo, hi = int(c.network_address), int(c.broadcast_address)
        if not any(a <= hi and lo <= b for a, b in spans):
            return str(c)
    return None


def cluster_cidrs(vpc_cidr: str, taken: list[str] | None = None) -> tuple[str, str]:
    """A pod /16 and a service /20 from the whole private space, clear of the VPC, of each other and of every
    cluster already in the VPC (ACK refuses overlaps)."""
    busy = [ipaddress.ip_network(c, strict=False) for c in [vpc_cidr, *(taken or [])]]
    busy4 = [b for b in busy if isinstance(b, ipaddress.IPv4Network)]
    pod = _first_free(_candidates(POD_PREFIX, PREFERRED_POD), busy4)
    service = (
        _first_free(_candidates(SERVICE_PREFIX, PREFERRED_SERVICE), [*busy4, ipaddress.IPv4Network(pod)])
        if pod
        else None
    )
    if pod is None or service is None:
        raise NetworkUnavailable(
            f"No free /{POD_PREFIX} for pods and /{SERVICE_PREFIX} for services is left in the private address "
            f"space beside the VPC {vpc_cidr} and the {len(taken or [])} pod and service ranges of the clusters "
            "already in it.",
            "Delete a cluster in that VPC you no longer need, or create the cluster in another VPC.",
        )
    return pod, service


def prepare_network(
    vpcs: VpcNetworks,
    ownership: Ownership,
    operation_id: str,
    region: str,
    zone: str,
    tags: dict[str, str],
    progress: Callable[[str], None] = lambda _: None,
    wait_timeout_s: float = 120.0,
    cidrs_in_vpc: Callable[[str], list[str]] = lambda _: [],
) -> NetworkChoice:
    """Idempotent per operation: resumed after a crash, it finds its own intent rows and repeats their
    create calls with the same client token, which the cloud answers with what the first call made."""
    created: list[str] = []
    _adopt_own(vpcs, ownership, operation_id, region, tags)
    vpc = _existing_vpc(vpcs, region)
    if vpc is None:
        progress(f"creating VPC {VPC_NAME} ({VPC_CIDR})")
        row = _claim(ownership, operation_id, "vpc", region, VPC_NAME, {"cidr": VPC_CIDR})
        if row is None:  # another operation is creating acf-vpc right now: use it when it is ready
            vpc = _wait_named_vpc(vpcs, region, wait_timeout_s)
            ownership.record_reuse(operation_id, "vpc", region, vpc.name, vpc.vpc_id)
        else:
            vpc_id = row.cloud_id or while_token_processing(
                lambda: vpcs.create_vpc(
                    region, name=VPC_NAME, cidr_block=VPC_CIDR, tags=tags, client_token=row.client_token
                ),
                wait_timeout_s,
            )
            ownership.update(row.resource_id, state="creating", cloud_id=vpc_id)
            vpc = _wait_available(vpcs, region, vpc_id, wait_timeout_s)
            ownership.update(row.resource_id, state="ready")
            created.append(vpc_id)
    elif vpc.vpc_id in ownership.owned_cloud_ids("vpc") and not _owned_by(ownership, operation_id, vpc.vpc_id):
        pass  # made by another of our operations: it stays that operation's, for cleanup to remove after the cluster
    elif not _owned_by(ownership, operation_id, vpc.vpc_id):
        ownership.record_reuse(operation_id, "vpc", region, vpc.name, vpc.vpc_id)
    else:
        _mark_ready(ownership, operation_id, vpc.vpc_id)
    siblings = vpcs.vswitches(region, vpc.vpc_id)
    name = f"{NAME_PREFIX}vsw-{zone}"
    mine = next((s for s in siblings if _owned_by(ownership, operation_id, s.vswitch_id)), None)
    in_zone = [s for s in siblings if s.zone_id == zone and s.available_ips > 0]
    if mine is not None:
        vswitch_id = mine.vswitch_id
        if mine.status != "Available":
            _wait_vswitch(vpcs, region, vpc.vpc_id, vswitch_id, wait_timeout_s)
        _mark_ready(ownership, operation_id, vswitch_id)
    elif in_zone:
        vswitch_id = max(in_zone, key=lambda s: s.available_ips).vswitch_id
        if vswitch_id not in ownership.owned_cloud_ids("vswitch"):  # another of our operations' stays theirs
            ownership.record_reuse(operation_id, "vswitch", region, vswitch_id, vswitch_id, {"zone": zone})
    else:
        row = _claim(ownership, operation_id, "vswitch", region, name, {"zone": zone, "vpc_id": vpc.vpc_id})
        if row is None:
            raise NetworkUnavailable(
                f"Another operation is creating vSwitch {name} right now.", "Retry in a minute; it will then be reused."
            )
        cidr = row.details.get("cidr") or free_subnet(vpc.cidr_block, [s.cidr_block for s in siblings])
        if cidr is None:
            ownership.update(row.resource_id, state="abandoned")
            raise NetworkUnavailable(
                f"VPC {vpc.vpc_id} ({vpc.cidr_block}) has no free /24 for a vSwitch in {zone}.",
                "Free a vSwitch in that VPC or choose another zone.",
            )
        ownership.update(row.resource_id, state="intent", details={"cidr": cidr})
        progress(f"creating vSwitch {name} ({cidr})")
        vswitch_id = row.cloud_id or while_token_processing(
            lambda: vpcs.create_vswitch(
                region,
                vpc_id=vpc.vpc_id,
                zone=zone,
                cidr_block=cidr,
                name=name,
                tags=tags,
                client_token=row.client_token,
            ),
            wait_timeout_s,
        )
        ownership.update(row.resource_id, state="creating", cloud_id=vswitch_id)
        _wait_vswitch(vpcs, region, vpc.vpc_id, vswitch_id, wait_timeout_s)
        ownership.update(row.resource_id, state="ready")
        created.append(vswitch_id)
    pod, service = cluster_cidrs(vpc.cidr_block, cidrs_in_vpc(vpc.vpc_id))
    return NetworkChoice(
        vpc_id=vpc.vpc_id,
        vpc_cidr=vpc.cidr_block,
        vswitch_id=vswitch_id,
        zone=zone,
        container_cidr=pod,
        service_cidr=service,
        created=created,
    )


def _adopt_own(vpcs: VpcNetworks, ownership: Ownership, operation_id: str, region: str, tags: dict[str, str]) -> None:
    """After a crash while CreateVpc/CreateVSwitch was in flight, the resource may exist with this operation's
    tags while its intent row has no id: write the id into that row, so the resumed operation sees it as its
    own (not as something to reuse) and cleanup deletes it."""
    pending = [
        r
        for r in ownership.all()
        if r.operation_id == operation_id
        and r.kind in ("vpc", "vswitch")
        and r.cloud_id is None
        and r.state == "intent"
    ]
    if not pending:
        return

    def tagged(found: dict[str, str]) -> bool:
        return all(found.get(k) == v for k, v in tags.items())

    for row in pending:
        if row.kind == "vpc":
            match = next((v.vpc_id for v in vpcs.vpcs(region, name=row.name) if tagged(v.tags)), None)
        else:
            vpc_id = str(row.details.get("vpc_id") or "")
            found = vpcs.vswitches(region, vpc_id) if vpc_id else []
            match = next((v.vswitch_id for v in found if v.name == row.name and tagged(v.tags)), None)
        if match:
            ownership.update(row.resource_id, state="creating", cloud_id=match)


def _existing_vpc(vpcs: VpcNetworks, region: str) -> VpcInfo | None:
    return next((v for v in vpcs.vpcs(region, name=VPC_NAME) if v.name == VPC_NAME and v.status == "Available"), None)


def _mark_ready(ownership: Ownership, operation_id: str, cloud_id: str) -> None:
    for row in ownership.all():
        if row.operation_id == operation_id and row.cloud_id == cloud_id and row.state in ("intent", "creating"):
            ownership.update(row.resource_id, state="ready")


def _owned_by(ownership: Ownership, operation_id: str, cloud_id: str) -> bool:
    return any(r.cloud_id == cloud_id and r.operation_id == operation_id for r in ownership.all())


def _claim(
    ownership: Ownership, operation_id: str, kind: ResourceKind, region: str, name: str, details: dict[str, str]
) -> OwnedResource | None:
    """This operation's row for the resource: a new intent row, or its own from before a crash.
    None when another live operation holds the name."""
    try:
        claim = Claim(operation_id, kind, region, name, client_token=uuid.uuid4().hex, details=details or {})
        return ownership.get(ownership.claim(claim))
    except NameBusy as busy:
        return busy.existing if busy.existing.operation_id == operation_id else None


def _wait_named_vpc(vpcs: VpcNetworks, region: str, timeout_s: float) -> VpcInfo:
    waits = Waits(timeout_s, 0.5, 5.0)
    while (vpc := _existing_vpc(vpcs, region)) is None:
        if not waits.wait():
            raise NetworkUnavailable(
                f"VPC {VPC_NAME} being created by another operation is not ready yet.", "Retry in a minute."
            )
    return vpc


def _wait_available(vpcs: VpcNetworks, region: str, vpc_id: str, timeout_s: float) -> VpcInfo:
    return _poll_until(
        lambda: next((v for v in vpcs.vpcs(region) if v.vpc_id == vpc_id and v.status == "Available"), None),
        timeout_s,
        f"VPC {vpc_id}",
    )


def _wait_vswitch(vpcs: VpcNetworks, region: str, vpc_id: str, vswitch_id: str, timeout_s: float) -> None:
    _poll_until(
        lambda: next(
            (v for v in vpcs.vswitches(region, vpc_id) if v.vswitch_id == vswitch_id and v.status == "Available"),
            None,
        ),
        timeout_s,
        f"vSwitch {vswitch_id}",
    )


def _poll_until(fetch: Callable[[], T | None], timeout_s: float, what: str) -> T:
    """VPC resources have no task API: poll with backoff (0.2 s doubling to 5 s) until Available."""
    waits = Waits(timeout_s, 0.2, 5.0)
    while (found := fetch()) is None:
        if not waits.wait():
            raise NetworkUnavailable(
                f"{what} did not become Available within {timeout_s:.0f} s.",
                "It is recorded in the ledger; retry later or run cleanup.",
            )
    return found
