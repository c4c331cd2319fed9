"""Setup diagnostics below MCP: which credentials the default chain resolves, which endpoints answer, and
whether each RAM action the tools call is allowed.

Every probe is harmless even if the cloud ignored a dry-run flag: read-only calls, or deleting and
credential-issuing calls aimed at placeholder ids that cannot exist (an allowed call answers NotFound, a
refused one Forbidden). Creating calls are never sent; their permissions are reported as not probed. No
secret (AccessKey secret, STS token, kubeconfig content) is ever kept, returned or logged: only the provider's
name and a masked AccessKey id.
"""

from __future__ import annotations

import os
import socket
import stat
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from ack_compute.cloud.clients import OpenApiClients, Product
from ack_compute.cloud.config import CloudConfig, RetryPolicy, product_endpoint
from ack_compute.cloud.errors import CloudError

T = TypeVar("T")

Access = Literal["pricing", "inventory", "read", "create", "delete"]
ProbeKind = Literal["read", "placeholder", "not_probed"]
Outcome = Literal["ok", "denied", "rejected", "unreachable", "error", "not_probed"]

PRODUCTS: tuple[Product, ...] = ("cs", "ecs", "vpc", "eci", "bss")
# Products the tools can do without: bills (BssOpenApi) only add "billed so far" beside the meter's estimate, so a
# denial or an unreachable endpoint there is reported, never a failure.
OPTIONAL_PRODUCTS: frozenset[Product] = frozenset({"bss"})
ACCESS_ORDER: tuple[Access, ...] = ("pricing", "inventory", "read", "create", "delete")
ACCESS_MEANING: dict[Access, str] = {
    "pricing": "estimate_cost",
    "inventory": "list_resources: the state and bills of what the ledger lists (reads that return no credentials)",
    "read": "find, reuse and watch clusters; temporary kubeconfigs for run_job, deploy_acs and list_resources' "
    "Jobs and Deployments",
    "create": "ensure_cluster when it creates a cluster and its network; node pools created or grown",
    "delete": "cleanup of what this server created",
}

# All that a --read-only server's tools (server/settings.py READ_ONLY_TOOLS) call: no kubeconfig, which would let the
# identity act inside clusters (ACS pods started through one are billed). A read-only server reads nothing on clusters.
READ_ONLY_ACCESS: tuple[Access, ...] = ("pricing", "inventory")

# Placeholder ids in each API's own format that no real resource has.
PLACEHOLDER_CLUSTER = "c" + "0" * 32
PLACEHOLDER_TASK = "T-" + "0" * 24
PLACEHOLDER_VPC = "vpc-" + "0" * 21
PLACEHOLDER_VSWITCH = "vsw-" + "0" * 21
PLACEHOLDER_NODEPOOL = "np" + "0" * 32
PLACEHOLDER_INSTANCE = "i-" + "0" * 20
# A type most regions sell; a region without it answers a business error, which is still not a denial.
PROBE_INSTANCE_TYPE = "ecs.g7.large"


class RamAction(BaseModel):
    """One OpenAPI action the tools call, as a RAM policy names it, and how doctor can probe it."""

    model_config = ConfigDict(frozen=True)

    product: Product
    action: str
    access: Access
    used_by: str
    probe: ProbeKind

    @property
    def ram_name(self) -> str:
        return f"{self.product}:{self.action}"

    @property
    def optional(self) -> bool:
        return self.product in OPTIONAL_PRODUCTS


def _a(product: Product, action: str, access: Access, used_by: str, probe: ProbeKind) -> RamAction:
    return RamAction(product=product, action=action, access=access, used_by=used_by, probe=probe)


