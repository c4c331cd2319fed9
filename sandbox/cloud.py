"""SandboxCloud: the embedded Alibaba Cloud, served on loopback for the real SDKs to call unchanged."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from ack_compute.sandbox import planting
from ack_compute.sandbox.app import build_app
from ack_compute.sandbox.catalog import load_catalog
from ack_compute.sandbox.faults import Fault
from ack_compute.sandbox.kube_bridge import KubeBridge
from ack_compute.sandbox.lifecycle import MAINTENANCE_SECONDS
from ack_compute.sandbox.loopback import LoopbackServer, Served
from ack_compute.sandbox.state import SandboxState, generate_credentials
from ack_compute.sandbox.world import Cluster, Faults, LifecycleFault, SecurityGroup, Task, Vpc, VSwitch


class SandboxCloud(Served):
    """A loopback OpenAPI server with its own random AccessKey; use as a context manager or start()/stop().

    `verify_signatures=False` skips signature checks and is meant for benchmarks only. Each cluster's simulated
    kubelet runs pods' commands as local processes; `run_containers=False` turns that off (containers then
    report success without running, and their logs say so).
    """

    def __init__(self, time_scale: float = 1.0, verify_signatures: bool = True, run_containers: bool = True) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        kube = KubeBridge(run_containers=run_containers, time_scale=lambda: self._state.time_scale)
        self._state = SandboxState(
            catalog=load_catalog(),
            credentials=generate_credentials(),
            verify_signatures=verify_signatures,
            time_scale=time_scale,
            kube=kube,
        )
        self._http = LoopbackServer(build_app(self._state), name="sandbox cloud")

    def start(self) -> None:
        """Serve on 127.0.0.1 at a free port from a daemon thread; returns once the server accepts calls."""
        if self._http.running:
            raise RuntimeError("the sandbox cloud is already running")
        self._http.start()
        self._state.kube.start()

    def stop(self) -> None:
        if not self._http.running:
            return
        self._http.stop()
        self._state.world.clock.scheduler.stop()
        self._state.kube.stop()

    @property
    def endpoint(self) -> str:
        if self._http.port is None:
            raise RuntimeError("the sandbox cloud is not running")
        return f"127.0.0.1:{self._http.port}"

    @property
    def access_key_id(self) -> str:
        return self._state.credentials.access_key_id

    @property
    def access_key_secret(self) -> str:
        return self._state.credentials.access_key_secret.get_secret_value()

    def server_env(self, state_dir: str | Path, **settings: str) -> dict[str, str]:
        """What a server process needs to use this cloud exactly like a real one: keys for the default
        credentials chain (no metadata-service lookup), the endpoint override and its own state dir.
        `settings` are ACK_COMPUTE_* values by lower-case name, e.g. log_level="WARNING"."""
        return {
            "ALIBABA_CLOUD_ACCESS_KEY_ID": self.access_key_id,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": self.access_key_secret,
            "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
            "ACK_COMPUTE_ENDPOINT": self.endpoint,
            "ACK_COMPUTE_PROTOCOL": "http",
            "ACK_COMPUTE_STATE_DIR": str(state_dir),
            **{f"ACK_COMPUTE_{name.upper()}": value for name, value in settings.items()},
        }

    def counts(self) -> dict[str, int]:
        """Requests per action since the last reset, failed and faulted ones included."""
        return self._state.counter.snapshot()

    def reset_counts(self) -> None:
        self._state.counter.reset()

    def inject(self, action: str, fault: Fault, times: int = 1) -> None:
        """The next `times` requests of `action` get `fault` (after signature checks, before handling)."""
        self._state.faults.add(action, fault, times)

    def clear_faults(self) -> None:
        """Drop queued request faults and queued lifecycle faults (failed creations, deletions, stalled nodes)."""
        self._state.faults.clear()
        with self._state.world.lock:
            self._state.world.faults = Faults()

    # The clock

    @property
    def time_scale(self) -> float:
        """Simulated cloud work takes its real-world duration divided by this; change it at any time."""
        return self._state.time_scale

    @time_scale.setter
    def time_scale(self, value: float) -> None:
        if value <= 0:
            raise ValueError("time_scale must be positive")
        self._state.time_scale = value
        self._state.calendar.rescale()

    # Bills (BssOpenApi DescribeInstanceBill, from the sandbox's own metering)

    @property
    def bill_lag_seconds(self) -> float:
        """Sandbox seconds of usage a bill does not show yet (default 24 h, as Alibaba documents); 0 in tests."""
        return self._state.billing.lag_seconds

    @bill_lag_seconds.setter
    def bill_lag_seconds(self, value: float) -> None:
        if value < 0:
            raise ValueError("bill_lag_seconds must not be negative")
        self._state.billing.lag_seconds = value

    def deny_bills(self, denied: bool = True) -> None:
        """Make DescribeInstanceBill answer NoPermission (an identity without bss:DescribeInstanceBill), or not."""
        self._state.billing.denied = denied

    # Planting: resources as if someone else had created them

    def plant_vpc(
        self,
        name: str = "",
        *,
        cidr_block: str = "192.168.0.0/16",
        region_id: str = "cn-hangzhou",
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """An Available VPC; returns its id."""
        return planting.plant_vpc(self._state, name, cidr_block=cidr_block, region_id=region_id, tags=tags)

    def plant_vswitch(self, vpc_id: str, **options: Any) -> str:
        """An Available vSwitch in `vpc_id` (first zone and first free /24 unless `zone_id`, `cidr_block` are given;
        also `name`, `tags`: planting.plant_vswitch's options, passed on as given); returns its id."""
        return planting.plant_vswitch(self._state, vpc_id, **options)

    def plant_cluster(self, name: str, *, state: planting.PlantedState = "running", **options: Any) -> str:
        """A cluster (with its own VPC and vSwitch unless `vswitch_id` is given); returns its id. `options` are
        planting.plant_cluster's (nodes, nodes_ready, tags, cluster_spec, profile, limited_rbac, unresponsive,
        region_id, vswitch_id, instance_type, deletion_protection, addons, public_endpoint), passed on as given.

        `running` clusters serve their Kubernetes API at once, `initial` ones go on to run like created
        ones, `failed` ones stay failed. `limited_rbac` makes their kubeconfigs' certificates carry a limited group;
        `unresponsive` makes their Kubernetes API hang. Clusters get their profile's default add-ons
        (`Serverless` ones have ack-virtual-node and no node pool) plus `addons`, name -> version (None for
        the current one, any other to plant an outdated add-on). `public_endpoint=False` leaves the API server
        without a public endpoint (no EIP), as CreateCluster with `endpoint_public_access=false` does."""
        return planting.plant_cluster(self._state, name, cluster_state=state, **options)

    # Lifecycle faults

    def fail_next_cluster_creation(
        self, code: str = "ErrorCreateCluster", message: str = "failed to create the cluster's control plane"
    ) -> None:
        """The next CreateCluster is accepted, then the cluster ends `failed` and its task `fail` with this error."""
        with self._state.world.lock:
            self._state.world.faults.creation.append(LifecycleFault(code=code, message=message))

    def fail_next_cluster_deletion(
        self, code: str = "ErrorDeleteCluster", message: str = "failed to release the cluster's resources"
    ) -> None:
        """The next DeleteCluster is accepted, then the cluster ends `delete_failed` and its task `fail`."""
        with self._state.world.lock:
            self._state.world.faults.deletion.append(LifecycleFault(code=code, message=message))

    def fail_next_nodepool_scale(
        self, code: str = "ScaleNodePoolFailed", message: str = "no instances could be created for the node pool"
    ) -> None:
        """The next scale-out (ModifyClusterNodePool to a larger size) is accepted, then its task ends `fail` with
        this error and the pool stays active with the nodes it had."""
        with self._state.world.lock:
            self._state.world.faults.nodepool_scale.append(LifecycleFault(code=code, message=message))

    def set_cluster_state(
        self, cluster_id: str, state: str, *, back_to_running_after: float | None = MAINTENANCE_SECONDS
    ) -> None:
        """Test knob: put an existing cluster into any of the 15 states (or an unknown future one) the way ACK gets
        it there. Maintenance phases (updating, upgrading, scaling, removing, draining) return to running after
        `back_to_running_after` cloud seconds (None: stay); inactive, unavailable, waiting, disconnected and unknown
        states make its API server unreachable until `running` is set; deleting runs a real deletion; deleted and
        delete_failed end one at once. `initial` and `failed` come only from creation (plant_cluster's state)."""
        self._state.lifecycle.set_state(cluster_id, state, back_to_running_after=back_to_running_after)

    def stall_next_cluster_nodes(self) -> None:
        """The next created cluster's nodes join but never turn Ready (until set_nodes_ready)."""
        with self._state.world.lock:
            self._state.world.faults.stalled_nodes += 1

    def set_nodes_ready(self, cluster_id: str, ready: bool = True) -> None:
        """Turn every node of the cluster Ready or NotReady now; NotReady nodes stay so."""
        self._state.lifecycle.set_nodes_ready(cluster_id, ready)

    def set_addon(self, cluster_id: str, name: str, version: str | None) -> None:
        """Give the cluster add-on `name` at `version` now (active, no task), or remove it with None; with
        ack-virtual-node a running cluster's virtual nodes come and go. For "missing" and "too old" tests."""
        self._state.lifecycle.set_addon(cluster_id, name, version)

    def addons(self, cluster_id: str) -> dict[str, str]:
        """The cluster's add-ons as name -> version, whatever their state."""
        with self._state.world.lock:
            return {addon.name: addon.version for addon in self._state.world.clusters[cluster_id].addons}

    def set_kubeconfig_role(self, cluster_id: str, role: Literal["admin", "limited"]) -> None:
        """Kubeconfigs issued for the cluster from now on carry an `admin` or a `limited` (RBAC-poor) token."""
        with self._state.world.lock:
            self._state.world.clusters[cluster_id].kubeconfig_role = role

    def set_cluster_unresponsive(self, cluster_id: str, unresponsive: bool = True) -> None:
        """Make the cluster's Kubernetes API hang (or answer again)."""
        with self._state.world.lock:
            self._state.world.clusters[cluster_id].unresponsive = unresponsive
        self._state.kube.set_unresponsive(cluster_id, unresponsive)

    # Reading the world, deleted resources included (their `deleted` is set)

    def clusters(self) -> list[Cluster]:
        with self._state.world.lock:
            return [cluster.model_copy(deep=True) for cluster in self._state.world.clusters.values()]

    def cluster(self, cluster_id: str) -> Cluster:
        with self._state.world.lock:
            return self._state.world.clusters[cluster_id].model_copy(deep=True)

    def vpcs(self) -> list[Vpc]:
        with self._state.world.lock:
            return [vpc.model_copy(deep=True) for vpc in self._state.world.vpcs.values()]

    def vswitches(self) -> list[VSwitch]:
        with self._state.world.lock:
            return [vswitch.model_copy(deep=True) for vswitch in self._state.world.vswitches.values()]

    def security_groups(self) -> list[SecurityGroup]:
        with self._state.world.lock:
            return [group.model_copy(deep=True) for group in self._state.world.security_groups.values()]

    def tasks(self) -> list[Task]:
        with self._state.world.lock:
            return [task.model_copy(deep=True) for task in self._state.world.tasks.values()]

    def add_image(self, reference: str) -> None:
        """Let clusters' kubelets pull one more image (any tag when `reference` has none); by default only
        busybox, python, nginx, alpine, stress, pause and coredns pull, from Docker Hub or Alibaba's registries."""
        self._state.kube.add_image(reference)

    @property
    def kube_available(self) -> bool:
        """Whether clusters get a real Kubernetes API (the kube package is present)."""
        return self._state.kube.available

    def __repr__(self) -> str:
        where = self.endpoint if self._http.port is not None else "stopped"
        return f"SandboxCloud({where}, access_key_id={self.access_key_id!r})"
