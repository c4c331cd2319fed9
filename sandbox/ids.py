"""Resource ids in the real formats, so code that parses or pattern-matches them sees nothing odd."""

from __future__ import annotations

import secrets
import string

_ALNUM = string.ascii_lowercase + string.digits
# The real ids of VPC-world resources start with a per-region prefix (`vpc-bp1...` in Hangzhou).
_REGION_PREFIXES = {
    "cn-hangzhou": "bp1",
    "cn-shanghai": "uf6",
    "cn-beijing": "2ze",
    "cn-shenzhen": "wz9",
    "ap-southeast-1": "t4n",
}


def _regional(kind: str, region_id: str, length: int = 20) -> str:
    prefix = _REGION_PREFIXES.get(region_id, "gw8")
    return f"{kind}-{prefix}{''.join(secrets.choice(_ALNUM) for _ in range(length - len(prefix)))}"


def cluster_id() -> str:
    """ACK cluster ids: `c` and 32 hex digits."""
    return f"c{secrets.token_hex(16)}"


def nodepool_id() -> str:
    return f"np{secrets.token_hex(16)}"


def task_id() -> str:
    """CS task ids: `T-` and 24 hex digits."""
    return f"T-{secrets.token_hex(12)}"


def vpc_id(region_id: str) -> str:
    return _regional("vpc", region_id)


def vswitch_id(region_id: str) -> str:
    return _regional("vsw", region_id)


def vrouter_id(region_id: str) -> str:
    return _regional("vrt", region_id)


def route_table_id(region_id: str) -> str:
    return _regional("vtb", region_id)


def security_group_id(region_id: str) -> str:
    return _regional("sg", region_id)


def instance_id(region_id: str) -> str:
    return _regional("i", region_id)


def resource_group_id() -> str:
    return f"rg-acfm{''.join(secrets.choice(_ALNUM) for _ in range(11))}"
