"""Resource quantities ("500m", "2Gi", "1e3") as numbers, for the scheduler's fit checks."""

from __future__ import annotations

import re
from decimal import ROUND_UP, Decimal, InvalidOperation
from typing import Any

_SUFFIXES = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}
_PATTERN = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")


def parse_quantity(text: str | int | float) -> Decimal:
    """The value of a quantity; raises ValueError for what the apiserver would reject."""
    if isinstance(text, int | float):
        return Decimal(str(text))
    match = _PATTERN.match(text.strip())
    if not match or match.group(2) not in _SUFFIXES:
        raise ValueError(f"quantities must match the regular expression: {text!r}")
    try:
        return Decimal(match.group(1)) * _SUFFIXES[match.group(2)]
    except InvalidOperation:
        raise ValueError(f"invalid quantity {text!r}") from None


# --- canonical form ----------------------------------------------------------------------------------------

_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_BY_EXPONENT = {exponent: suffix for suffix, exponent in _DECIMAL_SUFFIXES.items()}
_BINARY_BY_EXPONENT = {exponent // 10: suffix for suffix, exponent in _BINARY_SUFFIXES.items()}
_QUANTITY = re.compile(r"^([+-]?)0*([0-9]*)(?:\.([0-9]*))?(.*)$")
_EXPONENT_SUFFIX = re.compile(r"^[eE][+-]?[0-9]+$")


def _parse_quantity(text: str) -> tuple[Decimal, str, str, str] | None:
    """(value, format, integer digits, fraction digits) like resource.ParseQuantity, or None when invalid."""
    match = _QUANTITY.match(text.strip())
    if not match or not text.strip():
        return None
    sign, num, denom, suffix = match.groups()
    num, denom = num or "0", denom or ""
    if suffix in _DECIMAL_SUFFIXES:
        scale, fmt = Decimal(10) ** _DECIMAL_SUFFIXES[suffix], "DecimalSI"
    elif suffix in _BINARY_SUFFIXES:
        scale, fmt = Decimal(2) ** _BINARY_SUFFIXES[suffix], "BinarySI"
    elif _EXPONENT_SUFFIX.match(suffix):
        scale, fmt = Decimal(10) ** int(suffix[1:]), "DecimalExponent"
    else:
        return None
    try:
        value = Decimal(f"{sign}{num}.{denom or '0'}") * scale
    except InvalidOperation:
        return None
    return value, fmt, num, denom


def canonical_quantity(text: Any, *, milli: bool = False) -> Any:
    """What the apiserver prints for a quantity (`0.5` -> `500m`, `2048Ki` -> `2Mi`); values of a ResourceList are
    first rounded up to milli units. Anything that does not parse is returned unchanged."""
    if not isinstance(text, str | int | float) or isinstance(text, bool):
        return text
    parsed = _parse_quantity(str(text))
    if parsed is None:
        return text
    value, fmt, _, _ = parsed
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