# Every action cloud/ sends (grep `_clients.call(` and the action names of cloud/vpc.py's `_paged`); the RAM
# policy in references/ram-policy.md is generated from this list and a test keeps the two equal.
RAM_ACTIONS: tuple[RamAction, ...] = (
    _a("cs", "DescribeRegions", "pricing", "estimate_cost (region check)", "read"),
    _a("ecs", "DescribePrice", "pricing", "estimate_cost (nodes and disks)", "read"),
    _a("ecs", "DescribeInstanceTypes", "pricing", "estimate_cost (instance type facts)", "read"),
    _a("ecs", "DescribeAvailableResource", "pricing", "estimate_cost, ensure_cluster (zone stock)", "read"),
    _a("eci", "DescribeContainerGroupPrice", "pricing", "estimate_cost (eci plans)", "read"),
    # What list_resources checks each ledger row with (tools/inventory.py, and tools/bills.py for the bill's ids).
    _a(
        "cs",
        "DescribeClusterDetail",
        "inventory",
        "list_resources, ensure_cluster, run_job, deploy_acs, cleanup",
        "placeholder",
    ),
    _a("cs", "DescribeClusterNodePools", "inventory", "list_resources, node pools: find by name", "placeholder"),
    _a("cs", "DescribeClusterNodePoolDetail", "inventory", "list_resources, node pools: watch a pool", "placeholder"),
    _a(
        "cs",
        "DescribeClusterNodes",
        "inventory",
        "list_resources (billed nodes), node pools: a pool's nodes",
        "placeholder",
    ),
    _a("vpc", "DescribeVpcs", "inventory", "list_resources, ensure_cluster (network), cleanup", "read"),
    _a("vpc", "DescribeVSwitches", "inventory", "list_resources, ensure_cluster (network), cleanup", "read"),
    # Optional: without it list_resources shows estimates only (RAM action per Alibaba's BssOpenApi RAM table naming,
    # `bss:<Action>`; see the shared notes "Billing (BssOpenApi)").
    _a("bss", "DescribeInstanceBill", "inventory", "list_resources (billed so far; optional)", "read"),
    _a("cs", "DescribeClustersForRegion", "read", "ensure_cluster, run_job, deploy_acs, cleanup (by name)", "read"),
    _a("cs", "DescribeTaskInfo", "read", "ensure_cluster, cleanup (task progress)", "placeholder"),
    _a("cs", "ListClusterAddonInstances", "read", "deploy_acs, run_job on ACS (virtual node add-on)", "placeholder"),
    _a("cs", "ListAddons", "read", "deploy_acs (the add-on version to install)", "placeholder"),
    # A credential: never in the read-only policy, so list_resources on a read-only server shows Jobs and Deployments
    # as the ledger has them.
    _a(
        "cs",
        "DescribeClusterUserKubeconfig",
        "read",
        "run_job, deploy_acs, ensure_cluster reuse, list_resources (Jobs and Deployments; not read-only)",
        "placeholder",
    ),
    _a("cs", "CreateCluster", "create", "ensure_cluster", "not_probed"),
    _a("vpc", "CreateVpc", "create", "ensure_cluster (new network)", "not_probed"),
    _a("vpc", "CreateVSwitch", "create", "ensure_cluster (new network)", "not_probed"),
    _a("cs", "CreateClusterNodePool", "create", "node pools: add a pool", "not_probed"),
    _a("cs", "ModifyClusterNodePool", "create", "node pools: resize a pool", "not_probed"),
    # Free, but they change a cluster: granted with the creating actions, never probed.
    _a("cs", "InstallClusterAddons", "create", "deploy_acs (ack-virtual-node on a cluster it created)", "not_probed"),
    _a("cs", "UpgradeClusterAddons", "create", "deploy_acs (ack-virtual-node on a cluster it created)", "not_probed"),
    _a("cs", "DeleteCluster", "delete", "cleanup", "placeholder"),
    _a("vpc", "DeleteVSwitch", "delete", "cleanup", "placeholder"),
    _a("vpc", "DeleteVpc", "delete", "cleanup", "placeholder"),
    _a("cs", "RemoveNodePoolNodes", "delete", "node pools: shrink by chosen nodes", "placeholder"),
    _a("cs", "DeleteClusterNodepool", "delete", "node pools: cleanup", "placeholder"),
)


def ram_policy(accesses: Iterable[Access] = ACCESS_ORDER) -> dict[str, Any]:
    """A RAM policy document allowing exactly the actions of `accesses`, one statement per access group."""
    wanted = set(accesses)
    statements = [
        {
            "Effect": "Allow",
            "Action": [a.ram_name for a in RAM_ACTIONS if a.access == access],
            "Resource": "*",
        }
        for access in ACCESS_ORDER
        if access in wanted
    ]
    return {"Version": "1", "Statement": statements}


