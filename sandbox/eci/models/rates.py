"""ECI price rates (data/eci_prices.json, illustrative), the specs ECI offers, and the spot strategies it takes."""

from __future__ import annotations

import functools
from datetime import date
from importlib import resources

from pydantic import BaseModel, ConfigDict, Field

SPOT_STRATEGIES = ("NoSpot", "SpotAsPriceGo", "SpotWithPriceLimit")


class EciRates(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    as_of: date
    currency: str
    vcpu_second: float = Field(gt=0)
    gib_second: float = Field(gt=0)
    spot_discount: float = Field(gt=0, le=1)
    # vCPU -> the memory sizes (GiB) ECI offers with it in every region.
    specs: dict[float, tuple[float, ...]]


@functools.cache
def load_rates() -> EciRates:
    text = resources.files("ack_compute.sandbox").joinpath("data/eci_prices.json").read_text(encoding="utf-8")
    return EciRates.model_validate_json(text)
