"""Deployments, ReplicaSets and Services on the emulator, beyond what the contract suite can afford to wait for:
the pod-template-hash against values a real 1.20 controller produced, quantities, the scale subresource,
progress deadlines, minReadySeconds, Recreate, history cleanup, pausing, and Service allocation."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from ack_compute.sandbox.kube import KubeCluster
from ack_compute.sandbox.kube.apps_kinds import DEPLOYMENT, REPLICA_SET
from ack_compute.sandbox.kube.context import EMULATED_VERSION
from ack_compute.sandbox.kube.pod_template_hash import pod_template_hash
from ack_compute.sandbox.kube.quantity import canonical_quantity
from ack_compute.sandbox.kube.scale import scale_subresource
from ack_compute.sandbox.kube.services import NODE_PORT_RANGE, SERVICE, SERVICE_CIDR
from ack_compute.sandbox.kube.status import StatusError
from tests.helpers.waiting import eventually


@pytest.fixture
def apis(
    make_cluster: Callable[..., KubeCluster], kube_client: Callable[..., client.ApiClient]
) -> Callable[..., tuple[KubeCluster, client.AppsV1Api, client.CoreV1Api]]:
    def make(**kwargs: Any) -> tuple[KubeCluster, client.AppsV1Api, client.CoreV1Api]:
        kwargs.setdefault("kubernetes_version", str(EMULATED_VERSION))
        cluster = make_cluster(**kwargs)
        api = kube_client(cluster.server_url, cluster.issue_token(role="admin", ttl_seconds=600))
        return cluster, client.AppsV1Api(api), client.CoreV1Api(api)

    return make


def deployment(name: str = "web", replicas: int = 2, image: str = "nginx:1.19", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": image}]},
            },
            **spec,
        },
    }


def mark_ready(core: client.CoreV1Api, pod: Any) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    condition = {"type": "Ready", "status": "True", "lastTransitionTime": now}
    try:
        core.patch_namespaced_pod_status(
            pod.metadata.name, pod.metadata.namespace, {"status": {"phase": "Running", "conditions": [condition]}}
        )
    except ApiException as error:
        if error.status != 404:
            raise


def live_pods(core: client.CoreV1Api, selector: str) -> list[Any]:
    items = core.list_namespaced_pod("default", label_selector=selector).items
    return [p for p in items if p.metadata.deletion_timestamp is None]


def make_all_ready(core: client.CoreV1Api, selector: str) -> None:
    for pod in live_pods(core, selector):
        if not any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or []):
            mark_ready(core, pod)


def reasons(deployment: Any) -> dict[str, str]:
    return {c.type: c.reason for c in deployment.status.conditions or []}


# --- pod-template-hash and quantities --------------------------------------------------------------------------

BASIC_TEMPLATE = {
    "metadata": {"creationTimestamp": None, "labels": {"app": "web"}},
    "spec": {
        "containers": [
            {
                "name": "c",
                "image": "nginx:1.19",
                "resources": {},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "imagePullPolicy": "IfNotPresent",
            }
        ],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "securityContext": {},
        "schedulerName": "default-scheduler",
    },
}


def test_pod_template_hash_matches_the_real_controller() -> None:
    """7c7bf6d49d is what kube-controller-manager 1.20.2 named this template's ReplicaSet."""
    assert pod_template_hash(BASIC_TEMPLATE) == "7c7bf6d49d"
    assert pod_template_hash(BASIC_TEMPLATE, 1) != pod_template_hash(BASIC_TEMPLATE)
    with_resources = json.loads(json.dumps(BASIC_TEMPLATE))
    container = with_resources["spec"]["containers"][0]
    container["resources"] = {"limits": {"cpu": "1500m", "memory": "8Gi", "example.com/big": "1023Ti"}}
    container["readinessProbe"] = {
        "httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }
    assert pod_template_hash(with_resources) not in (pod_template_hash(BASIC_TEMPLATE), "")


def test_created_replica_set_uses_the_real_hash(apis: Callable[..., Any]) -> None:
    _, apps, _ = apis()
    apps.create_namespaced_deployment("default", deployment(replicas=0))
    rs = eventually(lambda: apps.list_namespaced_replica_set("default").items)
    assert rs[0].metadata.name == "web-7c7bf6d49d"
    assert rs[0].spec.selector.match_labels == {"app": "web", "pod-template-hash": "7c7bf6d49d"}


# Templates as clients send them, and the pod-template-hash kube-controller-manager 1.20.2 gave their ReplicaSets:
# the emulator's defaulting and the hash together must land on the same name.
RICH_TEMPLATES = [
    {
        "metadata": {"labels": {"app": "r1"}, "annotations": {"a": "b"}},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "nginx",
                    "ports": [{"containerPort": 80, "name": "http"}],
                    "env": [
                        {"name": "A", "value": "1"},
                        {"name": "P", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    ],
                    "resources": {
                        "limits": {"cpu": "1", "memory": "1Gi"},
                        "requests": {"cpu": "0.5", "memory": "512Mi"},
                    },
                    "readinessProbe": {"httpGet": {"port": 80, "path": "/h"}},
                    "livenessProbe": {"tcpSocket": {"port": "http"}, "initialDelaySeconds": 5},
                    "command": ["sh", "-c", "x y"],
                    "args": ["--a"],
                    "volumeMounts": [{"name": "v", "mountPath": "/v"}],
                    "securityContext": {"runAsUser": 1000, "capabilities": {"drop": ["ALL"]}},
                }
            ],
            "volumes": [
                {"name": "v", "configMap": {"name": "cm", "items": [{"key": "k", "path": "p"}]}},
                {"name": "e", "emptyDir": {"sizeLimit": "1Gi"}},
                {"name": "s", "secret": {"secretName": "s"}},
            ],
        },
    },
    {
        "metadata": {"labels": {"app": "r2", "tier": "x"}},
        "spec": {
            "containers": [
                {"name": "a", "image": "busybox:latest"},
                {
                    "name": "b",
                    "image": "busybox@sha256:" + "a" * 64,
                    "resources": {"limits": {"nvidia.com/gpu": "1", "cpu": "250m"}},
                },
            ],
            "initContainers": [{"name": "i", "image": "busybox"}],
            "nodeSelector": {"pool": "gpu", "zone": "a"},
            "tolerations": [
                {"key": "k", "operator": "Exists", "effect": "NoSchedule"},
                {"key": "t", "value": "v", "tolerationSeconds": 30, "effect": "NoExecute"},
            ],
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchExpressions": [{"key": "z", "operator": "In", "values": ["a", "b"]}]}
                        ]
                    }
                },
                "podAntiAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "weight": 10,
                            "podAffinityTerm": {
                                "labelSelector": {"matchLabels": {"app": "r2"}},
                                "topologyKey": "kubernetes.io/hostname",
                            },
                        }
                    ]
                },
            },
            "serviceAccountName": "sa",
            "hostNetwork": False,
            "priorityClassName": "system-cluster-critical",
            "enableServiceLinks": False,
            "terminationGracePeriodSeconds": 5,
            "imagePullSecrets": [{"name": "reg"}],
            "dnsConfig": {"options": [{"name": "ndots", "value": "2"}]},
            "securityContext": {"fsGroup": 2000, "sysctls": [{"name": "a", "value": "b"}]},
        },
    },
    {
        "metadata": {"labels": {"app": "r3"}},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "x",
                    "resources": {
                        "requests": {"memory": "1Gi", "cpu": "1", "ephemeral-storage": "1500Mi"},
                        "limits": {"memory": "8Gi", "cpu": "1500m", "example.com/big": "1023Ti"},
                    },
                    "lifecycle": {"preStop": {"exec": {"command": ["sleep", "1"]}}},
                    "startupProbe": {"exec": {"command": ["true"]}},
                }
            ],
            "topologySpreadConstraints": [
                {
                    "maxSkew": 1,
                    "topologyKey": "zone",
                    "whenUnsatisfiable": "DoNotSchedule",
                    "labelSelector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]},
                }
            ],
            "runtimeClassName": "rc",
            "preemptionPolicy": "Never",
            "hostAliases": [{"ip": "1.2.3.4", "hostnames": ["a", "b"]}],
        },
    },
]
REAL_HASHES = ["7cc8c9d58", "bc968f57c", "56dc7688f"]