# ----------------------------------------------------------------------------------------------- credentials

# The default chain, in the order alibabacloud_credentials tries it: the fix for "no credentials".
CREDENTIAL_CHAIN: tuple[str, ...] = (
    "ALIBABA_CLOUD_ACCESS_KEY_ID + ALIBABA_CLOUD_ACCESS_KEY_SECRET (+ ALIBABA_CLOUD_SECURITY_TOKEN for STS)",
    "OIDC/RRSA: ALIBABA_CLOUD_ROLE_ARN + ALIBABA_CLOUD_OIDC_PROVIDER_ARN + ALIBABA_CLOUD_OIDC_TOKEN_FILE",
    "~/.aliyun/config.json (`aliyun configure`; profile from ALIBABA_CLOUD_PROFILE, else `current`)",
    "~/.alibabacloud/credentials.ini",
    "the ECS instance RAM role (metadata service; off when ALIBABA_CLOUD_ECS_METADATA_DISABLED=true)",
    "ALIBABA_CLOUD_CREDENTIALS_URI",
)

_PROVIDER_SOURCES = {
    "env": "environment variables ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET",
    "oidc_role_arn": "OIDC/RRSA role (ALIBABA_CLOUD_ROLE_ARN)",
    "cli_profile": "~/.aliyun/config.json profile",
    "profile": "~/.alibabacloud/credentials.ini",
    "ecs_ram_role": "ECS instance RAM role",
    "credential_uri": "ALIBABA_CLOUD_CREDENTIALS_URI",
    "static_ak": "static AccessKey (the embedded sandbox's own keys)",
    "static_sts": "static STS token",
}


class CredentialStatus(BaseModel):
    """What the chain resolved, without the secret: provider, a masked AccessKey id, whether it is temporary."""

    resolved: bool
    provider: str = ""
    source: str = ""
    access_key_id: str = ""
    temporary: bool = False
    error: str = ""


def mask_access_key_id(access_key_id: str) -> str:
    """`LTAI5tAbCdEf1234` -> `LTAI****1234`; short ids keep less so the mask never reveals most of one."""
    if len(access_key_id) >= 12:
        return f"{access_key_id[:4]}****{access_key_id[-4:]}"
    return f"{access_key_id[:2]}****" if access_key_id else ""


def describe_provider(provider_name: str) -> str:
    """`default/cli_profile/ram_role_arn` -> a readable source; the chain's `default/` prefix says nothing."""
    parts = [p for p in provider_name.split("/") if p and p != "default"]
    if not parts:
        return provider_name or "unknown"
    source = _PROVIDER_SOURCES.get(parts[0], parts[0])
    return f"{source} ({'/'.join(parts[1:])})" if len(parts) > 1 else source


# ----------------------------------------------------------------------------------------------------- probes


class ProbeResult(BaseModel):
    """How the cloud answered one action's probe. `code`/`message` are the cloud's, never request data."""

    action: RamAction
    outcome: Outcome
    endpoint: str
    code: str = ""
    status: int | None = None
    message: str = ""
    elapsed_ms: int = 0


class EndpointStatus(BaseModel):
    product: Product
    endpoint: str
    reachable: bool | None  # None: not checked
    detail: str


class ProbeReport(BaseModel):
    results: list[ProbeResult]
    regions: list[str] | None = None  # the regions CS DescribeRegions listed, when it answered

    def endpoints(self, endpoints: dict[Product, str]) -> list[EndpointStatus]:
        """An endpoint is reachable when any of its probes got an answer (even an error) from the cloud."""
        statuses = []
        for product, endpoint in endpoints.items():
            sent = [r for r in self.results if r.action.product == product and r.outcome != "not_probed"]
            answered = [r for r in sent if r.outcome != "unreachable"]
            if answered:
                fastest = min(r.elapsed_ms for r in answered)
                statuses.append(
                    EndpointStatus(
                        product=product, endpoint=endpoint, reachable=True, detail=f"answered in {fastest} ms"
                    )
                )
            elif sent:
                statuses.append(
                    EndpointStatus(product=product, endpoint=endpoint, reachable=False, detail=sent[0].message)
                )
            else:
                statuses.append(
                    EndpointStatus(product=product, endpoint=endpoint, reachable=None, detail="not checked")
                )
        return statuses


