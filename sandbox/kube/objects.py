"""The generic registry: create, update, patch, delete and list any kind with the apiserver's semantics.

HTTP handlers, controllers and the public seeding API all go through here, so every write gets the same
defaulting, managedFields, admission, validation, resourceVersion and watch events.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ack_compute.sandbox.kube.canonical import canonicalize
from ack_compute.sandbox.kube.context import KubeVersion, WriteContext, generate_name, new_uid
from ack_compute.sandbox.kube.managed_fields import update_managed_fields
from ack_compute.sandbox.kube.namespaces import IMMORTAL
from ack_compute.sandbox.kube.registry import Kind, Registry, ReviewStrategy
from ack_compute.sandbox.kube.selectors import FieldSelector, LabelSelector
from ack_compute.sandbox.kube.status import (
    GroupResource,
    StatusError,
    already_exists,
    bad_request,
    conflict,
    forbidden_request,
    invalid_object,
    not_found,
    stale_object,
)
from ack_compute.sandbox.kube.store import Conflict, Obj, Store, clone

CONTINUE_VERSION = "meta.k8s.io/v1"


@dataclass(frozen=True)
class DeleteOptions:
    grace_period_seconds: int | None = None
    propagation_policy: str | None = None
    orphan_dependents: bool | None = None
    uid: str | None = None
    resource_version: str | None = None
    dry_run: bool = False


@dataclass(frozen=True)
class ListPage:
    items: list[Obj]
    resource_version: int
    continue_token: str = ""
    remaining: int | None = None


def _meta(obj: Obj) -> dict[str, Any]:
    metadata = obj.get("metadata")
    if metadata is None:
        metadata = obj["metadata"] = {}
    if not isinstance(metadata, dict):
        raise bad_request("metadata must be an object")
    return metadata


class Objects:
    """One cluster's objects behind the Kubernetes write path."""

    def __init__(self, store: Store, registry: Registry, version: KubeVersion) -> None:
        self.store = store
        self.registry = registry
        self.version = version
        self.on_namespace_terminating: Callable[[str], None] = lambda name: None

    # --- reads -------------------------------------------------------------------------------------------

    def get(self, kind: Kind, namespace: str, name: str) -> Obj:
        obj = self.store.get(kind.key, namespace if kind.namespaced else "", name)
        if obj is None:
            raise not_found(kind.group_resource, name)
        return obj

    def list(
        self,
        kind: Kind,
        namespace: str | None,
        *,
        labels: LabelSelector | None = None,
        fields: FieldSelector | None = None,
        limit: int = 0,
        continue_token: str = "",
    ) -> ListPage:
        items, rv = self.store.list(kind.key, namespace if kind.namespaced else None)
        start = ""
        if continue_token:
            token_rv, start = _decode_continue(continue_token)
            rv = token_rv or rv
        if start:
            items = [item for item in items if self._list_key(kind, namespace, item) >= start]
        matched = [item for item in items if self.matches(kind, item, labels, fields)]
        if limit <= 0 or len(matched) <= limit:
            return ListPage(matched, rv)
        page = matched[:limit]
        last = self._list_key(kind, namespace, page[-1]) + "\x00"
        filtered = bool((labels and not labels.empty) or (fields and fields.terms))
        remaining = None if filtered else len(matched) - limit
        return ListPage(page, rv, _encode_continue(rv, last), remaining)

    @staticmethod
    def _storage_key(kind: Kind, namespace: str, name: str) -> str:
        """Where etcd keeps the object (nodes live under their historic name, minions)."""
        prefix = f"/registry/{kind.storage_prefix or kind.resource}"
        return f"{prefix}/{namespace}/{name}" if kind.namespaced else f"{prefix}/{name}"

    @staticmethod
    def _list_key(kind: Kind, namespace: str | None, obj: Obj) -> str:
        metadata = obj["metadata"]
        if kind.namespaced and not namespace:
            return f"{metadata.get('namespace', '')}/{metadata['name']}"
        return metadata["name"]

    def matches(self, kind: Kind, obj: Obj, labels: LabelSelector | None, fields: FieldSelector | None) -> bool:
        if labels is not None and not labels.matches((obj.get("metadata") or {}).get("labels")):
            return False
        return fields is None or fields.matches(kind.strategy.field_set(obj))

    # --- create ------------------------------------------------------------------------------------------

    def create(self, kind: Kind, namespace: str, body: Any, ctx: WriteContext, *, dry_run: bool = False) -> Obj:
        obj = self._decode(kind, body)
        metadata = _meta(obj)
        _place(kind, metadata, namespace)
        strategy = kind.strategy
        strategy.default(obj, ctx)
        zero = {"apiVersion": kind.api_version, "kind": kind.kind, **strategy.zero_object()}
        update_managed_fields(
            zero, obj, manager=ctx.field_manager, api_version=kind.api_version, timestamp=ctx.timestamp
        )
        if isinstance(strategy, ReviewStrategy):
            return strategy.answer(obj, ctx)
        if kind.namespaced:
            self._admit_namespace_content(kind, namespace, metadata.get("name") or "")
        strategy.admit(obj, None, ctx)
        # rest.BeforeCreate
        metadata.pop("deletionTimestamp", None)
        metadata.pop("deletionGracePeriodSeconds", None)
        strategy.prepare_for_create(obj, ctx)
        metadata["uid"] = new_uid()
        metadata["creationTimestamp"] = ctx.timestamp
        if kind.tracks_generation:
            metadata["generation"] = 1
        else:
            metadata.pop("generation", None)
        if metadata.get("generateName") and not metadata.get("name"):
            metadata["name"] = generate_name(metadata["generateName"])
        metadata.pop("selfLink", None)
        errors = strategy.validate(obj, ctx)
        if errors:
            raise invalid_object(kind.group, kind.kind, metadata.get("name") or "", errors)
        if metadata.pop("resourceVersion", None):
            raise StatusError(500, "", "resourceVersion should not be set on objects to be created")
        if dry_run:
            return obj
        with self.store.lock:
            try:
                return self.store.create(kind.key, obj)
            except KeyError:
                existing = self.store.get(kind.key, metadata.get("namespace") or "", metadata["name"])
                being_deleted = bool(existing and existing["metadata"].get("deletionTimestamp"))
                raise already_exists(kind.group_resource, metadata["name"], being_deleted=being_deleted) from None

    def _decode(self, kind: Kind, body: Any) -> Obj:
        if not isinstance(body, dict):
            raise bad_request(
                f"the object provided is unrecognized (must be of type {kind.kind}): couldn't get version/kind; "
                "json parse error: json: cannot unmarshal array into Go value of type struct { APIVersion string "
                '"json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" }'
            )
        obj = canonicalize(body)
        api_version, kind_name = obj.get("apiVersion") or "", obj.get("kind") or ""
        if (kind_name and kind_name != kind.kind) or (api_version and api_version != kind.api_version):
            shown_version = (api_version or kind.api_version).rpartition("/")[2]
            sent = kind_name or kind.kind
            raise bad_request(
                f'{sent} in version "{shown_version}" cannot be handled as a {kind.kind}: converting '
                f"({shown_version}.{sent}) to ({kind.group or 'core'}.{kind.kind}): unknown conversion"
            )
        obj["apiVersion"], obj["kind"] = kind.api_version, kind.kind
        return obj

    def _admit_namespace_content(self, kind: Kind, namespace: str, name: str) -> None:
        """The NamespaceLifecycle admission plugin for creates."""
        ns = self.store.get("/namespaces", "", namespace)
        if ns is None:
            raise not_found(GroupResource("", "namespaces"), namespace)
        if (ns.get("status") or {}).get("phase") == "Terminating":
            raise forbidden_request(
                kind.group_resource,
                name,
                f"unable to create new content in namespace {namespace} because it is being terminated",
                causes=[
                    {
                        "reason": "NamespaceTerminating",
                        "message": f"namespace {namespace} is being terminated",
                        "field": "metadata.namespace",
                    }
                ],
            )

    # --- update ------------------------------------------------------------------------------------------

    def update(
        self,
        kind: Kind,
        namespace: str,
        name: str,
        body: Any,
        ctx: WriteContext,
        *,
        subresource: str = "",
        dry_run: bool = False,
        patched_from: Obj | None = None,
    ) -> Obj:
        obj = self._decode(kind, body)
        metadata = _meta(obj)
        if (metadata.get("name") or "") != name:
            raise bad_request(
                f"the name of the object ({metadata.get('name') or ''}) does not match the name on the URL ({name})"
            )
        _place(kind, metadata, namespace)
        strategy = kind.strategy
        strategy.default(obj, ctx)
        with self.store.lock:
            current = self.get(kind, namespace, name)
            if (
                patched_from is not None
                and patched_from["metadata"]["resourceVersion"] != current["metadata"]["resourceVersion"]
            ):
                raise stale_object(kind.group_resource, name)
            wanted_rv = metadata.get("resourceVersion") or None
            if wanted_rv is not None and wanted_rv != current["metadata"].get("resourceVersion"):
                raise stale_object(kind.group_resource, name)
            wanted_uid = metadata.get("uid")
            if wanted_uid and wanted_uid != current["metadata"].get("uid"):
                # The object's uid is a storage precondition, checked before validation sees it.
                raise conflict(
                    kind.group_resource,
                    name,
                    f"StorageError: invalid object, Code: 4, Key: {self._storage_key(kind, namespace, name)}, "
                    f"ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in precondition: {wanted_uid}, "
                    f"UID in object meta: {current['metadata'].get('uid')}",
                )
            update_managed_fields(
                current, obj, manager=ctx.field_manager, api_version=kind.api_version, timestamp=ctx.timestamp
            )
            strategy.admit(obj, current, ctx)
            self._before_update(kind, obj, current, ctx, subresource)
            errors = (
                strategy.validate_status_update(obj, current, ctx)
                if subresource == "status"
                else strategy.validate_update(obj, current, ctx)
            )
            if errors:
                raise invalid_object(kind.group, kind.kind, name, errors)
            if dry_run:
                return obj
            if _should_delete_during_update(obj, current):
                return self._delete_now(kind, current)
            stored, _ = self.store.update(kind.key, obj)
            return stored

    def _before_update(self, kind: Kind, obj: Obj, old: Obj, ctx: WriteContext, subresource: str) -> None:
        metadata, old_meta = obj["metadata"], old["metadata"]
        if old_meta.get("generation") is not None:
            metadata["generation"] = old_meta["generation"]
        else:
            metadata.pop("generation", None)
        if subresource == "status":
            kind.strategy.prepare_for_status_update(obj, old, ctx)
        else:
            kind.strategy.prepare_for_update(obj, old, ctx)
            if kind.tracks_generation and kind.strategy.spec_of(obj) != kind.strategy.spec_of(old):
                metadata["generation"] = (old_meta.get("generation") or 0) + 1
        if not metadata.get("uid"):
            metadata["uid"] = old_meta.get("uid")
        metadata["creationTimestamp"] = old_meta.get("creationTimestamp")
        for key in ("deletionTimestamp", "deletionGracePeriodSeconds"):
            if old_meta.get(key) is not None:
                metadata[key] = old_meta[key]
            elif key == "deletionTimestamp":
                metadata.pop(key, None)
        metadata["resourceVersion"] = old_meta.get("resourceVersion")

    # --- delete ------------------------------------------------------------------------------------------

    def delete(
        self, kind: Kind, namespace: str, name: str, options: DeleteOptions, ctx: WriteContext
    ) -> tuple[Obj, bool]:
        """Returns what the apiserver answers (the object, or a success Status) and whether it is gone."""
        with self.store.lock:
            current = self.get(kind, namespace, name)
            metadata = current["metadata"]
            self._check_preconditions(kind, current, options)
            if kind.resource == "namespaces" and not kind.group and name in IMMORTAL:
                raise forbidden_request(kind.group_resource, name, "this namespace may not be deleted")
            if options.dry_run:
                return current, False
            if kind.resource == "namespaces" and not kind.group:
                return self._delete_namespace(kind, current, ctx)
            finalizers = list(metadata.get("finalizers") or [])
            grace = kind.strategy.grace_period(current, options.grace_period_seconds)
            existing_ts = metadata.get("deletionTimestamp")
            if existing_ts:
                existing_grace = metadata.get("deletionGracePeriodSeconds")
                if not existing_grace:
                    if finalizers:
                        return current, False
                    return self._delete_now(kind, current), True
                requested = options.grace_period_seconds
                if requested is None or requested >= existing_grace:
                    return current, False
                shortened = ctx.now + timedelta(seconds=requested)
                metadata["deletionTimestamp"] = _ts(shortened)
                metadata["deletionGracePeriodSeconds"] = requested
                stored, _ = self.store.update(kind.key, current)
                if requested > 0 or finalizers:
                    return stored, False
                return self._delete_now(kind, stored), True
            if grace is None:
                if finalizers:
                    metadata["deletionTimestamp"] = ctx.timestamp
                    metadata["deletionGracePeriodSeconds"] = 0
                    stored, _ = self.store.update(kind.key, current)
                    return stored, False
                return self._delete_now(kind, current), True
            metadata["deletionTimestamp"] = _ts(ctx.now + timedelta(seconds=grace))
            metadata["deletionGracePeriodSeconds"] = grace
            if metadata.get("generation"):
                metadata["generation"] += 1
            stored, _ = self.store.update(kind.key, current)
            if finalizers or grace > 0:
                return stored, False
            return self._delete_now(kind, stored), True

    def _delete_now(self, kind: Kind, obj: Obj) -> Obj:
        metadata = obj["metadata"]
        last = self.store.delete(kind.key, metadata.get("namespace") or "", metadata["name"])
        if kind.return_deleted_object:
            return last
        details: dict[str, Any] = {"name": metadata["name"]}
        if kind.group:
            details["group"] = kind.group
        details.update({"kind": kind.resource, "uid": metadata.get("uid", "")})
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}

    def _delete_namespace(self, kind: Kind, current: Obj, ctx: WriteContext) -> tuple[Obj, bool]:
        """Namespaces first turn Terminating; the namespace controller empties and finalizes them."""
        metadata = current["metadata"]
        if not metadata.get("deletionTimestamp"):
            metadata["deletionTimestamp"] = ctx.timestamp
            current.setdefault("status", {})["phase"] = "Terminating"
            stored, _ = self.store.update(kind.key, current)
            self.on_namespace_terminating(metadata["name"])
            return stored, False
        if (current.get("spec") or {}).get("finalizers"):
            return current, False
        return self._delete_now(kind, current), True

    def finalize_namespace(self, name: str, finalizers: list[str]) -> Obj:
        """The namespaces/finalize subresource: set spec.finalizers; a Terminating namespace left with none
        is deleted in the same step (its DELETED event shows the state before the finalize)."""
        kind = self.registry.lookup("", "v1", "namespaces")
        assert kind is not None
        with self.store.lock:
            current = self.get(kind, "", name)
            updated = clone(current)
            spec = updated.setdefault("spec", {})
            if finalizers:
                spec["finalizers"] = list(finalizers)
            else:
                spec.pop("finalizers", None)
            if (
                not finalizers
                and current["metadata"].get("deletionTimestamp")
                and not current["metadata"].get("finalizers")
            ):
                self.store.delete(kind.key, "", name)
                return updated
            stored, _ = self.store.update(kind.key, updated)
            return stored

    def _check_preconditions(self, kind: Kind, current: Obj, options: DeleteOptions) -> None:
        metadata = current["metadata"]
        resource = GroupResource(kind.group, kind.kind)
        checks = (  # apiserver's storage preconditions: each given one must equal the record's value
            ("UID", "uid", options.uid, "deleted and then recreated"),
            ("ResourceVersion", "resourceVersion", options.resource_version, "modified"),
        )
        for label, key, wanted, meaning in checks:
            if wanted is not None and wanted != metadata.get(key):
                raise conflict(
                    resource,
                    metadata["name"],
                    f"the {label} in the precondition ({wanted}) does not match the {label} in record "
                    f"({metadata.get(key)}). The object might have been {meaning}",
                )

    def delete_collection(
        self,
        kind: Kind,
        namespace: str | None,
        labels: LabelSelector | None,
        fields: FieldSelector | None,
        options: DeleteOptions,
        ctx: WriteContext,
    ) -> ListPage:
        page = self.list(kind, namespace, labels=labels, fields=fields)
        for item in page.items:
            metadata = item["metadata"]
            try:
                self.delete(kind, metadata.get("namespace") or "", metadata["name"], options, ctx)
            except StatusError as error:
                if error.code != 404:
                    raise
        return page

    # --- helpers -----------------------------------------------------------------------------------------

    def try_update(self, kind: Kind, obj: Obj, ctx: WriteContext, *, subresource: str = "") -> Obj | None:
        """An update that yields None instead of failing on a stale resourceVersion or a vanished object."""
        metadata = obj["metadata"]
        try:
            return self.update(
                kind, metadata.get("namespace") or "", metadata["name"], obj, ctx, subresource=subresource
            )
        except StatusError as error:
            if error.code in (404, 409):
                return None
            raise
        except Conflict:
            return None


