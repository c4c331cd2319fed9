"""The cloud products the sandbox speaks, told apart the way requests announce them: by `x-acs-version`."""

from __future__ import annotations

from enum import StrEnum


class ApiStyle(StrEnum):
    """RPC products take flattened query parameters and answer PascalCase; ROA products use real paths."""

    RPC = "RPC"
    ROA = "ROA"


class Product(StrEnum):
    """A product and its API version; the value is the product code used in the real error centre."""

    ECS = "Ecs"
    VPC = "Vpc"
    CS = "CS"
    ECI = "Eci"
    BSS = "BssOpenApi"

    @property
    def version(self) -> str:
        return _VERSIONS[self]

    @property
    def style(self) -> ApiStyle:
        return ApiStyle.ROA if self is Product.CS else ApiStyle.RPC


_VERSIONS: dict[Product, str] = {
    Product.ECS: "2014-05-26",
    Product.VPC: "2016-04-28",
    Product.CS: "2015-12-15",
    Product.ECI: "2018-08-08",
    Product.BSS: "2017-12-14",
}
_BY_VERSION: dict[str, Product] = {version: product for product, version in _VERSIONS.items()}


def product_for_version(version: str | None) -> Product | None:
    """The product whose API version this is, or None when the sandbox does not speak it."""
    return _BY_VERSION.get(version or "")
