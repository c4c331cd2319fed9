"""deploy/kubernetes as a reviewer and the real kube-apiserver read it.

The rules (two replicas, non-root, secrets by reference only, PDB/Service/probes aimed at the Deployment's pods)
are checked on the YAML; the same objects then go to a real kube-apiserver (scripts/kube-control-plane.sh,
v1.20) as a server-side dry run (`?dryRun=All`: validation and admission, nothing stored), which must accept each
one and keep every field sent (1.20 drops unknown fields silently, so a misspelt field shows as missing).
Without the control plane's binaries the dry run is skipped, unless ACK_COMPUTE_REQUIRE_REAL_KUBE=1 (CI).
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from dockerfile_parse import DockerfileParser
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient

from ack_compute.server.access import http_access
from ack_compute.server.settings import Settings
from tests.helpers import kube_plane

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "deploy" / "kubernetes"
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
SECRET_NAME = ("KEY", "SECRET", "TOKEN", "PASSW", "DATABASE_URL", "CREDENTIAL")
# Settings read outside server/settings.py: the ledger's database URL (tools/ledger.py, issue #17).


def documents() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(MANIFESTS.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def one(kind: str) -> dict[str, Any]:
    (found,) = [d for d in documents() if d["kind"] == kind]
    return found


def deployment() -> dict[str, Any]:
    return one("Deployment")


def pod() -> dict[str, Any]:
    return deployment()["spec"]["template"]["spec"]


def server() -> dict[str, Any]:
    (container,) = pod()["containers"]
    return container


def serving_port() -> int:
    args = server()["args"]
    return int(args[args.index("--port") + 1])


def container_port(port: int | str) -> int:
    by_name = {p["name"]: p["containerPort"] for p in server()["ports"]}
    return by_name[port] if isinstance(port, str) else port


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def image_user() -> int:
    users = [
        i["value"] for i in DockerfileParser(path=str(REPO / "Dockerfile")).structure if i["instruction"] == "USER"
    ]
    return int(users[-1].split(":")[0])


def settings_env_names() -> set[str]:
    names = set()
    for name, field in Settings.model_fields.items():
        names.add(f"ACK_COMPUTE_{name.upper()}")
        choices = getattr(field.validation_alias, "choices", [])
        names.update(c for c in choices if isinstance(c, str) and c.isupper())
    return names


# --- the rules ---------------------------------------------------------------------------------------------------


def test_every_object_is_in_the_namespace_and_no_secret_is_shipped() -> None:
    kinds = sorted(d["kind"] for d in documents())
    assert kinds == ["ConfigMap", "Deployment", "Namespace", "PodDisruptionBudget", "Service", "ServiceAccount"]
    namespace = one("Namespace")["metadata"]["name"]
    assert all(d["metadata"].get("namespace") == namespace for d in documents() if d["kind"] != "Namespace")


def test_two_replicas_rolled_without_dropping_below_two() -> None:
    spec = deployment()["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert selects(spec["selector"]["matchLabels"], spec["template"]["metadata"]["labels"])
    assert server()["image"].endswith(f"/ack-compute-mcp:{VERSION}"), "a pinned tag, the package's version"


def test_pods_run_as_the_image_user_without_privileges() -> None:
    context = pod()["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["runAsUser"] == image_user() and context["runAsGroup"] == image_user()
    assert "fsGroup" not in context, "fsGroup makes the mounted tokens file group-readable, which the server refuses"
    for container in pod()["containers"] + pod()["initContainers"]:
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    writable = {m["mountPath"] for m in server()["volumeMounts"] if not m.get("readOnly")}
    assert {"/tmp", "/var/lib/ack-compute-mcp"} <= writable  # the image's VOLUME, with the state dir inside


def test_secrets_are_referenced_never_written() -> None:
    env = server()["env"]
    for entry in env:
        if any(word in entry["name"] for word in SECRET_NAME):
            assert "value" not in entry and "secretKeyRef" in entry["valueFrom"], entry["name"]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in env if "secretKeyRef" in e.get("valueFrom", {})}
    assert refs["ACK_COMPUTE_DATABASE_URL"] == {"name": "ack-compute-mcp", "key": "database-url"}
    assert refs["ACK_COMPUTE_QUOTE_SECRET"]["name"] == "ack-compute-mcp", "replicas must share the quote key"
    # The AccessKey alternative: the names the Alibaba Cloud credentials chain reads, optional for RRSA setups.
    assert refs["ALIBABA_CLOUD_ACCESS_KEY_ID"]["optional"] and refs["ALIBABA_CLOUD_ACCESS_KEY_SECRET"]["optional"]
    assert {"name": "ALIBABA_CLOUD_ECS_METADATA_DISABLED", "value": "true"} in env, "never the node's RAM role"
    # The ConfigMap may name where a secret is (a file path), never hold one.
    settings = one("ConfigMap")["data"]
    for name, value in settings.items():
        if any(word in name for word in SECRET_NAME):
            assert name.endswith("_FILE") and value.startswith("/"), name


def test_credentials_by_rrsa() -> None:
    assert one("Namespace")["metadata"]["labels"]["pod-identity.alibabacloud.com/injection"] == "on"
    account = one("ServiceAccount")
    assert account["metadata"]["annotations"]["pod-identity.alibabacloud.com/role-name"]
    assert pod()["serviceAccountName"] == account["metadata"]["name"]


def test_settings_are_real_and_the_server_accepts_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pod's environment (ConfigMap + env, secrets as placeholders) passes the server's own startup check."""
    config = one("ConfigMap")
    assert [ref["configMapRef"]["name"] for ref in server()["envFrom"]] == [config["metadata"]["name"]]
    env = dict(config["data"])
    # What the Secrets would hold: values of the right shape (a setting that checks its form must accept them).
    placeholders = {"ACK_COMPUTE_DATABASE_URL": "postgresql+psycopg://ack_compute:pw@pg.internal:5432/ack_compute"}
    env.update({e["name"]: e.get("value", placeholders.get(e["name"], "x" * 48)) for e in server()["env"]})
    unknown = {k for k in env if k.startswith("ACK_COMPUTE_")} - settings_env_names()
    assert not unknown, f"not settings of the server: {sorted(unknown)}"
    tokens = tmp_path / "tokens.json"
    tokens.write_text('{"tokens": [{"subject": "alice", "sha256": "' + "a" * 64 + '"}]}')
    tokens.chmod(0o600)  # as the init container's `install -m 0600` leaves it
    env["ACK_COMPUTE_HTTP_TOKENS_FILE"] = str(tokens)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    args = server()["args"]
    access = http_access(Settings(), args[args.index("--host") + 1], serving_port())
    assert access.mode == "bearer" and access.callers == 1
    assert "mcp.example.com" in access.security.allowed_hosts


