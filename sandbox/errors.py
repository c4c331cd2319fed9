"""Error replies shaped like the real gateways' so SDK exceptions carry real codes, statuses and request ids."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from ack_compute.sandbox.products import ApiStyle


def new_request_id() -> str:
    """Request ids look like the real ones: upper-case UUIDs."""
    return str(uuid.uuid4()).upper()


class ApiError(Exception):
    """A failed call: HTTP status, Alibaba error code, message and any extra response headers."""

    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers: dict[str, str] = dict(headers or {})

    def body(self, style: ApiStyle, request_id: str, host: str) -> dict[str, object]:
        """RPC gateways answer PascalCase with the host id; the CS (ROA) API answers camelCase."""
        if style is ApiStyle.ROA:
            return {"code": self.code, "message": self.message, "requestId": request_id, "status": self.status}
        return {"RequestId": request_id, "HostId": host, "Code": self.code, "Message": self.message}


def missing_parameter(name: str) -> ApiError:
    return ApiError(
        400,
        "MissingParameter",
        f'The input parameter "{name}" that is mandatory for processing this request is not supplied.',
    )


def invalid_parameter(name: str) -> ApiError:
    return ApiError(400, "InvalidParameter", f'The specified parameter "{name}" is not valid.')


def missing_region_id() -> ApiError:
    return ApiError(400, "MissingRegionId", "RegionId is mandatory for this action.")


def action_not_found() -> ApiError:
    """What the gateway answers for an API it does not have (also the 2026-decommissioned CS APIs).

    Seen on the CS gateway itself: aliyun/aliyun-openapi-cpp-sdk test/function_test/cs/cs_describetemplates_ut.cc
    expects InvalidAction.NotFound / "Specified api is not found, please check your url and method." for an
    action CS does not serve; the HTTP status 404 is the one the Go SDK reports for it (its ServerError(404, ...)).
    """
    return ApiError(404, "InvalidAction.NotFound", "Specified api is not found, please check your url and method.")


def invalid_version() -> ApiError:
    return ApiError(400, "InvalidVersion", "Specified parameter Version is not valid.")


def internal_error() -> ApiError:
    return ApiError(
        500, "InternalError", "The request processing has failed due to some unknown error, exception or failure."
    )
