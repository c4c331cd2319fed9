"""Column shorthands the revisions share, so each table reads as its keys and which columns are required.

Revisions are history: what they create must never change, so neither may these. Add a new shorthand rather than
alter one (a migrated ledger's full DDL was compared before and after the revisions started using them).
"""

from __future__ import annotations

import sqlalchemy as sa

TEXT, TIME = sa.Text(), sa.Double()


def required(type_: sa.types.TypeEngine[object], *names: str) -> list[sa.Column[object]]:
    """NOT NULL columns of one type, in order."""
    return [sa.Column(name, type_, nullable=False) for name in names]


def optional(type_: sa.types.TypeEngine[object], *names: str) -> list[sa.Column[object]]:
    """Nullable columns of one type, in order."""
    return [sa.Column(name, type_) for name in names]


def one_of(name: str, *values: str) -> sa.Column[object]:
    """A required text column that holds one of `values` (a CHECK constraint, on both backends)."""
    allowed = ", ".join(f"'{value}'" for value in values)
    return sa.Column(name, TEXT, sa.CheckConstraint(f"{name} IN ({allowed})"), nullable=False)
