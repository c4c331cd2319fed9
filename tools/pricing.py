"""Prices plans: ECS DescribePrice for nodes and disks, a dated rate table for what has no API.

Every API answer is cached for the quote TTL, so a repeated estimate makes no new call and two
estimates within one quote's life see the same prices.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, ValidationError

from ack_compute.cloud.cs import ContainerService
from ack_compute.cloud.eci import EciPrice, EciPrices
from ack_compute.cloud.ecs import DiskQuery, EcsCatalog, InstancePrice, InstanceTypeInfo, ZoneStock
from ack_compute.cloud.errors import CloudError
from ack_compute.tools.errors import BadSettingsFile, CloudFailure, InvalidPlan, PricingUnavailable
from ack_compute.tools.plans import AcsPlan, AnyPlan, ClusterPlan, EciPlan, NodePoolPlan, ServerlessPlan

Site = Literal["china", "international"]
SpotStrategy = Literal["NoSpot", "SpotAsPriceGo"]
T = TypeVar("T")
_CENT = Decimal("0.0001")
# Money is exact (Decimal) inside and a plain JSON number outside, which agents read most easily.
Money = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]


def money(value: Decimal) -> Decimal:
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


class AcsRate(BaseModel):
    site: Site
    area: Literal["mainland", "outside"]
    currency: str
    vcpu_hour: Decimal
    gib_hour: Decimal


class GpuRate(BaseModel):
    site: Site
    area: Literal["mainland", "outside"]
    currency: str
    gpu_model: str
    compute_class: Literal["gpu", "gpu-hpn"] = "gpu"
    gpu_hour: Decimal


class RateTable(BaseModel):
    """Prices with no API, kept as data with a date and a source; the operator may supply their own."""

    as_of: date
    source: str
    ack_pro_fee_per_hour: dict[str, Decimal]
    acs: list[AcsRate]
    acs_gpu: list[GpuRate] = Field(default_factory=list)
    # Per-currency hourly prices of what new_vpc_with_snat buys: {"nat_gateway": {"USD": ...}, "eip": {...}}.
    network: dict[str, dict[str, Decimal]] = Field(default_factory=dict)
    network_as_of: date | None = None
    network_source: str | None = None

    @classmethod
    def load(cls, path: Path | None = None) -> RateTable:
        if path is None:
            return cls.model_validate_json(resources.files("ack_compute.tools").joinpath("data/rates.json").read_text())
        try:
            return cls.model_validate(json.loads(path.read_text()))
        except (OSError, ValueError) as exc:  # unreadable, not JSON, or not a rate table (ValidationError)
            problem = _file_problem(exc)
            raise BadSettingsFile(
                f"The rate table {path} (ACK_COMPUTE_RATE_TABLE) {problem}.",
                "Fix the file (the shape of tools/data/rates.json) or unset the setting for the built-in one.",
            ) from None


def _file_problem(exc: OSError | ValueError) -> str:
    """What is wrong with a file, in words, naming fields but never echoing their values."""
    if isinstance(exc, OSError):
        return f"cannot be read ({exc.strerror or type(exc).__name__})"
    if isinstance(exc, ValidationError):
        fields = sorted({".".join(str(p) for p in err["loc"]) or "(the whole file)" for err in exc.errors()})
        return f"has missing or invalid fields: {', '.join(fields)}"
    return "is not JSON"


class PriceSource(BaseModel):
    kind: Literal["api", "rate_table"]
    name: str
    as_of: str | None = None


class LineItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    item: str
    unit: str
    unit_price: Money
    quantity: Money
    hourly: Money
    source: PriceSource


class Pricing(BaseModel):
    currency: str
    line_items: list[LineItem]
    hourly_total: Decimal
    hours: float
    total: Decimal
    assumptions: list[str]
    exclusions: list[str]


class TtlCache:
    """A small thread-safe cache whose entries expire; good enough for a few hundred price keys."""

    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl_seconds
        self._clock = clock
        self._items: dict[Hashable, tuple[float, object]] = {}
        self._lock = threading.Lock()

    def get_or_load(self, key: Hashable, load: Callable[[], T]) -> T:
        now = self._clock()
        with self._lock:
            hit = self._items.get(key)
            if hit and hit[0] > now:
                return hit[1]  # type: ignore[return-value]
        value = load()
        with self._lock:
            self._items[key] = (now + self.ttl, value)
        return value


def site_currency(site: Site) -> str:
    """Alibaba bills the China site's accounts in CNY and the international site's in USD."""
    return "CNY" if site == "china" else "USD"


def is_mainland(region: str) -> bool:
    return region.startswith("cn-") and region != "cn-hongkong"


class Pricer:
    def __init__(
        self,
        ecs: EcsCatalog,
        cs: ContainerService,
        rates: RateTable,
        *,
        site: Site = "china",
        cache_ttl_seconds: float = 900,
        eci: EciPrices | None = None,
    ) -> None:
        self._ecs = ecs
        self._cs = cs
        self._eci = eci
        self.rates = rates
        self.site = site
        self._cache = TtlCache(cache_ttl_seconds)
        self._table = PriceSource(kind="rate_table", name="rate table", as_of=rates.as_of.isoformat())

    @property
    def site_currency(self) -> str:
        return site_currency(self.site)

    def price(self, plan: AnyPlan) -> Pricing:
        assert plan.region, "plans are normalised before pricing"
        self._check_region(plan.region)
        if isinstance(plan, ClusterPlan):
            return self._price_cluster(plan)
        if isinstance(plan, ServerlessPlan):
            return self._price_serverless(plan)
        if isinstance(plan, EciPlan):
            return self._price_eci(plan)
        if isinstance(plan, NodePoolPlan):
            return self._price_node_pool(plan)
        return self._price_acs(plan)

    def hourly_now(self, plan: AnyPlan) -> Decimal:
        """The current hourly price (cached within the TTL), for the drift check at redemption."""
        return self.price(plan).hourly_total

    # -- cloud calls, cached -------------------------------------------------------------------

    def _cloud(self, key: Hashable, load: Callable[[], T]) -> T:
        try:
            return self._cache.get_or_load(key, load)
        except CloudError as exc:
            raise CloudFailure(str(exc), _advice(exc)) from None

    def _check_region(self, region: str) -> None:
        regions = self._cloud(("regions",), self._cs.describe_regions)
        known = sorted(r.region_id for r in regions)
        if region not in known:
            raise InvalidPlan("region", f"{region} is not an ACK region.", f"Use one of: {', '.join(known)}.")

    def _instance_types(self, region: str, wanted: list[str]) -> dict[str, InstanceTypeInfo]:
        found = self._cloud(("types", region, tuple(wanted)), lambda: self._ecs.describe_instance_types(region, wanted))
        unknown = [t for t in wanted if t not in found]
        if unknown:
            raise InvalidPlan(
                "instance_types",
                f"{', '.join(unknown)} not offered in {region}.",
                "Check the spelling (e.g. ecs.g7.xlarge) or pick another type.",
            )
        return found

    def _zone_stock(self, region: str, zone: str) -> ZoneStock:
        stock = self._cloud(("stock", region, zone), lambda: self._ecs.zone_stock(region, zone))
        if not stock.available and not stock.sold_out:
            raise InvalidPlan(
                "zone",
                f"{zone} sells no instance types pay-as-you-go in {region} (unknown zone?).",
                "Omit zone to let ACK choose, or pick another zone of the region.",
            )
        return stock

    def _instance_price(
        self, plan: ClusterPlan | NodePoolPlan, instance_type: str, spot: SpotStrategy = "NoSpot"
    ) -> InstancePrice:
        system = DiskQuery(
            category=plan.system_disk.category,
            size_gib=plan.system_disk.size_gib,
            performance_level=plan.system_disk.performance_level,
        )
        data = [
            DiskQuery(category=d.category, size_gib=d.size_gib, performance_level=d.performance_level)
            for d in plan.data_disks
        ]
        key = ("price", plan.region, plan.zone, instance_type, plan.node_count, system, tuple(data), spot)
        return self._cloud(
            key,
            lambda: self._ecs.describe_price(
                plan.region or "", instance_type, plan.node_count, system, data, zone=plan.zone, spot_strategy=spot
            ),
        )

    # -- plans ---------------------------------------------------------------------------------

    def _price_cluster(self, plan: ClusterPlan) -> Pricing:
        assumptions = [
            "Pay-as-you-go prices for one hour (ECS PriceUnit=Hour); nodes are billed while they exist, "
            "even when idle.",
        ]
        exclusions = ["Public traffic, load balancers, log service and snapshots are not included."]
        items: list[LineItem] = []
        currency = self.site_currency
        if plan.node_count:
            currency = self._nodes(plan, items, assumptions, "Worker nodes")
        if plan.edition == "pro":
            items.append(self._pro_fee(currency, "ACK Pro management fee (ack.pro.small)"))
        else:
            assumptions.append("ACK Basic (ack.standard) has no management fee.")
        if plan.new_vpc_with_snat:
            items.extend(self._network_items(currency, assumptions, exclusions))
        return self._total(currency, items, plan.hours, assumptions, exclusions)

    def _price_node_pool(self, plan: NodePoolPlan) -> Pricing:
        """The pool's nodes and their disks (ECS DescribePrice): a pool has no fee of its own, its cluster's fee is
        the cluster's."""
        assumptions = [
            "Pay-as-you-go prices for one hour (ECS PriceUnit=Hour); the pool's nodes are billed while they exist, "
            "even when idle.",
            "A node pool has no management fee; the cluster's own fee (ACK Pro), if any, is not part of this quote.",
        ]
        items: list[LineItem] = []
        currency = self._nodes(plan, items, assumptions, "Pool nodes")
        if plan.spot_strategy:
            spot = self._instance_price(plan, plan.instance_types[0], "SpotAsPriceGo")
            assumptions.append(
                f"Spot nodes (SpotAsPriceGo) pay the market price, now {money(spot.trade_price)} {spot.currency}/h "
                f"for {plan.node_count} x {spot.instance_type} with disks; it moves but never exceeds pay-as-you-go, "
                "so the quote is the pay-as-you-go price, an upper bound. Spot nodes can be reclaimed."
            )
        return self._total(
            currency,
            items,
            plan.hours,
            assumptions,
            ["Public traffic, load balancers, log service and snapshots are not included."],
        )

    def _nodes(
        self, plan: ClusterPlan | NodePoolPlan, items: list[LineItem], assumptions: list[str], label: str
    ) -> str:
        """Line items for plan.node_count nodes of the dearest available preferred type (an upper bound: the cloud
        may use any of them); returns the currency."""
        region = plan.region or ""
        infos = self._instance_types(region, plan.instance_types)
        candidates = list(plan.instance_types)
        if plan.zone:
            stock = self._zone_stock(region, plan.zone)
            candidates = [t for t in candidates if t in stock.available]
            missing = [t for t in plan.instance_types if t not in candidates]
            if not candidates:
                sold = [t for t in missing if t in stock.sold_out]
                detail = f" ({', '.join(sold)} sold out)" if sold else ""
                raise InvalidPlan(
                    "instance_types",
                    f"none of {', '.join(missing)} is available in {plan.zone}{detail}.",
                    "Pick other instance types or another zone, or omit zone.",
                )
            if missing:
                assumptions.append(f"Not available in {plan.zone} and not priced: {', '.join(missing)}.")
        with ThreadPoolExecutor(max_workers=min(4, len(candidates))) as pool:
            prices = list(pool.map(lambda t: self._instance_price(plan, t), candidates))
        chosen = max(prices, key=lambda p: p.trade_price)
        others = [p for p in prices if p is not chosen]
        if others:
            alternatives = ", ".join(f"{p.instance_type} {money(p.trade_price)}" for p in others)
            assumptions.append(
                f"ACK may use any of your preferred types; the quote prices the dearest, {chosen.instance_type}, "
                f"so it is an upper bound (nodes with the others, {chosen.currency}/h: {alternatives})."
            )
        items.extend(self._node_items(plan, chosen, infos[chosen.instance_type], label))
        return chosen.currency

    def _price_serverless(self, plan: ServerlessPlan) -> Pricing:
        """The cluster alone: a management fee for Pro and the network it needs. Its pods are quoted as acs plans,
        because what they cost depends on the workload, not on the cluster."""
        currency = self.site_currency
        if plan.zone:
            self._zone_stock(plan.region or "", plan.zone)  # an unknown zone fails here, not at creation
        assumptions = [
            "ACK Serverless has no worker nodes, so there are no node costs.",
            "Pods are billed separately while they run, per vCPU-second and GiB-second (as ECI or ACS instances); "
            "quote them with an acs plan (kind=acs) before deploy_acs or run_job with compute=acs, or with an eci "
            "plan (kind=eci) before deploy_acs.",
        ]
        exclusions = [
            "Pods, including the two small CoreDNS pods (0.25 vCPU, 0.5 GiB each) that provide in-cluster DNS, "
            "are billed per pod and not included.",
            "Public traffic, load balancers, log service, EIPs and volumes are not included.",
        ]
        items: list[LineItem] = []
        if plan.edition == "pro":
            items.append(self._pro_fee(currency, "ACK Serverless Pro management fee (ack.pro.small)"))
            assumptions.append(
                "ACK Serverless Pro is quoted at the ACK Pro cluster management fee as an upper bound (the fee was "
                "waived during its public preview)."
            )
        else:
            assumptions.append("ACK Serverless Basic (ack.standard) has no management fee.")
        if plan.new_vpc_with_snat:
            items.extend(self._network_items(currency, assumptions, exclusions))
        return self._total(currency, items, plan.hours, assumptions, exclusions)

    def _pro_fee(self, currency: str, label: str) -> LineItem:
        fee = self.rates.ack_pro_fee_per_hour.get(currency)
        if fee is None:
            raise PricingUnavailable(
                f"The rate table has no ACK Pro fee in {currency}.", "Ask the operator to add it to the rate table."
            )
        return LineItem(
            item=label, unit="cluster-hour", unit_price=fee, quantity=Decimal(1), hourly=fee, source=self._table
        )

    def _node_items(
        self, plan: ClusterPlan | NodePoolPlan, price: InstancePrice, info: InstanceTypeInfo, label: str
    ) -> list[LineItem]:
        n = Decimal(plan.node_count)
        api = PriceSource(kind="api", name="ECS DescribePrice")
        spec = f"{info.vcpu} vCPU, {info.memory_gib:g} GiB" + (
            f", {info.gpu_amount} x {info.gpu_spec}" if info.gpu_amount else ""
        )
        parts = dict(price.parts)
        node_part = parts.pop("instanceType", price.trade_price - sum(parts.values(), Decimal(0)))
        items = [
            LineItem(
                item=f"{label}: {price.instance_type} ({spec})",
                unit="node-hour",
                unit_price=money(node_part / n),
                quantity=n,
                hourly=money(node_part),
                source=api,
            )
        ]
        sd = plan.system_disk
        labels = {
            "systemDisk": f"System disks: {sd.size_gib} GiB {sd.category}"
            + (f" {sd.performance_level}" if sd.performance_level else ""),
            "dataDisk": f"Data disks: {len(plan.data_disks)} per node, "
            + ", ".join(f"{d.size_gib} GiB {d.category}" for d in plan.data_disks),
        }
        for resource, amount in parts.items():
            items.append(
                LineItem(
                    item=labels.get(resource, resource),
                    unit="node-hour",
                    unit_price=money(amount / n),
                    quantity=n,
                    hourly=money(amount),
                    source=api,
                )
            )
        return items

    def _network_items(self, currency: str, assumptions: list[str], exclusions: list[str]) -> list[LineItem]:
        """What new_vpc_with_snat buys besides the cluster: a NAT gateway and an EIP, each billed every hour it
        exists. Without a rate in the quote's currency the plan is refused: a quote that leaves them out would
        let caps and the person see less than the cloud bills."""
        wanted = {
            "nat_gateway": "NAT gateway (SNAT for the new VPC), instance fee",
            "eip": "EIP bound to the NAT gateway",
        }
        missing = [name for name in wanted if currency not in self.rates.network.get(name, {})]
        if missing:
            raise PricingUnavailable(
                "new_vpc_with_snat buys a NAT gateway and an EIP, billed every hour they exist, and this server has "
                f"no {currency} rate for {' or '.join(n.replace('_', ' ') for n in missing)}, so it cannot quote them.",
                "Set new_vpc_with_snat to false (the cluster then reaches the internet only if its VPC already can), "
                f"or ask the operator to add network.nat_gateway and network.eip {currency} rates to the rate table "
                "(ACK_COMPUTE_RATE_TABLE).",
            )
        as_of = self.rates.network_as_of or self.rates.as_of
        source = PriceSource(kind="rate_table", name="rate table (network)", as_of=as_of.isoformat())
        items = [
            LineItem(
                item=label,
                unit="hour",
                unit_price=self.rates.network[name][currency],
                quantity=Decimal(1),
                hourly=self.rates.network[name][currency],
                source=source,
            )
            for name, label in wanted.items()
        ]
        assumptions.append(
            "new_vpc_with_snat creates a NAT gateway and an EIP, billed hourly until cleanup deletes them; they are "
            f"priced from the rate table as of {as_of}"
            + (f" ({self.rates.network_source})" if self.rates.network_source else "")
            + "."
        )
        exclusions.append(
            "Usage-based network charges: the NAT gateway's capacity units (CU) and the EIP's data transfer per GB."
        )
        return items

    def _table_item(self, item: str, unit: str, unit_price: Decimal, quantity: Decimal) -> LineItem:
        """A line priced from the rate table: `quantity` units at `unit_price` an hour."""
        return LineItem(
            item=item,
            unit=unit,
            unit_price=unit_price,
            quantity=quantity,
            hourly=money(quantity * unit_price),
            source=self._table,
        )

    def _price_acs(self, plan: AcsPlan) -> Pricing:
        region = plan.region or ""
        area = "mainland" if is_mainland(region) else "outside"
        rate = next((r for r in self.rates.acs if r.site == self.site and r.area == area), None)
        if rate is None:
            raise PricingUnavailable(
                f"The rate table (as of {self.rates.as_of}) has no ACS rate for the {self.site} site in "
                f"{'mainland China' if area == 'mainland' else 'regions outside mainland China'}.",
                "Ask the operator to add one (--rate-table), or choose a region with a known rate.",
            )
        replicas = Decimal(plan.replicas)
        vcpus = replicas * Decimal(str(plan.vcpu))
        gibs = replicas * Decimal(str(plan.memory_gib))
        items = [
            self._table_item(
                f"ACS vCPU: {plan.replicas} pods x {plan.vcpu:g} vCPU ({plan.compute_class})",
                "vCPU-hour",
                rate.vcpu_hour,
                vcpus,
            ),
            self._table_item(
                f"ACS memory: {plan.replicas} pods x {plan.memory_gib:g} GiB", "GiB-hour", rate.gib_hour, gibs
            ),
        ]
        assumptions = [
            "ACS bills per second; the total assumes every pod runs for the full duration.",
            "ACS may round a pod up to its nearest supported vCPU/memory size; the price of that size applies.",
        ]
        if plan.qos == "best-effort":
            assumptions.append(
                "best-effort pods are billed at a discount; priced at the default rate so the quote is an upper bound."
            )
        if plan.gpu_count:
            model = (plan.gpu_model or "").upper()
            gpu = next(
                (
                    g
                    for g in self.rates.acs_gpu
                    if g.site == self.site
                    and g.area == area
                    and g.gpu_model.upper() == model
                    and g.compute_class == plan.compute_class
                ),
                None,
            )
            if gpu is None:
                raise PricingUnavailable(
                    f"No {plan.compute_class} rate for GPU model {plan.gpu_model} in the rate table "
                    f"(as of {self.rates.as_of}); GPU pods cannot be quoted without one.",
                    "Ask the operator to add the model to the rate table (--rate-table), or use "
                    "compute_class general-purpose.",
                )
            count = replicas * plan.gpu_count
            items.append(
                self._table_item(
                    f"ACS GPU: {plan.replicas} pods x {plan.gpu_count} x {plan.gpu_model}",
                    "GPU-hour",
                    gpu.gpu_hour,
                    count,
                )
            )
        return self._total(
            rate.currency,
            items,
            plan.hours,
            assumptions,
            ["Cluster fees, storage volumes, public traffic and load balancers are not included."],
        )

    def _eci_price(self, plan: EciPlan, spec: str) -> EciPrice:
        """One pod of `spec` ("<vcpu>-<mem>Gi" or an ECS type) per hour, from the ECI price API (cached)."""
        eci = self._eci
        if eci is None:
            raise PricingUnavailable(
                "This server was built without the ECI price API, so ECI pods cannot be quoted.",
                "Use an acs plan instead, or ask the operator to update the server.",
            )
        region = plan.region or ""
        if spec.startswith("ecs."):
            cpu, memory, instance_type = plan.vcpu, plan.memory_gib, spec
        else:
            cpu, memory = (float(x) for x in spec.removesuffix("Gi").split("-"))
            instance_type = None
        key = ("eci", region, cpu, memory, instance_type, plan.spot_strategy, plan.spot_price_limit)
        return self._cloud(
            key,
            lambda: eci.container_group_price(
                region,
                cpu,
                memory,
                instance_type=instance_type,
                spot_strategy=plan.spot_strategy,
                spot_price_limit=plan.spot_price_limit,
            ),
        )

    def _price_eci(self, plan: EciPlan) -> Pricing:
        """Pods priced by ECI DescribeContainerGroupPrice; with fallback specs the dearest one, an upper bound."""
        own = f"{plan.vcpu:g}-{plan.memory_gib:g}Gi"
        specs = [own, *plan.use_specs]
        with ThreadPoolExecutor(max_workers=min(4, len(specs))) as pool:
            prices = dict(zip(specs, pool.map(lambda s: self._eci_price(plan, s), specs), strict=True))
        chosen_spec = max(specs, key=lambda s: prices[s].trade_price_per_hour)
        chosen = prices[chosen_spec]
        pay_as_you_go = chosen.trade_price_per_hour
        per_pod = pay_as_you_go
        assumptions = [
            "ECI bills each pod per second; DescribeContainerGroupPrice answers the price per pod-second, quoted "
            "here per pod-hour (x 3600). The total assumes every pod runs for the full duration.",
        ]
        kind = "pay-as-you-go"
        if plan.spot_strategy == "SpotAsPriceGo":
            kind = "spot, SpotAsPriceGo"
            assumptions.append(
                "Spot prices move with the market. SpotAsPriceGo pays the market price, which is never above the "
                "pay-as-you-go price, so the quote uses the pay-as-you-go price as the upper bound; spot pods can be "
                "reclaimed after their protection period."
            )
        elif plan.spot_strategy == "SpotWithPriceLimit" and plan.spot_price_limit is not None:
            kind = f"spot, limit {plan.spot_price_limit:g}/h"
            limit = Decimal(str(plan.spot_price_limit))
            per_pod = min(limit, pay_as_you_go)
            assumptions.append(
                f"Spot prices move with the market. With SpotWithPriceLimit a pod never pays more than its limit "
                f"({limit} {chosen.currency}/h) nor more than the pay-as-you-go price ({money(pay_as_you_go)}), so "
                "the quote uses the lower of the two as the upper bound; spot pods are reclaimed when the market "
                "price rises above the limit."
            )
        if len(specs) > 1:
            others = ", ".join(f"{s} {money(prices[s].trade_price_per_hour)}" for s in specs if s != chosen_spec)
            assumptions.append(
                f"ECI may create a pod with any spec of eci-use-specs; the quote prices the dearest, {chosen_spec}, "
                f"so it is an upper bound (pay-as-you-go per pod-hour of the others: {others})."
            )
        n = Decimal(plan.replicas)
        items = [
            LineItem(
                item=f"ECI pods: {plan.replicas} x {chosen_spec} ({kind})",
                unit="pod-hour",
                unit_price=per_pod,
                quantity=n,
                hourly=money(per_pod * n),
                source=PriceSource(kind="api", name="ECI DescribeContainerGroupPrice"),
            )
        ]
        exclusions = [
            "Cluster fees, storage volumes, extra temporary storage, EIPs, public traffic and load balancers are not "
            "included."
        ]
        if plan.image_cache:
            exclusions.append(
                "Image caches: creating them automatically is free, but the cache's disk or snapshot is billed "
                "separately and not included."
            )
        return self._total(chosen.currency, items, plan.hours, assumptions, exclusions)

    def _total(
        self, currency: str, items: list[LineItem], hours: float, assumptions: list[str], exclusions: list[str]
    ) -> Pricing:
        hourly = money(sum((i.hourly for i in items), Decimal(0)))
        return Pricing(
            currency=currency,
            line_items=items,
            hourly_total=hourly,
            hours=hours,
            total=money(hourly * Decimal(str(hours))),
            assumptions=assumptions,
            exclusions=exclusions,
        )


def _advice(exc: CloudError) -> str:
    if exc.code == "CredentialsNotFound" or "AccessKey" in exc.code or exc.code == "SignatureDoesNotMatch":
        return (
            "Check the server's Alibaba Cloud credentials (environment, ~/.aliyun/config.json or RAM role), "
            "or start it with --sandbox to work offline."
        )
    if exc.code.startswith("Forbidden"):
        return "The credentials lack permission; grant the RAM policy for this action, then retry."
    if exc.retryable:
        return "The cloud is busy or unreachable; wait a little and retry."
    return "Check the plan against the message above and retry."
