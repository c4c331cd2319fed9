"""Typed access to RPC parameters, which arrive flattened in the query string (`DataDisk.1.Size`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar, overload

from ack_compute.sandbox.errors import ApiError, invalid_parameter, missing_parameter, missing_region_id

T = TypeVar("T")


class RpcParams:
    """The flattened parameters of one RPC call; empty values count as absent, like the real API."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = {key: value for key, value in values.items() if value != ""}

    @overload
    def text(self, name: str) -> str | None: ...
    @overload
    def text(self, name: str, default: str) -> str: ...
    def text(self, name: str, default: str | None = None) -> str | None:
        return self._values.get(name, default)

    def names(self) -> set[str]:
        return set(self._values)

    def items(self) -> list[tuple[str, str]]:
        return list(self._values.items())

    def integer(self, name: str, default: int, error: ApiError) -> int:
        """The value as an int, `default` when absent, or `error` when it is not a whole number."""
        value = self._values.get(name)
        if value is None:
            return default
        try:
            return int(value)
        except ValueError:
            raise error from None

    def numbered(self, prefix: str) -> list[str]:
        """A list sent as `Prefix.1`, `Prefix.2`, ... in index order."""
        found: dict[int, str] = {}
        for key, value in self._values.items():
            head, _, index = key.rpartition(".")
            if head == prefix:
                found[_index(key, index)] = value
        return [found[index] for index in sorted(found)]

    def groups(self, prefix: str) -> dict[int, RpcParams]:
        """Structs sent as `Prefix.N.Field`, keyed by N in index order."""
        grouped: dict[int, dict[str, str]] = {}
        for key, value in self._values.items():
            parts = key.split(".")
            if len(parts) == 3 and parts[0] == prefix:
                grouped.setdefault(_index(key, parts[1]), {})[parts[2]] = value
        return {index: RpcParams(grouped[index]) for index in sorted(grouped)}


def _index(key: str, text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise invalid_parameter(key)
    return int(text)


def page(params: RpcParams, default_size: int, max_size: int) -> tuple[int, int]:
    """PageNumber (from 1) and PageSize (1..max_size) of an RPC list call."""
    number = params.integer("PageNumber", 1, invalid_parameter("PageNumber"))
    size = params.integer("PageSize", default_size, invalid_parameter("PageSize"))
    if number < 1:
        raise invalid_parameter("PageNumber")
    if not 1 <= size <= max_size:
        raise invalid_parameter("PageSize")
    return number, size


def required(params: RpcParams, name: str) -> str:
    """A parameter the action cannot go without: MissingParameter names it when absent."""
    value = params.text(name)
    if value is None:
        raise missing_parameter(name)
    return value


def rpc_region(
    params: RpcParams, regions: Mapping[str, T], not_found: str = "InvalidRegionId.NotFound"
) -> tuple[str, T]:
    """The RegionId an RPC call must name, and its entry in `regions`: MissingRegionId when absent, 404
    `not_found` when unknown (ECS DescribeAvailableResource spells it Invalid.RegionId)."""
    region_id = params.text("RegionId")
    if region_id is None:
        raise missing_region_id()
    region = regions.get(region_id)
    if region is None:
        raise ApiError(404, not_found, "The specified RegionId does not exist.")
    return region_id, region


def paged(
    found: list[T], number: int, size: int, view: Callable[[T], dict[str, Any]], outer: str, inner: str
) -> dict[str, Any]:
    """An RPC Describe* answer: the total, the paging echoed, and page `number` (from 1) of `size` items, each
    shown by `view`, nested as `{outer: {inner: [...]}}` (Vpcs.Vpc)."""
    shown = [view(item) for item in found[(number - 1) * size :][:size]]
    return {"TotalCount": len(found), "PageNumber": number, "PageSize": size, outer: {inner: shown}}


def id_list(text: str | None) -> list[str]:
    """Ids given as `a,b,c` (DescribeVpcs' VpcId) or as a JSON array (`["a","b"]`)."""
    if not text:
        return []
    stripped = text.strip()
    if stripped.startswith("["):
        stripped = stripped[1:-1]
    return [part.strip().strip('"') for part in stripped.split(",") if part.strip().strip('"')]
