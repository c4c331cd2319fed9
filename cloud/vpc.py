"""VPC networking calls for network preparation: find or create a VPC and a vSwitch per zone."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ack_compute.cloud.clients import OpenApiClients

PAGE_SIZE = 50  # the largest page DescribeVpcs / DescribeVSwitches serve


class VpcInfo(BaseModel):
    vpc_id: str
    name: str = ""
    cidr_block: str = ""
    status: str = ""
    tags: dict[str, str] = {}


class VSwitchInfo(BaseModel):
    vswitch_id: str
    vpc_id: str
    zone_id: str
    cidr_block: str
    name: str = ""
    status: str = ""
    available_ips: int = 0
    tags: dict[str, str] = {}


def _tags(raw: dict[str, Any]) -> dict[str, str]:
    return {t.get("Key", ""): t.get("Value", "") for t in (raw.get("Tags") or {}).get("Tag", [])}


class VpcNetworks:
    def __init__(self, clients: OpenApiClients) -> None:
        self._clients = clients

    def _paged(self, action: str, build: Any, call: Any, key: tuple[str, str]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        page = 1
        while True:
            request = build(page)
            body = self._clients.call(action, lambda r=request: call(r).body.to_map())
            batch = (body.get(key[0]) or {}).get(key[1], [])
            items.extend(batch)
            if not batch or len(items) >= int(body.get("TotalCount") or 0):
                return items
            page += 1

    def vpcs(self, region: str, *, name: str | None = None) -> list[VpcInfo]:
        return self._describe_vpcs(region, vpc_name=name)

    def _describe_vpcs(self, region: str, **filters: str | None) -> list[VpcInfo]:
        from alibabacloud_vpc20160428 import models as m

        client = self._clients.client("vpc", region)
        raw = self._paged(
            "DescribeVpcs",
            lambda page: m.DescribeVpcsRequest(region_id=region, page_number=page, page_size=PAGE_SIZE, **filters),
            client.describe_vpcs,
            ("Vpcs", "Vpc"),
        )
        return [
            VpcInfo(
                vpc_id=v["VpcId"],
                name=v.get("VpcName", ""),
                cidr_block=v.get("CidrBlock", ""),
                status=v.get("Status", ""),
                tags=_tags(v),
            )
            for v in raw
        ]

    def vswitches(self, region: str, vpc_id: str, *, zone: str | None = None) -> list[VSwitchInfo]:
        from alibabacloud_vpc20160428 import models as m

        client = self._clients.client("vpc", region)
        raw = self._paged(
            "DescribeVSwitches",
            lambda page: m.DescribeVSwitchesRequest(
                region_id=region, vpc_id=vpc_id, zone_id=zone, page_number=page, page_size=PAGE_SIZE
            ),
            client.describe_vswitches,
            ("VSwitches", "VSwitch"),
        )
        return [
            VSwitchInfo(
                vswitch_id=v["VSwitchId"],
                vpc_id=v.get("VpcId", vpc_id),
                zone_id=v.get("ZoneId", ""),
                cidr_block=v.get("CidrBlock", ""),
                name=v.get("VSwitchName", ""),
                status=v.get("Status", ""),
                available_ips=int(v.get("AvailableIpAddressCount") or 0),
                tags=_tags(v),
            )
            for v in raw
        ]

    def create_vpc(self, region: str, *, name: str, cidr_block: str, tags: dict[str, str], client_token: str) -> str:
        """Idempotent by client token: a retried request returns the VPC the first one made."""
        from alibabacloud_vpc20160428 import models as m

        request = m.CreateVpcRequest(
            region_id=region,
            vpc_name=name,
            cidr_block=cidr_block,
            client_token=client_token,
            tag=[m.CreateVpcRequestTag(key=k, value=v) for k, v in tags.items()],
        )
        client = self._clients.client("vpc", region)
        # Safe to repeat, even after a network error: with the same ClientToken the VPC API answers with the VPC the
        # first call made (SDK CreateVpcRequest.client_token), or LastTokenProcessing while it is still running.
        return str(self._clients.call("CreateVpc", lambda: client.create_vpc(request).body.to_map())["VpcId"])

    def create_vswitch(
        self,
        region: str,
        *,
        vpc_id: str,
        zone: str,
        cidr_block: str,
        name: str,
        tags: dict[str, str],
        client_token: str,
    ) -> str:
        from alibabacloud_vpc20160428 import models as m

        request = m.CreateVSwitchRequest(
            region_id=region,
            vpc_id=vpc_id,
            zone_id=zone,
            cidr_block=cidr_block,
            v_switch_name=name,
            client_token=client_token,
            tag=[m.CreateVSwitchRequestTag(key=k, value=v) for k, v in tags.items()],
        )
        client = self._clients.client("vpc", region)
        # Safe to repeat for the same reason as CreateVpc: the ClientToken.
        return str(
            self._clients.call("CreateVSwitch", lambda: client.create_vswitch(request).body.to_map())["VSwitchId"]
        )

    def vpc(self, region: str, vpc_id: str) -> VpcInfo | None:
        """One VPC by id (None once it is gone)."""
        return next((v for v in self._describe_vpcs(region, vpc_id=vpc_id) if v.vpc_id == vpc_id), None)

    def delete_vswitch(self, region: str, vswitch_id: str) -> None:
        """DeleteVSwitch. Safe to repeat: the caller treats NotFound as already done."""
        from alibabacloud_vpc20160428 import models as m

        client = self._clients.client("vpc", region)
        request = m.DeleteVSwitchRequest(region_id=region, v_switch_id=vswitch_id)
        self._clients.call("DeleteVSwitch", lambda: client.delete_vswitch(request).body.to_map())

    def delete_vpc(self, region: str, vpc_id: str) -> None:
        from alibabacloud_vpc20160428 import models as m

        client = self._clients.client("vpc", region)
        request = m.DeleteVpcRequest(region_id=region, vpc_id=vpc_id)
        self._clients.call("DeleteVpc", lambda: client.delete_vpc(request).body.to_map())
