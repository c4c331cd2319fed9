"""Two backends for the same scenarios: the sandbox's kube emulator and a real kube-apiserver (v1.20).

Every contract test runs once per backend. The `real` variant also runs the scenario on the emulator and
requires both observations to be equal, so the emulator cannot drift from the real API; explicit asserts
on each observation keep the comparison from passing vacuously. The real control plane comes from
scripts/kube-control-plane.sh: when its binaries are not cached the real variant is skipped, unless
ACK_COMPUTE_REQUIRE_REAL_KUBE=1 makes that a failure.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from ack_compute.cloud.kube_tls import new_api_client
from ack_compute.sandbox.kube import KubeCluster, KubeHub
from ack_compute.sandbox.kube.auth import LIMITED_GROUP, MASTERS_GROUP
from ack_compute.sandbox.kube.context import EMULATED_VERSION
from ack_compute.sandbox.kube.pki import Authority, client_certificate_subject
from ack_compute.sandbox.kubelet import ApiEndpoint
from tests.helpers import kube_plane
from tests.helpers.waiting import eventually

REPO = Path(__file__).resolve().parents[2]
# The emulator follows the release the real control plane runs (scripts/kube-control-plane.sh builds it).
REAL_VERSION = str(EMULATED_VERSION)
# The emulator runs the control plane's own waits 15x faster (5 s namespace grace, 75 s watch-cache freshness,
# 60 s bookmarks); scenarios that depend on them wait `backend.seconds(real_seconds)`.
EMULATOR_TIME_SCALE = 15.0
LIMITED_USER = "limited-user"
ADMIN_USER = "kubernetes-admin"

pytestmark = pytest.mark.contract


@dataclass
class Backend:
    """One API server and the official clients for its users.

    `admin` and `limited` authenticate with x509 client certificates (as ACK kubeconfigs do), through the
    product's own in-memory TLS (`ack_compute.cloud.kube_tls`); `api_client(token)` is for bearer tokens
    (bad ones, or None for anonymous). `kubelet_endpoint` is the simulated kubelet's own identity (a token)."""

    name: str
    server: str
    ca_data: str  # base64 PEM that verifies the server, as in certificate-authority-data
    certificates: dict[str, dict[str, str]]  # who -> kubeconfig user (client-certificate-data, client-key-data)
    kubelet_endpoint: Any
    tls_server_name: str | None = None
    time_scale: float = 1.0
    cluster: KubeCluster | None = None
    _clients: dict[str, client.ApiClient] = field(default_factory=dict)

    def _client(self, key: str, user: dict[str, str]) -> client.ApiClient:
        if key not in self._clients:
            cluster: dict[str, Any] = {"server": self.server, "certificate-authority-data": self.ca_data}
            if self.tls_server_name:
                cluster["tls-server-name"] = self.tls_server_name
            kubeconfig = {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": self.name, "cluster": cluster}],
                "users": [{"name": "u", "user": user}],
                "contexts": [{"name": self.name, "context": {"cluster": self.name, "user": "u"}}],
                "current-context": self.name,
            }
            self._clients[key] = new_api_client(kubeconfig)
        return self._clients[key]

    def api_client(self, token: str | None) -> client.ApiClient:
        """A client with a bearer token (None: anonymous)."""
        return self._client(f"token:{token or ''}", {"token": token} if token else {})

    def as_user(self, who: str) -> client.ApiClient:
        """A client authenticated by `who`'s client certificate (admin or limited)."""
        return self._client(f"cert:{who}", self.certificates[who])

    @property
    def admin(self) -> client.ApiClient:
        return self.as_user("admin")

    @property
    def limited(self) -> client.ApiClient:
        return self.as_user("limited")

    def core(self, who: str = "admin") -> client.CoreV1Api:
        return client.CoreV1Api(self.as_user(who) if who in self.certificates else self.api_client(who))

    def seconds(self, real_seconds: float) -> float:
        """A control-plane wait as this backend experiences it."""
        return real_seconds / self.time_scale

    def raw(
        self,
        method: str,
        path: str,
        *,
        who: str = "admin",
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, Any]:
        """A request through the official client's transport, for what its typed methods cannot express."""
        api = self.as_user(who) if who in self.certificates else self.api_client(who)
        headers = {"Accept": "application/json", "Content-Type": content_type}
        try:
            response = api.call_api(
                *api.param_serialize(
                    method=method,
                    resource_path=path,
                    query_params=query or [],
                    header_params=headers,
                    body=body,
                    auth_settings=["BearerToken"],  # a token user's; certificate users need none
                )
            )
            response.read()
            return response.status, _json_or_text(response.data)
        except ApiException as error:
            return error.status, _json_or_text(error.body)