def _cs(clients: OpenApiClients) -> Any:
    return clients.client("cs")


def _import_models() -> None:
    import alibabacloud_bssopenapi20171214.models  # noqa: F401
    import alibabacloud_cs20151215.models  # noqa: F401
    import alibabacloud_eci20180808.models  # noqa: F401
    import alibabacloud_ecs20140526.models  # noqa: F401
    import alibabacloud_vpc20160428.models  # noqa: F401


def _probe_call(action: str, region: str, clients: OpenApiClients) -> Any:
    """Send the harmless form of `action`; returns the SDK response (the caller only reads `.body`)."""
    from alibabacloud_bssopenapi20171214 import models as bss
    from alibabacloud_cs20151215 import models as cs
    from alibabacloud_eci20180808 import models as eci
    from alibabacloud_ecs20140526 import models as ecs
    from alibabacloud_vpc20160428 import models as vpc

    match action:
        case "DescribeRegions":
            return _cs(clients).describe_regions(cs.DescribeRegionsRequest())
        case "DescribeClustersForRegion":
            request = cs.DescribeClustersForRegionRequest(page_number=1, page_size=1)
            return clients.client("cs", region).describe_clusters_for_region(region, request)
        case "DescribeClusterDetail":
            return _cs(clients).describe_cluster_detail(PLACEHOLDER_CLUSTER)
        case "DescribeTaskInfo":
            return _cs(clients).describe_task_info(PLACEHOLDER_TASK)
        case "ListClusterAddonInstances":
            return _cs(clients).list_cluster_addon_instances(PLACEHOLDER_CLUSTER)
        case "ListAddons":
            return _cs(clients).list_addons(cs.ListAddonsRequest(cluster_id=PLACEHOLDER_CLUSTER))
        case "DescribeClusterUserKubeconfig":
            kube = cs.DescribeClusterUserKubeconfigRequest(private_ip_address=False, temporary_duration_minutes=15)
            return _cs(clients).describe_cluster_user_kubeconfig(PLACEHOLDER_CLUSTER, kube)
        case "DeleteCluster":
            return _cs(clients).delete_cluster(PLACEHOLDER_CLUSTER, cs.DeleteClusterRequest())
        case "DescribeClusterNodePools":
            pools = cs.DescribeClusterNodePoolsRequest()
            return _cs(clients).describe_cluster_node_pools(PLACEHOLDER_CLUSTER, pools)
        case "DescribeClusterNodePoolDetail":
            return _cs(clients).describe_cluster_node_pool_detail(PLACEHOLDER_CLUSTER, PLACEHOLDER_NODEPOOL)
        case "DescribeClusterNodes":
            nodes = cs.DescribeClusterNodesRequest(page_number="1", page_size="1")
            return _cs(clients).describe_cluster_nodes(PLACEHOLDER_CLUSTER, nodes)
        case "RemoveNodePoolNodes":
            remove = cs.RemoveNodePoolNodesRequest(instance_ids=[PLACEHOLDER_INSTANCE])
            return _cs(clients).remove_node_pool_nodes(PLACEHOLDER_CLUSTER, PLACEHOLDER_NODEPOOL, remove)
        case "DeleteClusterNodepool":
            gone_pool = cs.DeleteClusterNodepoolRequest()
            return _cs(clients).delete_cluster_nodepool(PLACEHOLDER_CLUSTER, PLACEHOLDER_NODEPOOL, gone_pool)
        case "DescribePrice":
            price = ecs.DescribePriceRequest(
                region_id=region,
                resource_type="instance",
                instance_type=PROBE_INSTANCE_TYPE,
                price_unit="Hour",
                period=1,
                amount=1,
                system_disk=ecs.DescribePriceRequestSystemDisk(category="cloud_essd", size=40),
            )
            return clients.client("ecs", region).describe_price(price)
        case "DescribeInstanceTypes":
            types = ecs.DescribeInstanceTypesRequest(instance_types=[PROBE_INSTANCE_TYPE])
            return clients.client("ecs", region).describe_instance_types(types)
        case "DescribeAvailableResource":
            stock = ecs.DescribeAvailableResourceRequest(
                region_id=region,
                destination_resource="InstanceType",
                instance_charge_type="PostPaid",
                instance_type=PROBE_INSTANCE_TYPE,
            )
            return clients.client("ecs", region).describe_available_resource(stock)
        case "DescribeVpcs":
            vpcs = vpc.DescribeVpcsRequest(region_id=region, page_number=1, page_size=1)
            return clients.client("vpc", region).describe_vpcs(vpcs)
        case "DescribeVSwitches":
            vswitches = vpc.DescribeVSwitchesRequest(region_id=region, page_number=1, page_size=1)
            return clients.client("vpc", region).describe_vswitches(vswitches)
        case "DeleteVSwitch":  # DryRun as well: the API checks permission and parameters, deletes nothing
            gone = vpc.DeleteVSwitchRequest(region_id=region, v_switch_id=PLACEHOLDER_VSWITCH, dry_run=True)
            return clients.client("vpc", region).delete_vswitch(gone)
        case "DeleteVpc":
            gone_vpc = vpc.DeleteVpcRequest(region_id=region, vpc_id=PLACEHOLDER_VPC, dry_run=True)
            return clients.client("vpc", region).delete_vpc(gone_vpc)
        case "DescribeInstanceBill":  # one line of this month's bill: a read
            cycle = datetime.now(UTC).strftime("%Y-%m")
            bill = bss.DescribeInstanceBillRequest(billing_cycle=cycle, granularity="MONTHLY", max_results=1)
            return clients.client("bss", region).describe_instance_bill(bill)
        case "DescribeContainerGroupPrice":
            eci_price = eci.DescribeContainerGroupPriceRequest(region_id=region, cpu=2.0, memory=4.0)
            return clients.client("eci", region).describe_container_group_price(eci_price)
    raise ValueError(f"doctor has no harmless probe for {action}")


