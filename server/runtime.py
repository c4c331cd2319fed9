"""The services one server process shares, built from settings; MCP-free so tests can use it directly."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from ack_compute.cloud.billing import Billing
from ack_compute.cloud.clients import OpenApiClients
from ack_compute.cloud.config import CloudConfig, StaticCredentials
from ack_compute.cloud.cs import ContainerService
from ack_compute.cloud.eci import EciPrices
from ack_compute.cloud.ecs import EcsCatalog
from ack_compute.cloud.node_pools import NodePoolService
from ack_compute.cloud.vpc import VpcNetworks
from ack_compute.server.settings import Settings
from ack_compute.tools.background import Background
from ack_compute.tools.bills import Bills
from ack_compute.tools.budgets import CallerBudget
from ack_compute.tools.cleanup import Cleaner
from ack_compute.tools.deploy_acs import AcsDeployer
from ack_compute.tools.ensure_cluster import ClusterService, ClusterSettings
from ack_compute.tools.errors import CloudMismatch
from ack_compute.tools.kubeconfigs import Kubeconfigs
from ack_compute.tools.leases import Leases
from ack_compute.tools.ledger import Ledger
from ack_compute.tools.node_pools import NodePools
from ack_compute.tools.operations import Operations
from ack_compute.tools.ownership import Ownership
from ack_compute.tools.pricing import Pricer, RateTable
from ack_compute.tools.quotes import BudgetCaps, QuoteBook, load_or_create_secret
from ack_compute.tools.reaper import Reaper, ReaperSettings
from ack_compute.tools.replicas import Singleton
from ack_compute.tools.run_job import JobRunner
from ack_compute.tools.targets import Targets


def package_version() -> str:
    try:
        return version("ack-compute-mcp")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0+local"


def cloud_config(settings: Settings, credentials: StaticCredentials | None, agent: str = "") -> CloudConfig:
    """How to reach the cloud, from the operator's settings (the sandbox passes its own keys)."""
    return CloudConfig(
        region=settings.region,
        endpoint_override=settings.endpoint,
        protocol=settings.protocol,
        connect_timeout_ms=settings.connect_timeout_ms,
        read_timeout_ms=settings.read_timeout_ms,
        credentials=credentials,
        user_agent=f"ack-compute-mcp/{package_version()}{agent}",
        site=settings.site,
    )


