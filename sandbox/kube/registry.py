"""The kinds a cluster serves: group/version/resource/kind, scope and a strategy per kind.

Adding a kind (Jobs, Deployments, ConfigMaps, ...) means writing a Strategy and registering a Kind
(`cluster.registry.register(kind)`, or in `cluster.BUILTIN_KINDS`); the store, the HTTP verbs, discovery,
selectors, watch, managedFields and namespace cleanup come for free. Controllers that act on the kind plug in
with `cluster.controllers.register(step)` and write through `cluster.objects` as `cluster.system_context(name)`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ack_compute.sandbox.kube.status import FieldError, GroupResource
from ack_compute.sandbox.kube.subresources import Subresource
from ack_compute.sandbox.kube.validation import NameValidator, name_is_dns_subdomain

if TYPE_CHECKING:
    from ack_compute.sandbox.kube.context import WriteContext

STANDARD_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
BASE_FIELD_LABELS = frozenset({"metadata.name", "metadata.namespace"})


class Strategy:
    """Per-kind behaviour around the generic store: defaulting, admission, validation, field labels.

    The defaults suit a plain kind with no spec/status split; kinds override what differs, like the
    apiserver's per-resource strategies do.
    """

    def default(self, obj: dict[str, Any], ctx: WriteContext) -> None:
        """Decode-time defaulting (SetDefaults_*): what it fills in belongs to the writer in managedFields."""

    def admit(self, obj: dict[str, Any], old: dict[str, Any] | None, ctx: WriteContext) -> None:
        """Mutating admission after the field manager ran (old is None on create); may raise StatusError."""

    def prepare_for_create(self, obj: dict[str, Any], ctx: WriteContext) -> None:
        """The strategy's PrepareForCreate: server-owned fields (status resets, finalizers)."""

    def validate(self, obj: dict[str, Any], ctx: WriteContext) -> list[FieldError]:
        return []

    def prepare_for_update(self, new: dict[str, Any], old: dict[str, Any], ctx: WriteContext) -> None:
        """On a main-resource update of a kind with a status subresource the status is kept from `old`."""

    def validate_update(self, new: dict[str, Any], old: dict[str, Any], ctx: WriteContext) -> list[FieldError]:
        return self.validate(new, ctx)

    def prepare_for_status_update(self, new: dict[str, Any], old: dict[str, Any], ctx: WriteContext) -> None:
        """A status update keeps everything but the status (and metadata the status writer may touch)."""
        for key, value in old.items():
            if key not in ("status", "metadata"):
                new[key] = value
        for key in list(new):
            if key not in old and key != "status":
                del new[key]

    def validate_status_update(self, new: dict[str, Any], old: dict[str, Any], ctx: WriteContext) -> list[FieldError]:
        return []

    def field_set(self, obj: Mapping[str, Any]) -> dict[str, str]:
        """The values field selectors see; kinds add theirs (spec.nodeName, status.phase, ...)."""
        meta = obj.get("metadata") or {}
        return {"metadata.name": meta.get("name") or "", "metadata.namespace": meta.get("namespace") or ""}

    def grace_period(self, obj: Mapping[str, Any], requested: int | None) -> int | None:
        """None: the kind has no graceful deletion; else the period in seconds to wait (0 deletes now)."""
        return None

    def zero_object(self) -> dict[str, Any]:
        """What Go's zero value of the type serialises to (the base of managedFields on create, and what
        BOOKMARK events carry), without kind and apiVersion."""
        return {"metadata": {"creationTimestamp": None}}

    def spec_of(self, obj: Mapping[str, Any]) -> Any:
        """What counts as the spec for metadata.generation."""
        return obj.get("spec")


class ReviewStrategy(Strategy):
    """Create-only kinds that are answered, not stored (access reviews)."""

    def answer(self, obj: dict[str, Any], ctx: WriteContext) -> dict[str, Any]:
        raise NotImplementedError


@dataclass(frozen=True)
class Kind:
    """One served resource; `kind`+`group` name its objects, `resource` its URL segment."""

    group: str
    version: str
    resource: str
    kind: str
    namespaced: bool
    strategy: Strategy = field(default_factory=Strategy)
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = STANDARD_VERBS
    name_validator: NameValidator = name_is_dns_subdomain
    status_subresource: bool = False
    tracks_generation: bool = False
    stored: bool = True
    return_deleted_object: bool = False
    field_labels: frozenset[str] = BASE_FIELD_LABELS
    storage_version_hash: str = ""
    storage_prefix: str = ""  # the etcd key prefix when it is not the resource name (nodes: "minions")
    # Subresources as discovery lists them, each with its handler (subresources.py); `status` is among them.
    subresources: tuple[Subresource, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def group_resource(self) -> GroupResource:
        return GroupResource(self.group, self.resource)

    @property
    def key(self) -> str:
        """The store key prefix: one per group/resource, shared by all versions of it."""
        return f"{self.group}/{self.resource}"

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()

    def subresource(self, name: str) -> Subresource | None:
        return next((sub for sub in self.subresources if sub[0] == name), None)


@dataclass
class Registry:
    """All kinds of one cluster, by group/version/resource and by group/version/kind."""

    _by_resource: dict[tuple[str, str, str], Kind] = field(default_factory=dict)
    _by_kind: dict[tuple[str, str, str], Kind] = field(default_factory=dict)
    _preferred: dict[str, str] = field(default_factory=dict)

    def register(self, kind: Kind) -> None:
        key = (kind.group, kind.version, kind.resource)
        if key in self._by_resource:
            raise ValueError(f"duplicate kind {kind.api_version}/{kind.resource}")
        self._by_resource[key] = kind
        self._by_kind[(kind.group, kind.version, kind.kind)] = kind
        self._preferred.setdefault(kind.group, kind.version)

    def register_all(self, kinds: Iterable[Kind]) -> None:
        for kind in kinds:
            self.register(kind)

    def lookup(self, group: str, version: str, resource: str) -> Kind | None:
        return self._by_resource.get((group, version, resource))

    def by_kind(self, api_version: str, kind: str) -> Kind | None:
        group, _, version = api_version.rpartition("/")
        return self._by_kind.get((group, version, kind))

    def has_group_version(self, group: str, version: str) -> bool:
        return any(g == group and v == version for g, v, _ in self._by_resource)

    def group_versions(self) -> dict[str, list[str]]:
        """Versions per group, in registration order; the first is the preferred one."""
        out: dict[str, list[str]] = {}
        for group, version, _ in self._by_resource:
            versions = out.setdefault(group, [])
            if version not in versions:
                versions.append(version)
        return out

    def kinds_in(self, group: str, version: str) -> list[Kind]:
        return [kind for (g, v, _), kind in self._by_resource.items() if g == group and v == version]

    def all(self) -> list[Kind]:
        return list(self._by_resource.values())

    def stored_namespaced(self) -> list[Kind]:
        """One Kind per stored namespaced resource (what the namespace controller must empty)."""
        seen: dict[str, Kind] = {}
        for kind in self._by_resource.values():
            if kind.namespaced and kind.stored:
                seen.setdefault(kind.key, kind)
        return list(seen.values())