# How the gateways say "this AccessKey or signature is not accepted" (a credentials problem, not RAM).
_REJECTED_PREFIXES = (
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "InvalidSecurityToken",
    "InvalidTimeStamp",
    "SignatureNonceUsed",
    "CredentialsNotFound",
)
# How RAM says "this identity may not call this action" (ECS/VPC: Forbidden.RAM, CS: StatusForbidden).
_DENIED_PREFIXES = (
    "Forbidden",
    "StatusForbidden",
    "NoPermission",
    "UnauthorizedOperation",
    "NotAuthorized",
    "NotApplicable",  # BssOpenApi: an account (site, reseller) the bill API does not apply to
)
_DENIED_WORDS = ("not authorized", "no permission", "ram policy", "doesn't support ram", "access denied")


def classify(exc: CloudError) -> Outcome:
    """A failed probe: denied (RAM), rejected (credentials), unreachable, or allowed-but-answered."""
    if exc.code == "NetworkError":
        return "unreachable"
    if exc.code.startswith(_REJECTED_PREFIXES):
        return "rejected"
    if exc.code.startswith(_DENIED_PREFIXES):
        return "denied"
    if exc.status == 403 and any(word in exc.message.lower() for word in _DENIED_WORDS):
        return "denied"
    if exc.is_not_found or exc.code == "DryRunOperation":
        return "ok"  # the placeholder is not there, or the dry run passed: the action itself is allowed
    return "error"


def _run_all(tasks: dict[str, Callable[[], T]], deadline_s: float) -> dict[str, T | BaseException | None]:
    """Run every task on its own daemon thread; whatever has not finished by the deadline is None.

    Daemon threads, not an executor: a hung call must never keep doctor (or interpreter exit) waiting.
    """
    results: dict[str, T | BaseException | None] = dict.fromkeys(tasks)

    def run(key: str, fn: Callable[[], T]) -> None:
        try:
            results[key] = fn()
        except BaseException as exc:  # reported, never raised: one probe's failure is another row
            results[key] = exc

    threads = [threading.Thread(target=run, args=(k, fn), daemon=True, name=f"doctor-{k}") for k, fn in tasks.items()]
    for thread in threads:
        thread.start()
    end = time.monotonic() + deadline_s
    for thread in threads:
        thread.join(max(0.0, end - time.monotonic()))
    return results