@pytest.mark.parametrize("index", range(len(REAL_HASHES)))
def test_defaulted_templates_hash_like_the_real_controller(apis: Callable[..., Any], index: int) -> None:
    _, apps, _ = apis()
    template = RICH_TEMPLATES[index]
    selector = {"matchLabels": {"app": template["metadata"]["labels"]["app"]}}
    body = {"metadata": {"name": "rich"}, "spec": {"replicas": 0, "selector": selector, "template": template}}
    apps.create_namespaced_deployment("default", body)
    names = eventually(lambda: [rs.metadata.name for rs in apps.list_namespaced_replica_set("default").items])
    assert names == [f"rich-{REAL_HASHES[index]}"]


# What kube-apiserver 1.20.2 printed for these cpu requests (ResourceList values round up to milli units).
QUANTITIES = {
    "0.5": "500m",
    "1.5Gi": "1536Mi",
    "1e3": "1e3",
    "1000": "1k",
    "1024": "1024",
    "0.1m": "1m",
    "2048Ki": "2Mi",
    "1.5": "1500m",
    "12e6": "12e6",
    "0": "0",
    "1Ei": "1Ei",
    "1.0Gi": "1Gi",
    "3000m": "3",
    "1.5e3": "1500",
    "0.5Mi": "512Ki",
    "1.5Ki": "1536",
    "1234567k": "1234567k",
}


