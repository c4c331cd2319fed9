"""The autoscaling/v1 `scale` subresource of Deployments and ReplicaSets (ScaleREST)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ack_compute.sandbox.kube.context import WriteContext
from ack_compute.sandbox.kube.patch import PATCH_TYPES, apply_patch, invalid_patch_body
from ack_compute.sandbox.kube.registry import Kind
from ack_compute.sandbox.kube.selectors import SelectorError, label_selector, selector_string
from ack_compute.sandbox.kube.status import (
    GroupResource,
    StatusError,
    bad_request,
    invalid,
    invalid_object,
    method_not_allowed,
    not_found,
    stale_object,
    unsupported_media_type,
)
from ack_compute.sandbox.kube.store import clone
from ack_compute.sandbox.kube.subresources import SubresourceCall
from ack_compute.sandbox.kube.validation import (
    name_is_dns_subdomain,
    validate_object_meta,
)

if TYPE_CHECKING:
    from ack_compute.sandbox.kube.cluster import KubeCluster


_UNCONDITIONAL_RETRIES = 5


def scale_of(kind: Kind, obj: Mapping[str, Any]) -> dict[str, Any]:
    """The autoscaling/v1 Scale view of a Deployment or ReplicaSet."""
    metadata = obj["metadata"]
    replicas = (obj.get("spec") or {}).get("replicas") or 0
    try:
        selector = selector_string(label_selector((obj.get("spec") or {}).get("selector")))
    except SelectorError:
        selector = ""
    status: dict[str, Any] = {"replicas": (obj.get("status") or {}).get("replicas") or 0}
    if selector:
        status["selector"] = selector
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            key: metadata[key]
            for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if key in metadata
        },
        "spec": {"replicas": replicas} if replicas else {},
        "status": status,
    }


def scale_subresource(
    cluster: KubeCluster,
    kind: Kind,
    namespace: str,
    name: str,
    method: str,
    body: bytes,
    content_type: str,
    ctx: WriteContext,
    *,
    dry_run: bool = False,
) -> dict[str, Any]:
    """GET, PUT and PATCH of `{deployments,replicasets}/{name}/scale` (ScaleREST): the new Scale's spec.replicas
    (and its resourceVersion, as a precondition) move into the object, which is then updated as usual.

    The HTTP layer hands the request over as is: `scale_subresource(cluster, kind, namespace, name, method, body,
    content_type, ctx)` answers the Scale or raises StatusError."""
    resource = GroupResource(kind.group, f"{kind.resource}/scale")
    media = content_type.split(";")[0].strip().lower()
    if method == "PUT":
        try:
            requested = json.loads(body or b"{}")
        except ValueError as error:
            raise bad_request(f"the object provided is unrecognized (must be of type Scale): {error}") from None
        if not isinstance(requested, dict):
            raise bad_request("the object provided is unrecognized (must be of type Scale)")
        body_name = (requested.get("metadata") or {}).get("name")
        if body_name is not None and body_name != name:
            raise bad_request(f"the name of the object ({body_name}) does not match the name on the URL ({name})")
    elif method == "PATCH":
        if media not in PATCH_TYPES:
            raise unsupported_media_type()
        try:
            patch = json.loads(body or b"null")
        except ValueError:
            raise invalid_patch_body() from None
    elif method != "GET":
        raise method_not_allowed()
    for _ in range(_UNCONDITIONAL_RETRIES):
        stored = cluster.store.get(kind.key, namespace, name)
        if stored is None:
            raise not_found(resource, name)
        old_scale = scale_of(kind, stored)
        if method == "GET":
            return old_scale
        new_scale = requested if method == "PUT" else apply_patch(old_scale, patch, media)
        metadata = new_scale.get("metadata") if isinstance(new_scale.get("metadata"), dict) else {}
        replicas = (new_scale.get("spec") or {}).get("replicas") or 0
        errors = validate_object_meta(dict(metadata), namespaced=True, name_fn=name_is_dns_subdomain)
        if isinstance(replicas, int) and replicas < 0:
            errors.append(invalid("spec.replicas", replicas, "must be greater than or equal to 0"))
        if errors:
            raise invalid_object("autoscaling", "Scale", name, errors)
        uid = metadata.get("uid")
        if uid and uid != stored["metadata"].get("uid"):
            raise StatusError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {resource} "{name}": Precondition failed: UID in precondition: '
                f"{uid}, UID in object meta: {stored['metadata'].get('uid')}",
                {"name": name, "group": kind.group, "kind": f"{kind.resource}/scale"},
            )
        wanted_rv = metadata.get("resourceVersion")
        # A patch that leaves the resourceVersion alone applies to whatever is current, like the apiserver's.
        conditional = bool(wanted_rv) and (method == "PUT" or wanted_rv != old_scale["metadata"].get("resourceVersion"))
        if conditional and wanted_rv != stored["metadata"].get("resourceVersion"):
            raise stale_object(kind.group_resource, name)
        updated = clone(stored)
        updated["spec"]["replicas"] = replicas
        try:
            return scale_of(kind, cluster.objects.update(kind, namespace, name, updated, ctx, dry_run=dry_run))
        except StatusError as error:
            if error.code != 409 or conditional:
                raise
    raise stale_object(kind.group_resource, name)


async def scale_handler(call: SubresourceCall) -> tuple[dict[str, Any], int]:
    """The `scale` subresource as DEPLOYMENT and REPLICA_SET carry it."""
    scale = scale_subresource(
        call.cluster,
        call.kind,
        call.namespace,
        call.name,
        call.method,
        call.body,
        call.content_type,
        call.ctx,
        dry_run=call.dry_run,
    )
    return scale, 200
