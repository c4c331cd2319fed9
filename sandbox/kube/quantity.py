"""Resource quantities ("500m", "2Gi", "1e3"): resource.ParseQuantity's grammar, once, read as a number (for the
scheduler's fit checks and the kubelets) and printed in the canonical form the apiserver writes back."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_UP, Decimal
from typing import Any

_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_BY_EXPONENT = {exponent: suffix for suffix, exponent in _DECIMAL_SUFFIXES.items()}
_BINARY_BY_EXPONENT = {exponent // 10: suffix for suffix, exponent in _BINARY_SUFFIXES.items()}
_QUANTITY = re.compile(r"^([+-]?)0*([0-9]*)(?:\.([0-9]*))?(.*)$")
_EXPONENT_SUFFIX = re.compile(r"^[eE][+-]?[0-9]+$")


@dataclass(frozen=True)
class QuantityParts:
    """parseQuantityString's pieces: sign, integer and fraction digits, and the suffix as base**exponent."""

    negative: bool
    num: str
    denom: str
    base: int
    exponent: int
    format: str  # DecimalSI, BinarySI or DecimalExponent

    @property
    def value(self) -> Decimal:
        sign = "-" if self.negative else ""
        return Decimal(f"{sign}{self.num}.{self.denom or '0'}") * Decimal(self.base) ** self.exponent


def split_quantity(text: str) -> QuantityParts | None:
    """A quantity's pieces like resource.ParseQuantity reads them, or None when it would reject the text."""
    match = _QUANTITY.match(text.strip())
    if not match or not text.strip():
        return None
    sign, num, denom, suffix = match.groups()
    if suffix in _DECIMAL_SUFFIXES:
        base, exponent, fmt = 10, _DECIMAL_SUFFIXES[suffix], "DecimalSI"
    elif suffix in _BINARY_SUFFIXES:
        base, exponent, fmt = 2, _BINARY_SUFFIXES[suffix], "BinarySI"
    elif _EXPONENT_SUFFIX.match(suffix):
        base, exponent, fmt = 10, int(suffix[1:]), "DecimalExponent"
    else:
        return None
    return QuantityParts(sign == "-", num or "0", denom or "", base, exponent, fmt)


def parse_quantity(text: str | int | float) -> Decimal:
    """The value of a quantity; raises ValueError for what the apiserver would reject."""
    if isinstance(text, int | float):
        return Decimal(str(text))
    parts = split_quantity(text)
    if parts is None:
        raise ValueError(f"quantities must match the regular expression: {text!r}")
    return parts.value


def canonical_quantity(text: Any, *, milli: bool = False) -> Any:
    """What the apiserver prints for a quantity (`0.5` -> `500m`, `2048Ki` -> `2Mi`); values of a ResourceList are
    first rounded up to milli units. Anything that does not parse is returned unchanged."""
    if not isinstance(text, str | int | float) or isinstance(text, bool):
        return text
    parts = split_quantity(str(text))
    if parts is None:
        return text
    value, fmt = parts.value, parts.format
    step = Decimal("0.001") if milli else Decimal("0.000000001")
    if value != value.quantize(step, rounding=ROUND_UP):
        value = value.quantize(step, rounding=ROUND_UP)
    if value == 0:
        return "0"
    if fmt == "BinarySI" and (-1024 < value < 1024 or value != value.to_integral_value()):
        fmt = "DecimalSI"
    if fmt == "BinarySI":
        amount, exponent = int(value), 0
        while amount % 1024 == 0 and exponent < 6:
            amount //= 1024
            exponent += 1
        return f"{amount}{_BINARY_BY_EXPONENT.get(exponent, '')}"
    sign, digits, exponent = value.normalize().as_tuple()
    mantissa = int("".join(map(str, digits)))
    assert isinstance(exponent, int)
    shift = exponent % 3
    mantissa, exponent = mantissa * 10**shift, exponent - shift
    number = f"{'-' if sign else ''}{mantissa}"
    if fmt == "DecimalExponent" or exponent not in _DECIMAL_BY_EXPONENT:
        return number + (f"e{exponent}" if exponent else "")
    return number + _DECIMAL_BY_EXPONENT[exponent]
