"""CS (ROA) DescribeRegions through the real CS SDK."""

from __future__ import annotations

from typing import TYPE_CHECKING

from alibabacloud_cs20151215 import models as cs_models

if TYPE_CHECKING:
    from conftest import Clients


def test_regions_with_local_names_in_both_languages(clients: Clients) -> None:
    cs = clients.cs()
    chinese = cs.describe_regions(cs_models.DescribeRegionsRequest()).body
    english = cs.describe_regions(cs_models.DescribeRegionsRequest(accept_language="en-US")).body

    names = {region.region_id: region.local_name for region in english.regions}
    assert {"cn-hangzhou", "cn-shanghai", "cn-beijing", "cn-shenzhen", "ap-southeast-1"} <= set(names)
    assert names["cn-hangzhou"] == "China (Hangzhou)"
    assert {r.region_id: r.local_name for r in chinese.regions}["cn-hangzhou"] == "华东1(杭州)"
    assert chinese.request_id and chinese.request_id != english.request_id