def _json_or_text(data: Any) -> Any:
    if isinstance(data, bytes):
        data = data.decode(errors="replace")
    try:
        return json.loads(data)
    except (TypeError, ValueError):
        return data


@dataclass
class RealPlane:
    directory: Path
    env: dict[str, str]
    client_ca: Authority  # kube-apiserver's --client-ca-file; its key stays in this process's memory


def _certificate_user(
    authority: Authority, user: str, groups: tuple[str, ...], *, expired: bool = False
) -> dict[str, str]:
    """A kubeconfig user holding a client certificate (CN=user, O=groups) from `authority`, in memory only;
    an `expired` one ended a few seconds ago."""
    not_after = datetime.now(UTC) + (timedelta(seconds=-10) if expired else timedelta(days=1))
    certificate, key = authority.sign(client_certificate_subject(user, groups), not_after=not_after, client=True)
    return {
        "client-certificate-data": base64.b64encode(certificate.public_bytes(serialization.Encoding.PEM)).decode(),
        "client-key-data": base64.b64encode(key).decode(),
    }


@pytest.fixture(scope="session")
def real_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealPlane | None]:
    """The real control plane, started once per session when its binaries are cached (None otherwise)."""
    if not kube_plane.built():
        if kube_plane.required():
            pytest.fail(
                "ACK_COMPUTE_REQUIRE_REAL_KUBE=1 but the real kube control plane is not built: "
                "run scripts/kube-control-plane.sh build"
            )
        yield None
        return
    directory = tmp_path_factory.mktemp("kube-control-plane")
    client_ca = Authority("contract-client-ca")
    (directory / "client-ca.crt").write_bytes(client_ca.pem)  # the certificate only, for --client-ca-file
    try:
        with kube_plane.running(directory) as env:
            yield RealPlane(directory, env, client_ca)
    except kube_plane.NotStarted as error:
        pytest.fail(str(error))


@pytest.fixture(scope="session")
def emulator_backend() -> Iterator[Backend]:
    """The emulator over HTTPS, its users holding client certificates from the cluster's CA."""
    with KubeHub(time_scale=EMULATOR_TIME_SCALE, tls=True) as hub:
        cluster = hub.add_cluster("contract", kubernetes_version=REAL_VERSION)
        other = hub.add_cluster("contract-other", kubernetes_version=REAL_VERSION)

        def certificate(user: str, groups: tuple[str, ...]) -> dict[str, str]:
            issued = cluster.issue_client_certificate(user=user, groups=groups, ttl_seconds=24 * 3600)
            return {"client-certificate-data": issued.certificate_data, "client-key-data": issued.key_data}

        assert cluster.certificate_authority_data and hub.certificate_authority_data
        kubelet_token = cluster.issue_token(role="admin", ttl_seconds=24 * 3600, user="kubelet")
        yield Backend(
            name="emulator",
            server=cluster.server_url,
            ca_data=cluster.certificate_authority_data,
            tls_server_name=cluster.tls_server_name,
            certificates={
                "admin": certificate(ADMIN_USER, (MASTERS_GROUP,)),
                "limited": certificate(LIMITED_USER, (LIMITED_GROUP,)),
                # Signed by another cluster's CA (the hub's TLS accepts it; the cluster's API must not).
                "wrong_ca": _certificate_user(other.authority, ADMIN_USER, (MASTERS_GROUP,)),
                "expired": _certificate_user(cluster.authority, ADMIN_USER, (MASTERS_GROUP,), expired=True),
            },
            # The kubelet names no cluster in its handshake: the hub's own certificate answers it.
            kubelet_endpoint=ApiEndpoint(cluster.server_url, kubelet_token, ca_data=hub.certificate_authority_data),
            time_scale=EMULATOR_TIME_SCALE,
            cluster=cluster,
        )


