"""Receipts: the append-only record of every consent, purchase, extension and lease end. Who, which quote, the
plan, the price, the lease, how consent was given, when. The ledger's triggers refuse to change or delete one.

Nothing secret goes in: quote ids (not tokens), plan fields, amounts, caller subjects.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel

from ack_compute.tools.ledger import Db, Ledger

Event = Literal["consent", "purchase", "extension", "lease_warning", "lease_end"]


class Receipt(BaseModel):
    receipt_id: int
    at: float
    event: str
    caller: str
    quote_id: str | None = None
    operation_id: str | None = None
    resource_id: int | None = None
    body: dict[str, Any]


def append(
    db: Db,
    event: Event,
    *,
    at: float,
    caller: str,
    quote_id: str | None = None,
    operation_id: str | None = None,
    resource_id: int | None = None,
    body: dict[str, Any] | None = None,
) -> None:
    """Within the transaction that does the thing: a receipt exists exactly when the act committed."""
    db.execute(
        "INSERT INTO receipts (at, event, caller, quote_id, operation_id, resource_id, body_json)"
        " VALUES (:at, :event, :caller, :quote_id, :operation_id, :resource_id, :body_json)",
        {
            "at": at,
            "event": event,
            "caller": caller,
            "quote_id": quote_id,
            "operation_id": operation_id,
            "resource_id": resource_id,
            "body_json": json.dumps(body or {}, sort_keys=True, default=str),
        },
    )


def since(ledger: Ledger, at: float = 0.0) -> list[Receipt]:
    rows = ledger.query("SELECT * FROM receipts WHERE at >= :at ORDER BY receipt_id", {"at": at})
    receipts = []
    for row in rows:
        fields = dict(row)
        fields["body"] = json.loads(fields.pop("body_json"))
        receipts.append(Receipt.model_validate(fields))
    return receipts