def _should_delete_during_update(new: Obj, old: Obj) -> bool:
    """An object whose last finalizer goes while it is being deleted without grace is deleted by the update."""
    old_meta, new_meta = old["metadata"], new["metadata"]
    return (
        not new_meta.get("finalizers")
        and bool(old_meta.get("finalizers"))
        and old_meta.get("deletionTimestamp") is not None
        and old_meta.get("deletionGracePeriodSeconds") == 0
    )


def _ts(moment: Any) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _encode_continue(rv: int, start: str) -> str:
    raw = json.dumps({"v": CONTINUE_VERSION, "rv": rv, "start": start}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_continue(token: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise bad_request(f"invalid continue token: continue key is not valid: {error}") from None
    if not isinstance(data, dict) or data.get("v") != CONTINUE_VERSION:
        raise bad_request(
            "invalid continue token: continue key is not valid: "
            "incorrect encoded start resourceVersion (version meta.k8s.io/v1)"
        )
    start = data.get("start") or ""
    if not start or not isinstance(data.get("rv"), int):
        raise bad_request("invalid continue token: continue key is not valid: encoded start key empty")
    return data["rv"], start


def _place(kind: Kind, metadata: dict[str, Any], namespace: str) -> None:
    """The namespace of a written object is the request's (a different one in the body is a bad request)."""
    if not kind.namespaced:
        metadata.pop("namespace", None)
        return
    if metadata.get("namespace") and metadata["namespace"] != namespace:
        raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
    metadata["namespace"] = namespace