@pytest.fixture(scope="session")
def real_backend(real_plane: RealPlane | None) -> Backend | None:
    if real_plane is None:
        return None
    env = real_plane.env
    return Backend(
        name="real",
        server=env["KUBE_SERVER"],
        ca_data=base64.b64encode(Path(env["KUBE_CA_FILE"]).read_bytes()).decode(),
        certificates={
            "admin": _certificate_user(real_plane.client_ca, ADMIN_USER, (MASTERS_GROUP,)),
            "limited": _certificate_user(real_plane.client_ca, env["KUBE_LIMITED_USER"], ("limited-group",)),
            "wrong_ca": _certificate_user(Authority("not-the-client-ca"), ADMIN_USER, (MASTERS_GROUP,)),
            "expired": _certificate_user(real_plane.client_ca, ADMIN_USER, (MASTERS_GROUP,), expired=True),
        },
        kubelet_endpoint=ApiEndpoint(env["KUBE_SERVER"], env["KUBE_ADMIN_TOKEN"], ca_file=env["KUBE_CA_FILE"]),
    )


# Against the real kube-apiserver (separate processes) a scenario is slow; the emulator runs in process.
@pytest.fixture(params=["emulator", pytest.param("real", marks=pytest.mark.slow)])
def backend(request: pytest.FixtureRequest, emulator_backend: Backend) -> Backend:
    if request.param == "emulator":
        return emulator_backend
    real = request.getfixturevalue("real_backend")
    if real is None:
        pytest.skip(
            "real kube-apiserver not available: its binaries are not cached "
            "(build them with scripts/kube-control-plane.sh build, about 5-8 minutes)"
        )
    return real


@pytest.fixture
def peer(request: pytest.FixtureRequest, backend: Backend, emulator_backend: Backend) -> Backend | None:
    """The emulator when the test runs against the real server (to compare with), else None."""
    return emulator_backend if backend.name == "real" else None


# --- observations --------------------------------------------------------------------------------------------

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")  # timestamps as the apiserver writes them
_UID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_GENERATED = re.compile(r"(?<=-)[bcdfghjklmnpqrstvwxz2456789]{5}\b")


class Observation:
    """Normalises what a backend answered so two backends' answers compare equal when they behave alike:
    uids, timestamps and resourceVersions become placeholders (their relations are asserted separately),
    and the run's unique name token is replaced."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: self(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v, key) for v in value]
        if isinstance(value, str):
            if RFC3339.match(value):
                return "<time>"
            if key in ("resourceVersion", "continue"):
                return "<rv>" if value else ""
            text = _GENERATED.sub("<gen>", _UID.sub("<uid>", value).replace(self.token, "<t>"))
            return (
                re.sub(r"\((\d+)\)", "(<n>)", text) if "ResourceVersion" in text or "resource version" in text else text
            )
        return value


def call(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call an official-client method and return the server's JSON exactly as it was sent (the typed models
    would reformat timestamps and drop what they do not know)."""
    response = func(*args, _preload_content=False, **kwargs)
    return json.loads(response.data)


def sanitize(obj: Any) -> Any:
    """An API object (model or dict) as the plain JSON the server sent."""
    if isinstance(obj, dict | list | str | int | float | bool) or obj is None:
        return obj
    return client.ApiClient().sanitize_for_serialization(obj)