@dataclass
class Runtime:
    settings: Settings
    clients: OpenApiClients
    ledger: Ledger
    quotes: QuoteBook
    pricer: Pricer
    cs: ContainerService
    ownership: Ownership
    operations: Operations
    clusters: ClusterService
    targets: Targets
    jobs: JobRunner
    deployer: AcsDeployer
    cleaner: Cleaner
    node_pools: NodePools
    # Billed so far per ledger row, for the meter (None when the account denies bills); cached for an hour.
    bills: Bills

    def background(self) -> Background:
        """The once-only work `serve` runs on one replica at a time: resuming what nobody holds (every kind)."""
        return Background(
            self.operations,
            [
                self.clusters.resume_unfinished,
                self.jobs.resume_unfinished,
                self.deployer.resume_unfinished,
                self.cleaner.resume_unfinished,
                self.node_pools.resume_unfinished,
            ],
        )

    def reaper(self, leader: Singleton | None = None) -> Reaper:
        """The lease reaper `serve` runs, acting as each lease's owner through this server's cleanup; with
        `leader`, it looks only while this replica holds it."""
        return Reaper(
            leader=leader,
            leases=Leases(self.ledger),
            ownership=self.ownership,
            operations=self.operations,
            cleaner=self.cleaner,
            pools=self.node_pools,
            settings=ReaperSettings(
                grace_seconds=self.settings.lease_grace_seconds,
                policy=self.settings.lease_policy,
                check_seconds=self.settings.lease_check_seconds,
            ),
        )

    @classmethod
    def build(cls, settings: Settings, credentials: StaticCredentials | None = None) -> Runtime:
        """Wire everything; cheap (no SDK import, no network) so server start stays fast. Raises CloudMismatch
        when the ledger holds the other cloud's records (the sandbox's for a real server, or the reverse)."""
        clients = OpenApiClients(cloud_config(settings, credentials))
        ledger = Ledger(settings.ledger_target(), idle_seconds=settings.operation_lease_seconds)
        try:  # before anything else is written: a ledger of the other cloud is left as it was
            ledger.belong_to(settings.cloud())
        except CloudMismatch:
            ledger.close()
            raise
        secret = (
            settings.quote_secret.get_secret_value().encode()
            if settings.quote_secret
            else load_or_create_secret(settings.state_dir)
        )
        quotes = QuoteBook(
            secret,
            ledger,
            ttl_seconds=settings.quote_ttl_seconds,
            caps=BudgetCaps(
                currency=settings.budget_currency,
                max_hourly=settings.max_hourly,
                max_per_quote=settings.max_per_quote,
                max_hourly_per_caller=settings.max_hourly_per_caller,
                budgets=CallerBudget(daily_budget=settings.daily_budget, monthly_budget=settings.monthly_budget),
            ),
            drift_tolerance=settings.price_drift_tolerance,
        )
        cs = ContainerService(clients)
        ecs = EcsCatalog(clients)
        pricer = Pricer(
            ecs,
            cs,
            RateTable.load(settings.rate_table),
            site=settings.site,
            cache_ttl_seconds=settings.quote_ttl_seconds,
            eci=EciPrices(clients),
        )
        ownership = Ownership(ledger)
        operations = Operations(
            ledger,
            read_only=settings.read_only,
            lease_seconds=settings.operation_lease_seconds,
            heartbeat_seconds=settings.operation_heartbeat_seconds,
        )
        kubeconfigs = Kubeconfigs(cs, minutes=settings.kubeconfig_minutes, private_endpoint=settings.private_endpoint)
        targets = Targets(
            cs,
            kubeconfigs,
            settings.region,
            settings.kubeconfig,
            allowed_contexts=settings.allowed_contexts,
            allow_exec_credentials=settings.allow_exec_credentials,
            read_only=settings.read_only,
            ownership=ownership,
        )
        # What every tool that buys something is given: the quotes it redeems, the prices, the ledger of what is
        # ours and the resumable operations.
        paying = {"quotes": quotes, "pricer": pricer, "ownership": ownership, "operations": operations}
        clusters = ClusterService(
            cs=cs,
            ecs=ecs,
            vpcs=VpcNetworks(clients),
            kubeconfigs=kubeconfigs,
            **paying,
            default_region=settings.region,
            settings=ClusterSettings(
                probe_timeout_s=settings.probe_timeout_seconds, probe_concurrency=settings.probe_concurrency
            ),
        )
        pools = NodePoolService(clients)
        node_pools = NodePools(
            cs=cs,
            pools=pools,
            ecs=ecs,
            targets=targets,
            kubeconfigs=kubeconfigs,
            **paying,
            vpcs=clusters.vpcs,
        )
        cleaner = Cleaner(
            cs=cs, vpcs=clusters.vpcs, targets=targets, ownership=ownership, operations=operations, pools=node_pools
        )
        return cls(
            settings=settings,
            clients=clients,
            ledger=ledger,
            quotes=quotes,
            pricer=pricer,
            cs=cs,
            ownership=ownership,
            operations=operations,
            clusters=clusters,
            targets=targets,
            deployer=AcsDeployer(targets=targets, quotes=quotes, ownership=ownership, operations=operations),
            cleaner=cleaner,
            node_pools=node_pools,
            bills=Bills(Billing(clients), pools),
            jobs=JobRunner(
                targets=targets,
                **paying,
                after_job=cleaner.after_job,
                pool_placement=node_pools.placement_for,
            ),
        )
