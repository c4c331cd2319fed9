"""CIDR rules the VPC and CS APIs share: private ranges, containment, overlap and address allocation."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

IPv4Network = ipaddress.IPv4Network
PRIVATE_RANGES = tuple(ipaddress.IPv4Network(block) for block in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
# The first address and the last three of every vSwitch block are reserved by the cloud.
RESERVED_PER_VSWITCH = 4


def parse(text: str | None) -> IPv4Network | None:
    """A strict IPv4 network (host bits clear), or None when the text is not one."""
    if not text or "/" not in text:
        return None
    try:
        return ipaddress.IPv4Network(text, strict=True)
    except ValueError:
        return None


def private(network: IPv4Network, min_prefix: int, max_prefix: int) -> bool:
    """Inside 10/8, 172.16/12 or 192.168/16 with a mask length in [min_prefix, max_prefix]."""
    return min_prefix <= network.prefixlen <= max_prefix and any(network.subnet_of(r) for r in PRIVATE_RANGES)


def overlaps_any(network: IPv4Network, others: Iterable[IPv4Network]) -> bool:
    return any(network.overlaps(other) for other in others)


def usable_addresses(network: IPv4Network) -> int:
    return max(network.num_addresses - RESERVED_PER_VSWITCH, 0)


def next_address(network: IPv4Network, used: Iterable[str]) -> str | None:
    """The lowest free host address, skipping the reserved first one and last three."""
    taken = set(used)
    first = int(network.network_address) + 1
    last = int(network.broadcast_address) - 3
    for value in range(first, last + 1):
        address = str(ipaddress.IPv4Address(value))
        if address not in taken:
            return address
    return None


def free_subnet(parent: IPv4Network, prefix: int, taken: Iterable[IPv4Network]) -> IPv4Network | None:
    """The first /prefix block of `parent` that overlaps none of `taken`."""
    blocks = list(taken)
    return next((subnet for subnet in parent.subnets(new_prefix=prefix) if not overlaps_any(subnet, blocks)), None)
