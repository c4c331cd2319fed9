"""Container Service (ACK) calls; this issue needs only the region list."""

from __future__ import annotations

from pydantic import BaseModel

from ack_compute.cloud.clients import OpenApiClients


class RegionInfo(BaseModel):
    region_id: str
    name: str = ""


class ContainerService:
    def __init__(self, clients: OpenApiClients) -> None:
        self._clients = clients

    def describe_regions(self) -> list[RegionInfo]:
        from alibabacloud_cs20151215 import models as m

        client = self._clients.client("cs")
        body = self._clients.call(
            "DescribeRegions", lambda: client.describe_regions(m.DescribeRegionsRequest()).body.to_map()
        )
        # This API answers in camelCase, unlike most CS APIs (see the SDK's DescribeRegionsResponseBody).
        return [
            RegionInfo(region_id=r["regionId"], name=r.get("localName") or "")
            for r in body.get("regions", [])
            if r.get("regionId")
        ]
