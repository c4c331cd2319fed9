"""ECI price rates (data/eci_prices.json, illustrative), the specs ECI offers, and the spot strategies it takes."""

from __future__ import annotations

import functools

from pydantic import Field

from ack_compute.sandbox.catalog import PriceTable, load_table

SPOT_STRATEGIES = ("NoSpot", "SpotAsPriceGo", "SpotWithPriceLimit")


class EciRates(PriceTable):
    vcpu_second: float = Field(gt=0)
    gib_second: float = Field(gt=0)
    spot_discount: float = Field(gt=0, le=1)
    # vCPU -> the memory sizes (GiB) ECI offers with it in every region.
    specs: dict[float, tuple[float, ...]]


@functools.cache
def load_rates() -> EciRates:
    return load_table(EciRates, "eci_prices.json")