@pytest.mark.parametrize(("given", "printed"), QUANTITIES.items())
def test_quantities_print_like_the_apiserver(given: str, printed: str) -> None:
    assert canonical_quantity(given, milli=True) == printed


def test_template_quantities_are_canonical(apis: Callable[..., Any]) -> None:
    _, apps, _ = apis()
    body = deployment(replicas=0)
    body["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "0.5", "memory": "2048Ki"}}
    created = apps.create_namespaced_deployment("default", body)
    assert created.spec.template.spec.containers[0].resources.requests == {"cpu": "500m", "memory": "2Mi"}


# --- the scale subresource (served through apps.scale_subresource) ------------------------------------------


def test_scale_subresource(apis: Callable[..., Any]) -> None:
    cluster, apps, _ = apis()
    apps.create_namespaced_deployment("default", deployment(replicas=1))
    ctx = cluster.system_context("kubectl")

    def call(method: str, body: Any = None, content_type: str = "application/json", name: str = "web") -> Any:
        data = json.dumps(body).encode() if body is not None else b""
        return scale_subresource(cluster, DEPLOYMENT, "default", name, method, data, content_type, ctx)

    scale = call("GET")
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"] == {"replicas": 1} and scale["status"]["selector"] == "app=web"
    patched = call("PATCH", {"spec": {"replicas": 3}}, "application/merge-patch+json")
    assert patched["spec"] == {"replicas": 3} and apps.read_namespaced_deployment("web", "default").spec.replicas == 3
    current = call("GET")
    current["spec"]["replicas"] = 0
    assert call("PUT", current)["spec"] == {}
    with pytest.raises(StatusError) as negative:
        call("PATCH", {"spec": {"replicas": -1}}, "application/merge-patch+json")
    assert negative.value.code == 422 and negative.value.details["kind"] == "Scale"
    with pytest.raises(StatusError) as stale:
        call("PUT", scale)
    assert stale.value.code == 409
    with pytest.raises(StatusError) as missing:
        call("GET", name="nope")
    assert missing.value.message == 'deployments/scale.apps "nope" not found'
    with pytest.raises(StatusError) as verb:
        call("DELETE")
    assert verb.value.code == 405
    apps.create_namespaced_replica_set(
        "default",
        {
            "metadata": {"name": "rs"},
            "spec": {
                "replicas": 0,
                "selector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}]},
                "template": {
                    "metadata": {"labels": {"tier": "a"}},
                    "spec": {"containers": [{"name": "c", "image": "i"}]},
                },
            },
        },
    )
    rs_scale = scale_subresource(cluster, REPLICA_SET, "default", "rs", "GET", b"", "", ctx)
    assert rs_scale["status"] == {"replicas": 0, "selector": "tier in (a,b)"}


# --- deployment controller -------------------------------------------------------------------------------------


def test_progress_deadline_exceeded(apis: Callable[..., Any]) -> None:
    """The hub runs 50x faster: a 5 s deadline passes in a tenth of a second when no pod turns Ready."""
    _, apps, _ = apis()
    apps.create_namespaced_deployment("default", deployment(replicas=1, progressDeadlineSeconds=5))
    timed_out = eventually(
        lambda: (
            (d := apps.read_namespaced_deployment("web", "default"))
            and reasons(d).get("Progressing") == "ProgressDeadlineExceeded"
            and d
        )
    )
    progressing = next(c for c in timed_out.status.conditions if c.type == "Progressing")
    assert progressing.status == "False"
    assert progressing.message == 'ReplicaSet "web-7c7bf6d49d" has timed out progressing.'
    assert reasons(timed_out)["Available"] == "MinimumReplicasUnavailable"


def test_min_ready_seconds_delays_availability(apis: Callable[..., Any]) -> None:
    _, apps, core = apis()
    apps.create_namespaced_deployment("default", deployment(replicas=1, minReadySeconds=100))
    eventually(lambda: live_pods(core, "app=web"))
    make_all_ready(core, "app=web")
    ready = eventually(
        lambda: (d := apps.read_namespaced_deployment("web", "default")) and d.status.ready_replicas == 1 and d
    )
    assert not ready.status.available_replicas  # 100 s are 2 s here: not available at once
    done = eventually(
        lambda: (d := apps.read_namespaced_deployment("web", "default")) and d.status.available_replicas == 1 and d
    )
    assert reasons(done) == {"Available": "MinimumReplicasAvailable", "Progressing": "NewReplicaSetAvailable"}


def test_recreate_scales_old_pods_away_first_and_history_is_trimmed(apis: Callable[..., Any]) -> None:
    _, apps, core = apis()
    apps.create_namespaced_deployment(
        "default", deployment(replicas=2, strategy={"type": "Recreate"}, revisionHistoryLimit=0)
    )
    eventually(lambda: len(live_pods(core, "app=web")) == 2)
    make_all_ready(core, "app=web")
    eventually(lambda: apps.read_namespaced_deployment("web", "default").status.available_replicas == 2)
    apps.patch_namespaced_deployment(
        "web", "default", {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:1.20"}]}}}}
    )
    images: set[str] = set()

    def finished() -> bool:
        pods = live_pods(core, "app=web")
        images.add(",".join(sorted({p.spec.containers[0].image for p in pods})))
        make_all_ready(core, "app=web")
        d = apps.read_namespaced_deployment("web", "default")
        return (
            reasons(d).get("Progressing") == "NewReplicaSetAvailable"
            and d.status.available_replicas == 2
            and d.status.updated_replicas == 2
            and d.status.observed_generation == 2
        )

    eventually(finished)
    assert "nginx:1.19,nginx:1.20" not in images, "Recreate never runs old and new pods together"
    remaining = eventually(lambda: len(rs := apps.list_namespaced_replica_set("default").items) == 1 and rs)
    assert remaining[0].metadata.annotations["deployment.kubernetes.io/revision"] == "2"


def test_pause_and_resume(apis: Callable[..., Any]) -> None:
    _, apps, _ = apis()
    apps.create_namespaced_deployment("default", deployment(replicas=1, paused=True))
    paused = eventually(
        lambda: (
            (d := apps.read_namespaced_deployment("web", "default"))
            and reasons(d).get("Progressing") == "DeploymentPaused"
            and d
        )
    )
    assert not apps.list_namespaced_replica_set("default").items  # a paused deployment makes no ReplicaSet
    assert paused.status.observed_generation == 1
    apps.patch_namespaced_deployment("web", "default", {"spec": {"paused": False}})
    eventually(lambda: apps.list_namespaced_replica_set("default").items)


def test_scale_down_keeps_ready_pods_and_bound_pods_terminate_gracefully(apis: Callable[..., Any]) -> None:
    cluster, apps, core = apis()
    cluster.upsert_node("n1", ready=True)
    apps.create_namespaced_deployment("default", deployment(replicas=3))
    pods = eventually(lambda: len(p := live_pods(core, "app=web")) == 3 and all(x.spec.node_name for x in p) and p)
    mark_ready(core, pods[0])
    eventually(lambda: apps.read_namespaced_deployment("web", "default").status.ready_replicas == 1)
    apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 1}})
    left = eventually(lambda: len(p := live_pods(core, "app=web")) == 1 and p)
    assert left[0].metadata.name == pods[0].metadata.name
    terminating = [p for p in core.list_namespaced_pod("default").items if p.metadata.deletion_timestamp]
    assert len(terminating) == 2  # bound pods wait out their grace period for a kubelet
    rs = eventually(lambda: (r := apps.list_namespaced_replica_set("default").items[0]).status.replicas == 1 and r)
    assert rs.spec.replicas == 1 and rs.metadata.annotations["deployment.kubernetes.io/desired-replicas"] == "1"


