"""authorization.k8s.io/v1 SelfSubjectAccessReview: "may I?", answered from the caller's token."""

from __future__ import annotations

from typing import Any

from ack_compute.sandbox.kube.context import WriteContext
from ack_compute.sandbox.kube.rbac import Attributes, authorize
from ack_compute.sandbox.kube.registry import Kind, ReviewStrategy
from ack_compute.sandbox.kube.status import FieldError, GoLiteral, invalid, invalid_object

GROUP = "authorization.k8s.io"


class SelfSubjectAccessReviewStrategy(ReviewStrategy):
    def validate(self, obj: dict[str, Any], ctx: WriteContext) -> list[FieldError]:
        spec = obj.get("spec") or {}
        resource, non_resource = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
        if resource is not None and non_resource is not None:
            shown = GoLiteral(
                f'authorization.NonResourceAttributes{{Path:"{non_resource.get("path", "")}", '
                f'Verb:"{non_resource.get("verb", "")}"}}'
            )
            return [
                invalid(
                    "spec.nonResourceAttributes", shown, "cannot be specified in combination with resourceAttributes"
                )
            ]
        if resource is None and non_resource is None:
            return [
                invalid(
                    "spec.resourceAttributes",
                    "null",
                    "exactly one of nonResourceAttributes or resourceAttributes must be specified",
                )
            ]
        return []

    def answer(self, obj: dict[str, Any], ctx: WriteContext) -> dict[str, Any]:
        errors = self.validate(obj, ctx)
        if errors:
            # The review's internal object has no kind set, so the real message starts with ".authorization.k8s.io".
            raise invalid_object(GROUP, "", "", errors)
        spec = obj.get("spec") or {}
        if spec.get("resourceAttributes") is not None:
            attrs = spec["resourceAttributes"]
            request = Attributes(
                verb=attrs.get("verb") or "",
                resource_request=True,
                group=attrs.get("group") or "",
                version=attrs.get("version") or "",
                resource=attrs.get("resource") or "",
                subresource=attrs.get("subresource") or "",
                namespace=attrs.get("namespace") or "",
                name=attrs.get("name") or "",
            )
        else:
            attrs = spec["nonResourceAttributes"]
            request = Attributes(verb=attrs.get("verb") or "", resource_request=False, path=attrs.get("path") or "")
        decision = authorize(ctx.user, request)
        status: dict[str, Any] = {"allowed": decision.allowed}
        if decision.reason:
            status["reason"] = decision.reason
        metadata = {key: value for key, value in (obj.get("metadata") or {}).items() if key == "managedFields"}
        return {
            "kind": "SelfSubjectAccessReview",
            "apiVersion": f"{GROUP}/v1",
            "metadata": {"creationTimestamp": None, **metadata},
            "spec": spec,
            "status": status,
        }

    def zero_object(self) -> dict[str, Any]:
        return {"metadata": {"creationTimestamp": None}, "spec": {}, "status": {"allowed": False}}


SELF_SUBJECT_ACCESS_REVIEW = Kind(
    group=GROUP,
    version="v1",
    resource="selfsubjectaccessreviews",
    kind="SelfSubjectAccessReview",
    namespaced=False,
    strategy=SelfSubjectAccessReviewStrategy(),
    verbs=("create",),
    stored=False,
)
