"""`ack-compute-mcp audit`: the receipts as JSON lines, oldest first, for an operator or an auditor.

Each line is one receipt (consent, purchase, extension, lease end) with its time in UTC, and, where a quote paid for
a lease, that lease (resource, start, end, state): so a consent line says who agreed to which quote, for what plan
and price, how, when, and what lease it bought. Receipts are written without secrets (quote ids, not tokens); as a
second guard any key that names a secret is redacted here, so a field added later cannot leak through the export.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from ack_compute.tools import receipts
from ack_compute.tools.leases import iso
from ack_compute.tools.ledger import Ledger

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.I)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SECRET_KEY = re.compile(r"token|secret|password|passwd|kubeconfig|private_key|access_key|credential", re.I)
REDACTED = "[redacted]"
# A server without HTTP callers (stdio) acts for whoever runs it; list_resources calls them the same.
LOCAL_OPERATOR = "local operator"


class BadSince(ValueError):
    """--since is neither an ISO 8601 time nor a duration like 24h."""


def parse_since(text: str, now: float | None = None) -> float:
    """`24h`, `30m`, `7d`, `90s`, `2w` (that long before now), or an ISO 8601 time (UTC when it has no offset)."""
    now = time.time() if now is None else now
    if match := _DURATION.match(text):
        return now - float(match.group(1)) * _UNITS[match.group(2).lower()]
    try:
        at = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadSince(
            f"--since {text!r} is neither an ISO 8601 time (e.g. 2026-12-03T09:00:00Z) nor a duration "
            "(e.g. 24h, 30m, 7d)"
        ) from None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


def redact(value: Any) -> Any:
    """Values under keys that name a secret, replaced, at any depth."""
    if isinstance(value, dict):
        return {k: REDACTED if _SECRET_KEY.search(str(k)) else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def export(ledger: Ledger, since: float = 0.0) -> Iterator[dict[str, Any]]:
    """The receipts from `since` on, oldest first, each with the lease its quote bought (if any)."""
    leases: dict[str, list[dict[str, Any]]] = {}
    for row in ledger.query("SELECT resource_id, quote_id, starts_at, ends_at, state FROM leases"):
        leases.setdefault(row["quote_id"], []).append(
            {
                "resource_id": row["resource_id"],
                "starts_at": iso(row["starts_at"]),
                "ends_at": iso(row["ends_at"]),
                "state": row["state"],
            }
        )
    for receipt in receipts.since(ledger, since):
        line: dict[str, Any] = {
            **redact(receipt.body),  # first: the receipt's own fields win over a body key of the same name
            "receipt_id": receipt.receipt_id,
            "at": _iso_ms(receipt.at),
            "event": receipt.event,
            "caller": receipt.caller or LOCAL_OPERATOR,
            "quote_id": receipt.quote_id,
            "operation_id": receipt.operation_id,
            "resource_id": receipt.resource_id,
        }
        if receipt.quote_id and receipt.quote_id in leases:
            line["leases"] = leases[receipt.quote_id]
        yield line


def _iso_ms(ts: float) -> str:
    at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=ts)
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
