"""CS (ACK) DescribeRegions: the regions the sandbox serves, named in the requested language."""

from __future__ import annotations

from typing import Any

from ack_compute.sandbox.router import ApiRequest
from ack_compute.sandbox.state import SandboxState


def describe_regions(request: ApiRequest, state: SandboxState) -> dict[str, Any]:
    """`acceptLanguage` picks zh-CN (the default) or en-US local names."""
    language = request.query.get("acceptLanguage", "zh-CN")
    regions = [
        {"regionId": region_id, "localName": region.local_name.in_language(language)}
        for region_id, region in state.catalog.regions.items()
    ]
    return {"regions": regions, "requestId": request.request_id}
