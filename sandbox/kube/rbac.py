"""Authorization as a real cluster with RBAC decides it, including the reasons access reviews report.

The privileged group (system:masters) may do anything; everyone else gets the default bootstrap bindings
that matter here (discovery, basic-user, public-info-viewer) and the limited role: get/list/watch on
namespaces, nodes and pods, cluster-wide. The names match what scripts/kube-control-plane.sh creates on the
real control plane, so reasons compare equal.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from ack_compute.sandbox.kube.auth import (
    AUTHENTICATED_GROUP,
    LIMITED_GROUP,
    MASTERS_GROUP,
    UNAUTHENTICATED_GROUP,
    UserInfo,
)

LIMITED_ROLE = "ack-compute-limited"


@dataclass(frozen=True)
class Attributes:
    """What is being asked, as the apiserver's RequestInfo describes it."""

    verb: str
    resource_request: bool
    path: str = ""
    group: str = ""
    version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""


@dataclass(frozen=True)
class Rule:
    verbs: tuple[str, ...]
    groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()

    def allows(self, attrs: Attributes) -> bool:
        if "*" not in self.verbs and attrs.verb not in self.verbs:
            return False
        if not attrs.resource_request:
            return any(p == attrs.path or (p.endswith("*") and attrs.path.startswith(p[:-1])) for p in self.paths)
        if not self.resources or ("*" not in self.groups and attrs.group not in self.groups):
            return False
        combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
        return any(r == "*" or r == combined or (fnmatch.fnmatchcase(combined, r) and "/" in r) for r in self.resources)


@dataclass(frozen=True)
class Binding:
    name: str
    role: str
    subject_kind: str  # "User" or "Group"
    subject: str
    rules: tuple[Rule, ...]
    # The real control plane binds the limited role to its one user; here any token of the limited role
    # holds it, and reasons name the token's user as the real ones name theirs.
    reported_as_user: bool = False

    def applies_to(self, user: UserInfo) -> bool:
        return user.name == self.subject if self.subject_kind == "User" else self.subject in user.groups


_PUBLIC_INFO = Rule(("get",), paths=("/healthz", "/livez", "/readyz", "/version", "/version/"))
BINDINGS: tuple[Binding, ...] = (
    Binding(
        "system:basic-user",
        "system:basic-user",
        "Group",
        AUTHENTICATED_GROUP,
        (Rule(("create",), ("authorization.k8s.io",), ("selfsubjectaccessreviews", "selfsubjectrulesreviews")),),
    ),
    Binding(
        "system:discovery",
        "system:discovery",
        "Group",
        AUTHENTICATED_GROUP,
        (
            Rule(
                ("get",),
                paths=(
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                    "/healthz",
                    "/livez",
                    "/openapi",
                    "/openapi/*",
                    "/readyz",
                    "/version",
                    "/version/",
                ),
            ),
        ),
    ),
    Binding("system:public-info-viewer", "system:public-info-viewer", "Group", AUTHENTICATED_GROUP, (_PUBLIC_INFO,)),
    Binding("system:public-info-viewer", "system:public-info-viewer", "Group", UNAUTHENTICATED_GROUP, (_PUBLIC_INFO,)),
    Binding(
        LIMITED_ROLE,
        LIMITED_ROLE,
        "Group",
        LIMITED_GROUP,
        (Rule(("get", "list", "watch"), ("",), ("namespaces", "nodes", "pods")),),
        reported_as_user=True,
    ),
)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


def authorize(user: UserInfo, attrs: Attributes) -> Decision:
    """The union the apiserver builds with --authorization-mode=RBAC: privileged group first, then RBAC."""
    if MASTERS_GROUP in user.groups:
        return Decision(True)
    for binding in BINDINGS:
        if binding.applies_to(user) and any(rule.allows(attrs) for rule in binding.rules):
            subject = (
                f'User "{user.name}"' if binding.reported_as_user else f'{binding.subject_kind} "{binding.subject}"'
            )
            return Decision(
                True,
                f'RBAC: allowed by ClusterRoleBinding "{binding.name}" of ClusterRole "{binding.role}" to {subject}',
            )
    return Decision(False)


def forbidden_message(user: UserInfo, attrs: Attributes) -> str:
    """responsewriters.forbiddenMessage, verbatim."""
    if not attrs.resource_request:
        return f'User "{user.name}" cannot {attrs.verb} path "{attrs.path}"'
    resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    if attrs.namespace:
        return (
            f'User "{user.name}" cannot {attrs.verb} resource "{resource}" in API group "{attrs.group}" '
            f'in the namespace "{attrs.namespace}"'
        )
    return (
        f'User "{user.name}" cannot {attrs.verb} resource "{resource}" in API group "{attrs.group}" '
        "at the cluster scope"
    )