class Diagnostics:
    """Resolves credentials and probes the cloud once, with short timeouts and no retries, in parallel."""

    def __init__(self, config: CloudConfig, *, timeout_s: float = 4.0) -> None:
        self.timeout_s = timeout_s
        self.config = config.model_copy(
            update={
                "connect_timeout_ms": int(min(timeout_s, 3.0) * 1000),
                "read_timeout_ms": int(timeout_s * 1000),
                "retry": RetryPolicy(max_attempts=1),
            }
        )
        self._clients = OpenApiClients(self.config)

    def endpoints(self) -> dict[Product, str]:
        return {product: product_endpoint(product, self.config) for product in PRODUCTS}

    def credentials(self) -> CredentialStatus:
        """Resolve the chain the clients sign with; keep the provider and a masked id, drop the secret."""

        def resolve() -> CredentialStatus:
            # The same credential object the probes sign with (static sandbox keys, or the default chain).
            model = self._clients._credentials().get_credential()
            provider = str(getattr(model, "provider_name", None) or getattr(model, "type", None) or "")
            return CredentialStatus(
                resolved=bool(model.access_key_id),
                provider=provider,
                source=describe_provider(provider),
                access_key_id=mask_access_key_id(str(model.access_key_id or "")),
                temporary=bool(model.security_token),
                error="" if model.access_key_id else "the provider returned no AccessKey id",
            )

        outcome = _run_all({"credentials": resolve}, self.timeout_s + 2)["credentials"]
        if isinstance(outcome, CredentialStatus):
            return outcome
        if outcome is None:
            error = f"no answer within {self.timeout_s + 2:.0f} s (an unreachable metadata or STS endpoint?)"
        else:
            error = _credential_error(outcome)
        return CredentialStatus(resolved=False, error=error)

    def probe(self, region: str, actions: Iterable[RamAction]) -> ProbeReport:
        """One harmless call per probeable action, all at once; the rest are reported as not probed."""
        actions = list(actions)
        endpoints = self.endpoints()

        def timed(action: RamAction) -> Callable[[], tuple[dict[str, Any] | CloudError, int]]:
            def run() -> tuple[dict[str, Any] | CloudError, int]:
                started = time.monotonic()
                try:
                    body: dict[str, Any] | CloudError = self._clients.call(
                        action.action, lambda: _probe_call(action.action, region, self._clients).body.to_map()
                    )
                except CloudError as exc:
                    body = exc
                return body, int((time.monotonic() - started) * 1000)

            return run

        # Import the SDKs and build the clients on this thread first: imports are serial anyway, and eighteen
        # threads contending for the import lock only make them slower.
        _import_models()
        for product in {a.product for a in actions if a.probe != "not_probed"}:
            self._clients.client(product, region)
        started = time.monotonic()
        answers = _run_all({a.action: timed(a) for a in actions if a.probe != "not_probed"}, self.timeout_s + 2)
        waited = int((time.monotonic() - started) * 1000)
        results: list[ProbeResult] = []
        regions: list[str] | None = None
        for action in actions:
            endpoint = endpoints[action.product]
            if action.probe == "not_probed":
                results.append(ProbeResult(action=action, outcome="not_probed", endpoint=endpoint))
                continue
            answer = answers[action.action]
            if answer is None:
                results.append(
                    ProbeResult(
                        action=action,
                        outcome="unreachable",
                        endpoint=endpoint,
                        code="NetworkError",
                        message=f"no answer within {self.timeout_s + 2:.0f} s",
                        elapsed_ms=waited,
                    )
                )
            elif isinstance(answer, BaseException):  # not from the SDK call itself: a bug, shown as such
                results.append(
                    ProbeResult(
                        action=action,
                        outcome="error",
                        endpoint=endpoint,
                        code=type(answer).__name__,
                        message=str(answer)[:200],
                        elapsed_ms=waited,
                    )
                )
            else:
                body, elapsed = answer
                if isinstance(body, CloudError):
                    results.append(
                        ProbeResult(
                            action=action,
                            outcome=classify(body),
                            endpoint=endpoint,
                            code=body.code,
                            status=body.status,
                            message=body.message,
                            elapsed_ms=elapsed,
                        )
                    )
                    continue
                if action.action == "DescribeRegions":
                    # This API answers in camelCase, unlike most CS APIs.
                    regions = [str(r["regionId"]) for r in body.get("regions") or [] if r.get("regionId")]
                results.append(ProbeResult(action=action, outcome="ok", endpoint=endpoint, elapsed_ms=elapsed))
        return ProbeReport(results=results, regions=regions)

    def connect(self) -> list[EndpointStatus]:
        """TCP reachability of each endpoint (or of the proxy the SDK would use), for when no signed call can be
        sent because no credentials resolved."""
        endpoints = self.endpoints()

        def check(endpoint: str) -> Callable[[], str]:
            def run() -> str:
                host, port, via = _connect_target(endpoint, self.config.protocol)
                started = time.monotonic()
                with socket.create_connection((host, port), timeout=min(self.timeout_s, 3.0)):
                    pass
                return f"TCP connect{via} in {int((time.monotonic() - started) * 1000)} ms"

            return run

        answers = _run_all({product: check(endpoints[product]) for product in PRODUCTS}, self.timeout_s + 1)
        statuses = []
        for product in PRODUCTS:
            answer = answers[product]
            if isinstance(answer, str):
                statuses.append(
                    EndpointStatus(product=product, endpoint=endpoints[product], reachable=True, detail=answer)
                )
            else:
                why = "timed out" if answer is None or isinstance(answer, TimeoutError) else str(answer)
                statuses.append(
                    EndpointStatus(
                        product=product, endpoint=endpoints[product], reachable=False, detail=f"TCP connect: {why}"
                    )
                )
        return statuses