def test_delete_removes_replica_sets_and_pods(apis: Callable[..., Any]) -> None:
    _, apps, core = apis()
    apps.create_namespaced_deployment("default", deployment(replicas=2))
    eventually(lambda: len(live_pods(core, "app=web")) == 2)
    apps.delete_namespaced_deployment("web", "default", propagation_policy="Background")
    eventually(
        lambda: not apps.list_namespaced_replica_set("default").items and not core.list_namespaced_pod("default").items
    )


def test_replica_set_field_selector_and_failure_condition(apis: Callable[..., Any]) -> None:
    _, apps, _ = apis()
    body = deployment("rs", replicas=1)
    body["spec"]["template"]["spec"]["priorityClassName"] = "no-such-class"
    apps.create_namespaced_replica_set("default", body)
    failed = eventually(lambda: (rs := apps.read_namespaced_replica_set("rs", "default")).status.conditions and rs)
    condition = failed.status.conditions[0]
    assert (condition.type, condition.reason) == ("ReplicaFailure", "FailedCreate")
    assert "no PriorityClass with name no-such-class was found" in condition.message
    assert [
        r.metadata.name for r in apps.list_namespaced_replica_set("default", field_selector="status.replicas=0").items
    ] == ["rs"]


# --- services --------------------------------------------------------------------------------------------------


