"""What every tool that spends by quote holds: the quote book and the purchase path on it, the pricer (for what
runs now), the ledger of what this server owns, and the resumable operations. One constructor for them all."""

from __future__ import annotations

from ack_compute.tools.operations import Operations
from ack_compute.tools.ownership import Ownership
from ack_compute.tools.pricing import Pricer
from ack_compute.tools.purchase import Purchase
from ack_compute.tools.quotes import QuoteBook


class Spending:
    def __init__(self, *, quotes: QuoteBook, pricer: Pricer, ownership: Ownership, operations: Operations) -> None:
        self.quotes = quotes
        self.purchase = Purchase(quotes, ownership)
        self.pricer = pricer
        self.ownership = ownership
        self.operations = operations
