"""Errors as the real apiserver spells them: a `Status` body whose message, reason and details clients parse."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class GroupResource:
    """A resource qualified by its API group; prints like the apiserver does (`pods`, `jobs.batch`)."""

    group: str
    resource: str

    def __str__(self) -> str:
        return f"{self.resource}.{self.group}" if self.group else self.resource


@dataclass(frozen=True)
class FieldError:
    """One validation failure, mirroring apimachinery's field.Error so messages and causes read the same."""

    type: str  # "FieldValueInvalid", "FieldValueRequired", ...
    field: str
    bad_value: Any = None
    detail: str = ""
    has_value: bool = True

    def body(self) -> str:
        label = _FIELD_ERROR_LABELS[self.type]
        valueless = self.type in _VALUELESS_TYPES or not self.has_value
        text = label if valueless else f"{label}: {_go_value(self.bad_value)}"
        return f"{text}: {self.detail}" if self.detail else text

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"


_FIELD_ERROR_LABELS = {
    "FieldValueNotFound": "Not found",
    "FieldValueRequired": "Required value",
    "FieldValueDuplicate": "Duplicate value",
    "FieldValueInvalid": "Invalid value",
    "FieldValueNotSupported": "Unsupported value",
    "FieldValueForbidden": "Forbidden",
    "FieldValueTooLong": "Too long",
    "FieldValueTooMany": "Too many",
    "InternalError": "Internal error",
}
_VALUELESS_TYPES = {"FieldValueRequired", "FieldValueForbidden", "FieldValueTooLong", "InternalError"}


class GoLiteral(str):
    """A bad value already spelled the way Go prints it (e.g. a struct), used verbatim in messages."""


def _go_value(value: Any) -> str:
    """Bad values print the way Go's %q / %v print them in field errors."""
    if isinstance(value, GoLiteral):
        return str(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def required(path: str, detail: str = "") -> FieldError:
    return FieldError("FieldValueRequired", path, detail=detail, has_value=False)


def invalid(path: str, value: Any, detail: str) -> FieldError:
    return FieldError("FieldValueInvalid", path, value, detail)


def forbidden(path: str, detail: str) -> FieldError:
    return FieldError("FieldValueForbidden", path, detail=detail, has_value=False)


def duplicate(path: str, value: Any) -> FieldError:
    return FieldError("FieldValueDuplicate", path, value)


def not_supported(path: str, value: Any, supported: list[str]) -> FieldError:
    detail = "supported values: " + ", ".join(f'"{item}"' for item in supported) if supported else ""
    return FieldError("FieldValueNotSupported", path, value, detail)


@dataclass
class StatusError(Exception):
    """A failed request, carried up to the HTTP layer and written as a `Status` object."""

    code: int
    reason: str
    message: str
    details: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(f"{self.code} {self.reason}: {self.message}")

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
        }
        if self.reason:
            body["reason"] = self.reason
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


def _details(name: str = "", group: str = "", kind: str = "", **extra: Any) -> dict[str, Any]:
    """StatusDetails with Go's omitempty: empty name/group/kind are left out."""
    out: dict[str, Any] = {}
    if name:
        out["name"] = name
    if group:
        out["group"] = group
    if kind:
        out["kind"] = kind
    out.update({key: value for key, value in extra.items() if value})
    return out


def not_found(gr: GroupResource, name: str) -> StatusError:
    return StatusError(404, "NotFound", f'{gr} "{name}" not found', _details(name, gr.group, gr.resource))


def resource_not_found() -> StatusError:
    """A path under a known API group/version that names no resource."""
    return StatusError(404, "NotFound", "the server could not find the requested resource", {})


def already_exists(gr: GroupResource, name: str, *, being_deleted: bool = False) -> StatusError:
    message = f'{gr} "{name}" already exists'
    if being_deleted:
        message = f"object is being deleted: {message}"
    return StatusError(409, "AlreadyExists", message, _details(name, gr.group, gr.resource))


def conflict(gr: GroupResource, name: str, detail: str) -> StatusError:
    return StatusError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {gr} "{name}": {detail}',
        _details(name, gr.group, gr.resource),
    )


def stale_object(gr: GroupResource, name: str) -> StatusError:
    return conflict(
        gr, name, "the object has been modified; please apply your changes to the latest version and try again"
    )


def invalid_object(group: str, kind: str, name: str, errors: list[FieldError]) -> StatusError:
    qualified = f"{kind}.{group}" if group else kind
    messages: list[str] = []
    for error in errors:
        text = str(error)
        if text not in messages:
            messages.append(text)
    aggregate = messages[0] if len(messages) == 1 else "[" + ", ".join(messages) + "]"
    causes = [{"reason": error.type, "message": error.body(), "field": error.field} for error in errors]
    return StatusError(
        422,
        "Invalid",
        f'{qualified} "{name}" is invalid: {aggregate}',
        _details(name, group, kind, causes=causes),
    )


def forbidden_request(
    gr: GroupResource | None, name: str, message: str, causes: list[dict[str, str]] | None = None
) -> StatusError:
    if gr is None or not str(gr):
        text = f"forbidden: {message}"
        details = _details(name)
    elif name:
        text = f'{gr} "{name}" is forbidden: {message}'
        details = _details(name, gr.group, gr.resource)
    else:
        text = f"{gr} is forbidden: {message}"
        details = _details(name, gr.group, gr.resource)
    if causes:
        details["causes"] = causes
    return StatusError(403, "Forbidden", text, details)


def unauthorized() -> StatusError:
    return StatusError(401, "Unauthorized", "Unauthorized")


def bad_request(message: str) -> StatusError:
    return StatusError(400, "BadRequest", message)


def method_not_allowed() -> StatusError:
    return StatusError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {})


def unsupported_media_type() -> StatusError:
    return StatusError(415, "UnsupportedMediaType", "415: Unsupported Media Type", {})


def not_acceptable() -> StatusError:
    return StatusError(406, "NotAcceptable", "406: Not Acceptable", {})


def too_large_resource_version(requested: int, current: int) -> StatusError:
    return StatusError(
        504,
        "Timeout",
        f"Timeout: Too large resource version: {requested}, current: {current}",
        {
            "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
            "retryAfterSeconds": 1,
        },
    )


def expired(message: str) -> StatusError:
    return StatusError(410, "Expired", message)


def gone(message: str) -> StatusError:
    return StatusError(410, "Gone", message)


def internal_error(message: str) -> StatusError:
    return StatusError(500, "InternalError", f"Internal error occurred: {message}", {"causes": [{"message": message}]})
