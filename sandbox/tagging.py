"""Tags on RPC calls (`Tag.N.Key` / `Tag.N.Value`): validation when set, matching when filtering lists."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from ack_compute.sandbox.errors import ApiError, invalid_parameter
from ack_compute.sandbox.params import RpcParams
from ack_compute.sandbox.world import Tag, newest_first

_R = TypeVar("_R")

MAX_TAGS = 20
MAX_KEY = 128
MAX_VALUE = 128
RESERVED_PREFIXES = ("aliyun", "acs:", "http://", "https://")


def rpc_tags(params: RpcParams) -> list[Tag]:
    """Tags to set on a new resource; keys are required, unique and not reserved."""
    groups = params.groups("Tag")
    if len(groups) > MAX_TAGS:
        raise invalid_parameter("Tag")
    tags: list[Tag] = []
    for index, fields in groups.items():
        key, value = fields.text("Key", ""), fields.text("Value", "")
        if not key or len(key) > MAX_KEY or key.startswith(RESERVED_PREFIXES) or key in {t.key for t in tags}:
            raise ApiError(400, "InvalidTagKey.Malformed", f"The specified Tag.{index}.Key is not valid.")
        if len(value) > MAX_VALUE or value.startswith(RESERVED_PREFIXES):
            raise ApiError(400, "InvalidTagValue.Malformed", f"The specified Tag.{index}.Value is not valid.")
        tags.append(Tag(key=key, value=value))
    return tags


def tag_filter(params: RpcParams) -> list[tuple[str, str | None]]:
    """Filters from `Tag.N.Key` (and optional `Tag.N.Value`): every one must match."""
    return [(fields.text("Key", ""), fields.text("Value")) for fields in params.groups("Tag").values()]


def matches(tags: list[Tag], wanted: list[tuple[str, str | None]]) -> bool:
    present = {tag.key: tag.value for tag in tags}
    return all(key in present and value in (None, present[key]) for key, value in wanted)


def described(
    items: Iterable[_R],
    id_field: str,
    wanted_ids: list[str],
    wanted_tags: list[tuple[str, str | None]],
    **fields: str | None,
) -> list[_R]:
    """What an RPC Describe* call lists, newest first: live items with one of `wanted_ids` (any when none), each
    of `fields` equal to its wanted value (None: any) and the wanted tags."""
    found: list[Any] = [
        item
        for item in items
        if item.deleted is None
        and (not wanted_ids or getattr(item, id_field) in wanted_ids)
        and all(value in (None, getattr(item, name)) for name, value in fields.items())
        and matches(item.tags, wanted_tags)
    ]
    return newest_first(found)