def status_of(error: ApiException) -> dict[str, Any]:
    """The Status body of a failed call, plus the HTTP status."""
    body = _json_or_text(error.body)
    return {"http": error.status, "body": body}


def diff(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in sorted(set(a) | set(b)):
            if key not in a:
                out.append(f"{path}.{key}: only emulator: {json.dumps(b[key])[:300]}")
            elif key not in b:
                out.append(f"{path}.{key}: only real: {json.dumps(a[key])[:300]}")
            else:
                out.extend(diff(a[key], b[key], f"{path}.{key}"))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [line for i, (x, y) in enumerate(zip(a, b, strict=True)) for line in diff(x, y, f"{path}[{i}]")]
    if a != b:
        return [f"{path}: real={json.dumps(a)[:400]} emulator={json.dumps(b)[:400]}"]
    return []


@dataclass
class Contract:
    """Runs a scenario on the backend under test and, for the real one, on the emulator too."""

    backend: Backend
    peer: Backend | None

    def run(self, scenario: Callable[[Backend, Observation], Any]) -> Any:
        token = uuid.uuid4().hex[:6]
        observed = scenario(self.backend, Observation(token))
        if self.peer is not None:
            emulated = scenario(self.peer, Observation(uuid.uuid4().hex[:6]))
            differences = diff(observed, emulated)
            assert not differences, "the emulator differs from the real apiserver:\n" + "\n".join(differences)
        return observed


@pytest.fixture
def contract(backend: Backend, peer: Backend | None) -> Contract:
    return Contract(backend, peer)


# --- helpers used by several scenario modules ------------------------------------------------------------------


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05) -> Any:
    return eventually(predicate, timeout, interval)


class EventCollector:
    """A watch on a background thread, collecting raw events until its timeout ends the stream."""

    def __init__(self, list_func: Callable[..., Any], *args: Any, stop_on: str | None = None, **kwargs: Any) -> None:
        self.stop_on = stop_on  # end the stream early at the first event of this type
        self.events: list[dict[str, Any]] = []
        self.error: BaseException | None = None
        self.started = time.monotonic()
        self.ended: float | None = None
        self._watch = watch.Watch()
        self._thread = threading.Thread(target=self._run, args=(list_func, args, kwargs), daemon=True)
        self._thread.start()

    def _run(self, list_func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        try:
            for event in self._watch.stream(list_func, *args, **kwargs):
                self.events.append({"type": event["type"], "object": event["raw_object"]})
                if event["type"] == self.stop_on:
                    self._watch.stop()
        except BaseException as error:  # surfaced by join()
            self.error = error
        finally:
            self.ended = time.monotonic()

    def join(self, timeout: float = 120.0) -> list[dict[str, Any]]:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the watch did not end"
        if self.error is not None:
            raise self.error
        return self.events


def follow(
    list_func: Callable[..., Any], ns: str, obj: dict[str, Any], timeout_seconds: int, stop_on: str | None = "DELETED"
) -> EventCollector:
    """Watch the one object `obj` (as the API returned it) by name, from its resourceVersion, until `stop_on`
    (None: until the timeout)."""
    return EventCollector(
        list_func,
        ns,
        field_selector=f"metadata.name={obj['metadata']['name']}",
        resource_version=obj["metadata"]["resourceVersion"],
        timeout_seconds=timeout_seconds,
        stop_on=stop_on,
    )


def post_each(backend: Backend, path: str, bodies: list[dict[str, Any]], view: Callable[[Any], Any]) -> dict[str, Any]:
    """POST each body to `path` raw: {its name: {"http": status, "body": view(answer)}}."""
    out: dict[str, Any] = {}
    for body in bodies:
        status, answer = backend.raw("POST", path, body=body)
        out[body["metadata"]["name"]] = {"http": status, "body": view(answer)}
    return out


def refusals(attempts: dict[str, Callable[[], Any]], obs: Observation) -> dict[str, Any]:
    """Each attempt must raise ApiException: {its key: the Status it answered, as observed}."""
    out: dict[str, Any] = {}
    for key, attempt in attempts.items():
        with pytest.raises(ApiException) as caught:
            attempt()
        out[key] = obs(status_of(caught.value))
    return out


def failure(code: int, message: str, **fields: Any) -> dict[str, Any]:
    """The Status a failed request answers with (`fields`: reason, details, when it has them)."""
    status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message}
    return {**status, **fields, "code": code}