def test_the_tokens_file_reaches_the_server_private() -> None:
    """Secret volumes are root's; the init container copies the file 0600 to where the ConfigMap points."""
    (init,) = pod()["initContainers"]
    assert init["image"] == server()["image"]
    program, flag, mode, source, target = init["command"]
    assert (program, flag, mode) == ("install", "-m", "0600")
    assert target == one("ConfigMap")["data"]["ACK_COMPUTE_HTTP_TOKENS_FILE"]
    volumes = {v["name"]: v for v in pod()["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in init["volumeMounts"]}
    secret = volumes[mounts[str(Path(source).parent)]]["secret"]
    assert secret["secretName"] == "ack-compute-mcp"
    assert {"key": "tokens.json", "path": Path(source).name} in secret["items"]
    shared = mounts[str(Path(target).parent)]
    assert volumes[shared]["emptyDir"]["medium"] == "Memory"
    assert any(m["name"] == shared and m["readOnly"] for m in server()["volumeMounts"])


def test_a_stopping_pod_drains_before_it_is_killed() -> None:
    wait = int(server()["lifecycle"]["preStop"]["exec"]["command"][1])
    assert server()["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"  # in the image (Debian coreutils)
    assert wait + 30 <= pod()["terminationGracePeriodSeconds"], "room for uvicorn's drain after the pause"


def test_probes_ask_healthz_on_the_serving_port() -> None:
    assert [container_port(p["containerPort"]) for p in server()["ports"]] == [serving_port()]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        http = server()[probe]["httpGet"]
        assert http["path"] == "/healthz" and container_port(http["port"]) == serving_port(), probe


def test_service_and_pdb_select_the_deployments_pods() -> None:
    labels = deployment()["spec"]["template"]["metadata"]["labels"]
    service = one("Service")["spec"]
    assert selects(service["selector"], labels)
    assert [container_port(p["targetPort"]) for p in service["ports"]] == [serving_port()]
    budget = one("PodDisruptionBudget")
    assert budget["apiVersion"] == "policy/v1" and budget["spec"]["minAvailable"] == 1
    assert selects(budget["spec"]["selector"]["matchLabels"], labels)
    spread = pod()["topologySpreadConstraints"][0]
    assert selects(spread["labelSelector"]["matchLabels"], labels)
    term = pod()["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert selects(term["podAffinityTerm"]["labelSelector"]["matchLabels"], labels)


# --- the server-side dry run ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[client.ApiClient]:
    """One real kube-apiserver for the module, as its admin (a bearer token of system:masters)."""
    if not kube_plane.built():
        if kube_plane.required():
            pytest.fail("ACK_COMPUTE_REQUIRE_REAL_KUBE=1 but scripts/kube-control-plane.sh build has not run")
        pytest.skip("real kube-apiserver not built (scripts/kube-control-plane.sh build)")
    try:
        with kube_plane.running(tmp_path_factory.mktemp("kube-dry-run")) as env:
            configuration = client.Configuration()
            configuration.host = env["KUBE_SERVER"]
            configuration.ssl_ca_cert = env["KUBE_CA_FILE"]
            configuration.api_key = {"authorization": f"Bearer {env['KUBE_ADMIN_TOKEN']}"}
            with client.ApiClient(configuration) as api:
                yield api
    except kube_plane.NotStarted as error:
        pytest.fail(str(error))


def lost_fields(sent: Any, answered: Any, path: str = "") -> list[str]:
    """What was sent but is not in the answer (or differs): fields the server did not understand."""
    if isinstance(sent, dict):
        if not isinstance(answered, dict):
            return [path]
        return [lost for k, v in sent.items() for lost in lost_fields(v, answered.get(k), f"{path}.{k}")]
    if isinstance(sent, list):
        if not isinstance(answered, list) or len(sent) != len(answered):
            return [path]
        return [
            lost
            for i, (s, a) in enumerate(zip(sent, answered, strict=True))
            for lost in lost_fields(s, a, f"{path}[{i}]")
        ]
    return [] if sent == answered else [f"{path}: sent {sent!r}, answered {answered!r}"]


def policy_versions(api: client.ApiClient) -> list[str]:
    groups = client.ApisApi(api).get_api_versions().groups
    return [v.version for group in groups if group.name == "policy" for v in group.versions]


def served(api: client.ApiClient, doc: dict[str, Any]) -> dict[str, Any]:
    """The object as this server takes it. Kubernetes 1.20 serves PodDisruptionBudget only as policy/v1beta1
    (policy/v1 came in 1.21, and ACK 1.26+ serves only policy/v1): the spec fields used here are the same in both."""
    doc = copy.deepcopy(doc)
    if doc["apiVersion"] == "policy/v1" and "v1" not in policy_versions(api):
        doc["apiVersion"] = "policy/v1beta1"
    return doc


@pytest.fixture(scope="module")
def namespace(apiserver: client.ApiClient) -> str:
    """The manifests' Namespace, created for real (a dry run of namespaced objects needs it to exist)."""
    created = DynamicClient(apiserver).resources.get(api_version="v1", kind="Namespace").create(body=one("Namespace"))
    assert created.metadata.labels["pod-identity.alibabacloud.com/injection"] == "on"
    return str(created.metadata.name)


@pytest.mark.contract
@pytest.mark.slow
def test_the_real_apiserver_accepts_every_object_on_a_dry_run(apiserver: client.ApiClient, namespace: str) -> None:
    dynamic = DynamicClient(apiserver)
    accepted = []
    for doc in [d for d in documents() if d["kind"] != "Namespace"]:
        body = served(apiserver, doc)
        resource = dynamic.resources.get(api_version=body["apiVersion"], kind=body["kind"])
        answer = resource.create(body=body, namespace=namespace, dry_run="All").to_dict()
        assert answer["kind"] == doc["kind"] and answer["metadata"]["name"] == doc["metadata"]["name"]
        lost = lost_fields(body, answer)
        assert not lost, f"{doc['kind']}: the server dropped or changed {lost}"
        accepted.append(doc["kind"])
    assert sorted(accepted) == ["ConfigMap", "Deployment", "PodDisruptionBudget", "Service", "ServiceAccount"]
    # A dry run stores nothing.
    assert not client.AppsV1Api(apiserver).list_namespaced_deployment(namespace).items
    assert (
        not client.CoreV1Api(apiserver)
        .list_namespaced_config_map(namespace, field_selector="metadata.name=ack-compute-mcp-settings")
        .items
    )


@pytest.mark.contract
@pytest.mark.slow
def test_the_real_apiserver_refuses_a_broken_deployment(apiserver: client.ApiClient, namespace: str) -> None:
    """The dry run can fail: a Deployment whose selector misses its pods' labels is refused (422)."""
    broken = copy.deepcopy(deployment())
    broken["spec"]["selector"]["matchLabels"] = {"app.kubernetes.io/name": "someone-else"}
    with pytest.raises(ApiException) as refused:
        client.AppsV1Api(apiserver).create_namespaced_deployment(namespace, broken, dry_run="All")
    assert refused.value.status == 422 and "selector" in refused.value.body