def test_services_get_distinct_addresses_and_node_ports(apis: Callable[..., Any]) -> None:
    _, _, core = apis()
    ips, ports = set(), set()
    for index in range(20):
        svc = core.create_namespaced_service(
            "default",
            {
                "metadata": {"name": f"s{index}"},
                "spec": {"type": "NodePort", "ports": [{"port": 80, "name": "a"}, {"port": 81, "name": "b"}]},
            }
            if index % 2
            else {"metadata": {"name": f"s{index}"}, "spec": {"ports": [{"port": 80}]}},
        )
        ips.add(svc.spec.cluster_ip)
        ports.update(p.node_port for p in svc.spec.ports if p.node_port)
    assert len(ips) == 20 and all(ipaddress.ip_address(ip) in SERVICE_CIDR for ip in ips)
    assert len(ports) == 20 and all(p in NODE_PORT_RANGE for p in ports)
    shared = core.create_namespaced_service(
        "default",
        {
            "metadata": {"name": "dns"},
            "spec": {
                "type": "LoadBalancer",
                "externalTrafficPolicy": "Local",
                "ports": [{"name": "tcp", "port": 53}, {"name": "udp", "port": 53, "protocol": "UDP"}],
            },
        },
    )
    assert shared.spec.ports[0].node_port == shared.spec.ports[1].node_port
    assert shared.spec.health_check_node_port in NODE_PORT_RANGE
    assert shared.status.load_balancer.ingress is None


def test_newer_versions_record_ip_families(apis: Callable[..., Any]) -> None:
    _, _, core = apis(kubernetes_version="1.31.1")
    svc = core.create_namespaced_service(
        "default", {"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}
    )
    assert svc.spec.ip_families == ["IPv4"] and svc.spec.ip_family_policy == "SingleStack"
    assert svc.spec.internal_traffic_policy == "Cluster" and svc.spec.allocate_load_balancer_node_ports is True
    assert SERVICE.kind == "Service"