def unique(prefix: str, obs: Observation) -> str:
    return f"{prefix}-{obs.token}"


def make_namespace(backend: Backend, name: str) -> dict[str, Any]:
    created = backend.core().create_namespace({"metadata": {"name": name}})
    return sanitize(created)


def drop_namespace(backend: Backend, name: str) -> None:
    try:
        backend.core().delete_namespace(name)
    except ApiException as error:
        if error.status != 404:
            raise


class Namespace:
    """A scratch namespace for one scenario run: `with Namespace(backend, helpers, obs, "prefix") as ns:`."""

    def __init__(self, backend: Any, helpers: Any, obs: Any, prefix: str) -> None:
        self.backend, self.helpers = backend, helpers
        self.name = helpers.unique(prefix, obs)
        self.created = helpers.make_namespace(backend, self.name)  # the create call's answer, sanitized

    def __enter__(self) -> str:
        return self.name

    def __exit__(self, *exc: object) -> None:
        self.helpers.drop_namespace(self.backend, self.name)


@pytest.fixture
def helpers() -> Any:
    """Scenario helpers, handed out as a fixture because test modules cannot import each other."""

    class Helpers:
        call = staticmethod(call)
        sanitize = staticmethod(sanitize)
        status_of = staticmethod(status_of)
        wait_for = staticmethod(wait_for)
        unique = staticmethod(unique)
        make_namespace = staticmethod(make_namespace)
        drop_namespace = staticmethod(drop_namespace)
        EventCollector = EventCollector
        follow = staticmethod(follow)
        post_each = staticmethod(post_each)
        refusals = staticmethod(refusals)

    return Helpers


# --- the simulated kubelet (test_kubelet.py) -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def kubelet_pool() -> Iterator[dict[str, Any]]:
    """One simulated kubelet per backend for the session, created on first use; stopped (with their log servers)
    at the end. Nodes are registered per scenario and removed after it, so other scenarios see no extra node."""
    pool: dict[str, Any] = {}
    yield pool
    for kubelet in pool.values():
        kubelet.stop()
        kubelet.log_server.stop()


@pytest.fixture
def kubelets(
    request: pytest.FixtureRequest, backend: Backend, peer: Backend | None, kubelet_pool: dict[str, Any]
) -> Callable[[Backend], Any]:
    """The kubelet of a backend: plain HTTP for the emulator's log proxy, HTTPS for kube-apiserver's (it dials
    the kubelet with TLS, and without a kubelet CA it does not verify the certificate)."""
    from ack_compute.sandbox.kubelet import Kubelet, LogServer

    for each in (backend, peer):
        if each is None or each.name in kubelet_pool:
            continue
        if each.name == "real":
            env = request.getfixturevalue("real_plane").env
            server = LogServer(certfile=env["KUBE_KUBELET_CERT_FILE"], keyfile=env["KUBE_KUBELET_KEY_FILE"])
        else:
            server = LogServer()
        server.start()
        kubelet = Kubelet(each.kubelet_endpoint, log_server=server, time_scale=KUBELET_TIME_SCALE)
        kubelet.start()
        kubelet_pool[each.name] = kubelet
    return lambda which: kubelet_pool[which.name]


KUBELET_TIME_SCALE = 10.0  # the kubelet's back-offs, the same on both backends