def _connect_target(endpoint: str, protocol: str) -> tuple[str, int, str]:
    """Where a TCP connect for `endpoint` goes: the endpoint itself, or the proxy the SDK would use."""
    proxy = os.environ.get(f"{protocol.upper()}_PROXY") or os.environ.get(f"{protocol}_proxy")
    if proxy:
        parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        return parts.hostname or "", parts.port or 80, f" to proxy {parts.hostname}:{parts.port or 80}"
    parts = urlsplit(f"{protocol}://{endpoint}")
    return parts.hostname or endpoint, parts.port or (443 if protocol == "https" else 80), ""


def _credential_error(exc: BaseException) -> str:
    """The chain's own explanation, shortened; it names providers and files, never a secret."""
    text = " ".join(str(exc).split())
    prefix = "unable to load credentials from any of the providers in the chain: "
    text = text.removeprefix(prefix)
    return text if len(text) <= 300 else text[:297] + "..."


# ------------------------------------------------------------------------------------------------- kubeconfig


class KubeconfigFile(BaseModel):
    """A local kubeconfig's shape for `context:<name>` targets: its context names, never its content."""

    path: Path
    exists: bool
    contexts: list[str] = []
    current_context: str = ""
    mode: int | None = None
    error: str = ""


def inspect_kubeconfig(path: Path) -> KubeconfigFile:
    import yaml

    if not path.is_file():
        return KubeconfigFile(path=path, exists=False)
    mode = stat.S_IMODE(path.stat().st_mode)
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        return KubeconfigFile(path=path, exists=True, mode=mode, error=f"cannot read it: {exc.strerror}")
    except Exception as exc:  # a YAML error quotes the offending line, which may hold a token: name the type only
        return KubeconfigFile(path=path, exists=True, mode=mode, error=f"not YAML ({type(exc).__name__})")
    if not isinstance(document, dict):
        return KubeconfigFile(path=path, exists=True, mode=mode, error="not a kubeconfig (no mapping at the top)")
    contexts = [str(c.get("name")) for c in document.get("contexts") or [] if isinstance(c, dict) and c.get("name")]
    return KubeconfigFile(
        path=path,
        exists=True,
        contexts=contexts,
        current_context=str(document.get("current-context") or ""),
        mode=mode,
    )
