"""The sandbox's ECS price and stock table (data/ecs_catalog.json), validated once at load."""

from __future__ import annotations

import functools
from datetime import date
from importlib import resources
from typing import Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

StockCategory = Literal["WithStock", "ClosedWithStock", "WithoutStock", "ClosedWithoutStock"]


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PriceTable(_Data):
    """A dated price table shipped in data/: where its numbers come from, as of when, in which currency."""

    source: str
    as_of: date
    currency: str


_Table = TypeVar("_Table", bound=PriceTable)


def load_table(model: type[_Table], file_name: str) -> _Table:
    """A table from data/, validated once (callers cache it)."""
    text = resources.files("ack_compute.sandbox").joinpath(f"data/{file_name}").read_text(encoding="utf-8")
    return model.model_validate_json(text)


class Family(_Data):
    category: str
    level: str
    processor: str
    architecture: str = "X86"


class InstanceType(_Data):
    family: str
    vcpu: int = Field(gt=0)
    memory_gib: float = Field(gt=0)
    eni_quantity: int = Field(gt=0)
    hourly_price: float = Field(gt=0)
    gpu_amount: int = 0
    gpu_spec: str = ""
    gpu_memory_gib: float = 0
    baseline_credit: int | None = None
    initial_credit: int | None = None


class SizeRange(_Data):
    min: int = Field(gt=0)
    max: int = Field(gt=0)


class Disk(_Data):
    category: str
    performance_level: str | None = None
    hourly_price_per_gib: float = Field(gt=0)
    system_gib: SizeRange
    data_gib: SizeRange


class Zone(_Data):
    """Stock defaults to WithStock for every type not listed as not offered."""

    stock: dict[str, StockCategory] = {}
    not_offered: frozenset[str] = frozenset()

    def offers(self, type_id: str) -> bool:
        return type_id not in self.not_offered

    def stock_of(self, type_id: str) -> StockCategory:
        return self.stock.get(type_id, "WithStock")


class LocalName(_Data):
    zh_cn: str = Field(alias="zh-CN")
    en_us: str = Field(alias="en-US")

    def in_language(self, language: str) -> str:
        return self.en_us if language == "en-US" else self.zh_cn


class Region(_Data):
    local_name: LocalName
    price_multiplier: float = Field(gt=0)
    zones: dict[str, Zone]


class Catalog(PriceTable):
    families: dict[str, Family]
    instance_types: dict[str, InstanceType]
    disks: tuple[Disk, ...]
    regions: dict[str, Region]

    @model_validator(mode="after")
    def _references_resolve(self) -> Self:
        unknown_families = {t.family for t in self.instance_types.values()} - self.families.keys()
        listed = {
            type_id
            for region in self.regions.values()
            for zone in region.zones.values()
            for type_id in (*zone.stock, *zone.not_offered)
        }
        unknown_types = listed - self.instance_types.keys()
        if unknown_families or unknown_types:
            raise ValueError(f"unknown families {sorted(unknown_families)} or types {sorted(unknown_types)}")
        return self

    def disk(self, category: str, performance_level: str | None) -> Disk | None:
        """The priced disk; ESSD without a performance level means PL1, as in the real API."""
        level = (performance_level or "PL1") if category == "cloud_essd" else None
        return next((d for d in self.disks if d.category == category and d.performance_level == level), None)


@functools.cache
def load_catalog() -> Catalog:
    return load_table(Catalog, "ecs_catalog.json")


def stock_status(category: StockCategory) -> Literal["Available", "SoldOut"]:
    """DescribeAvailableResource's Status for a StatusCategory."""
    return "Available" if category in ("WithStock", "ClosedWithStock") else "SoldOut"
