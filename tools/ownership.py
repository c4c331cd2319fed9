"""What this server created or reused, row by row, and the mark it puts on what it creates: the promise that
nothing leaks and nothing foreign is touched rests on these rows and on this one mark. An intent row is written
before every create call; every cloud resource it creates carries the mark as tags, every Kubernetes object as
labels (the same keys), and names it gives start with NAME_PREFIX."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel

from ack_compute.tools.identity import current_caller
from ack_compute.tools.leases import release_with_row
from ack_compute.tools.ledger import Conflict, Db, Ledger, Row

ResourceKind = Literal["cluster", "vpc", "vswitch", "security_group", "job", "deployment", "service", "node_pool"]
LIVE = ("intent", "creating", "ready")

# The mark. Cloud tags and Kubernetes labels share these keys (both accept `/` in a key).
MANAGED_BY = ("ack-compute-mcp/managed-by", "ack-compute-mcp")
OPERATION_TAG = "ack-compute-mcp/operation"  # the operation that created it: cleanup deletes by this, not by name
# A node pool names its creating operation under its own key: a pool can sit on a cluster another operation (or
# someone else) made, and where a cluster's tags are carried onto its pools the keys must not collide.
POOL_OPERATION_TAG = "ack-compute-mcp/pool-operation"
# Names this server gives (clusters reuse_any may pick up, the VPC, vSwitches, Jobs) start with this.
NAME_PREFIX = "acf-"
JOB_PREFIX = f"{NAME_PREFIX}job-"


def mark(operation_id: str | None = None) -> dict[str, str]:
    """The mark as a tag or label map: managed-by, and the creating operation when there is one."""
    mark = {MANAGED_BY[0]: MANAGED_BY[1]}
    if operation_id is not None:
        mark[OPERATION_TAG] = operation_id
    return mark


def mark_selector() -> str:
    """The Kubernetes label selector that matches everything carrying the mark."""
    return "=".join(MANAGED_BY)


def is_ours(marks: Mapping[str, str] | None, operation_id: str | None = None) -> bool:
    """Whether tags or labels carry this server's mark (and, when given, name this operation as the creator).
    Labels are anyone's to copy: where it matters, callers also compare the ledger's recorded id or uid."""
    marks = marks or {}
    if marks.get(MANAGED_BY[0]) != MANAGED_BY[1]:
        return False
    return operation_id is None or marks.get(OPERATION_TAG) == operation_id


class OwnedResource(BaseModel):
    resource_id: int
    operation_id: str
    kind: str
    region: str
    name: str
    cloud_id: str | None
    origin: Literal["created", "reused"]
    state: str
    client_token: str = ""
    details: dict[str, Any]
    owner: str = ""
    created_at: datetime
    updated_at: datetime


class NameBusy(Exception):
    """Another operation (in this or another server on the same ledger) is already creating this name."""

    def __init__(self, existing: OwnedResource) -> None:
        self.existing = existing
        super().__init__(f"{existing.kind} {existing.name} is being created by {existing.operation_id}")


def _owner() -> str:
    return current_caller().subject


def _row(row: Row) -> OwnedResource:
    return OwnedResource(
        resource_id=row["resource_id"],
        operation_id=row["operation_id"],
        kind=row["kind"],
        region=row["region"],
        name=row["name"],
        cloud_id=row["cloud_id"],
        origin=row["origin"],
        state=row["state"],
        client_token=row["client_token"] or "",
        details=json.loads(row["details_json"]),
        owner=row["owner"],
        created_at=datetime.fromtimestamp(row["created_at"], UTC),
        updated_at=datetime.fromtimestamp(row["updated_at"], UTC),
    )


@dataclass(frozen=True)
class Claim:
    """The intent row for one create: written before the call (or with the quote's redemption that pays for it)."""

    operation_id: str
    kind: ResourceKind
    region: str
    name: str
    client_token: str = ""
    details: dict[str, Any] = field(default_factory=dict)


class Ownership:
    def __init__(self, ledger: Ledger, clock: Callable[[], float] = time.time) -> None:
        self.ledger = ledger
        self._clock = clock  # dates rows and releases leases; the meter reads both, so tests pin it like the meter's

    def claim(self, claim: Claim) -> int:
        """Write the intent row before the create call; refuses a second live creation of the same name."""
        try:
            with self.ledger.transaction() as db:
                return self.insert_claim(db, claim)
        except Conflict:
            raise self.busy(claim.kind, claim.region, claim.name) from None

    def insert_claim(self, db: Db, claim: Claim, *, quote_id: str | None = None) -> int:
        """The intent row inside the caller's transaction (a purchase writes it with the quote's redemption);
        Conflict when the name is being created already."""
        now = self._clock()
        return int(
            db.execute(
                "INSERT INTO resources (operation_id, kind, region, name, origin, state, client_token,"
                " details_json, created_at, updated_at, owner, quote_id)"
                " VALUES (:op, :kind, :region, :name, 'created', 'intent', :token, :details, :now, :now, :owner,"
                " :quote_id) RETURNING resource_id",
                {
                    "op": claim.operation_id,
                    "kind": claim.kind,
                    "region": claim.region,
                    "name": claim.name,
                    "token": claim.client_token,
                    "details": json.dumps(claim.details),
                    "now": now,
                    "owner": _owner(),
                    "quote_id": quote_id,
                },
            ).scalar()
        )

    def busy(self, kind: str, region: str, name: str) -> Exception:
        """What a refused claim means: NameBusy with the live row, or (it finished meanwhile) a retryable error."""
        existing = self.live_creation(kind, region, name)
        if existing is None:  # it finished between our insert and this read; let the caller look again
            return Conflict(f"{kind} {name} changed while it was claimed; look again")
        return NameBusy(existing)

    def record_reuse(
        self,
        operation_id: str,
        kind: ResourceKind,
        region: str,
        name: str,
        cloud_id: str,
        details: dict[str, Any] | None = None,
    ) -> int:
        now = self._clock()
        with self.ledger.transaction() as db:
            return int(
                db.execute(
                    "INSERT INTO resources (operation_id, kind, region, name, cloud_id, origin, state, details_json,"
                    " created_at, updated_at, owner) VALUES (:op, :kind, :region, :name, :cloud_id, 'reused', 'ready',"
                    " :details, :now, :now, :owner) RETURNING resource_id",
                    {
                        "op": operation_id,
                        "kind": kind,
                        "region": region,
                        "name": name,
                        "cloud_id": cloud_id,
                        "details": json.dumps(details or {}),
                        "now": now,
                        "owner": _owner(),
                    },
                ).scalar()
            )

    def update(
        self, resource_id: int, *, state: str, cloud_id: str | None = None, details: dict[str, Any] | None = None
    ) -> None:
        with self.ledger.transaction() as db:
            self.update_in(db, resource_id, state=state, cloud_id=cloud_id, details=details)

    def update_in(
        self,
        db: Db,
        resource_id: int,
        *,
        state: str,
        cloud_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """`update` inside the caller's transaction (an operation's failure is written only while it holds it)."""
        row = db.execute("SELECT details_json FROM resources WHERE resource_id = :id", {"id": resource_id}).fetchone()
        merged = {**json.loads(row["details_json"]), **(details or {})} if row else details or {}
        now = self._clock()
        db.execute(
            "UPDATE resources SET state = :state, cloud_id = COALESCE(:cloud_id, cloud_id),"
            " details_json = :details, updated_at = :now WHERE resource_id = :id",
            {"state": state, "cloud_id": cloud_id, "details": json.dumps(merged), "now": now, "id": resource_id},
        )
        release_with_row(db, resource_id, state, now)

    def get(self, resource_id: int) -> OwnedResource:
        return _row(self.ledger.query("SELECT * FROM resources WHERE resource_id = :id", {"id": resource_id})[0])

    def paid_by(self, resource_id: int) -> str | None:
        """The quote that paid for this row (the last one, after a costlier update), from the ledger alone."""
        rows = self.ledger.query("SELECT quote_id FROM resources WHERE resource_id = :id", {"id": resource_id})
        return str(rows[0]["quote_id"]) if rows and rows[0]["quote_id"] else None

    def live_creation(self, kind: str, region: str, name: str) -> OwnedResource | None:
        rows = self.ledger.query(
            "SELECT * FROM resources WHERE kind = :kind AND region = :region AND name = :name AND origin = 'created'"
            f" AND state IN {LIVE} ORDER BY resource_id DESC LIMIT 1",
            {"kind": kind, "region": region, "name": name},
        )
        return _row(rows[0]) if rows else None

    def owned_cloud_ids(self, kind: str) -> set[str]:
        rows = self.ledger.query(
            "SELECT cloud_id FROM resources WHERE kind = :kind AND origin = 'created' AND cloud_id IS NOT NULL",
            {"kind": kind},
        )
        return {r["cloud_id"] for r in rows}

    def all(self) -> list[OwnedResource]:
        """Every row, whoever owns it: for the server's own bookkeeping (adoption, name claims, network reuse)."""
        return [_row(r) for r in self.ledger.query("SELECT * FROM resources ORDER BY resource_id")]

    def visible(self) -> list[OwnedResource]:
        """The rows the current caller may see and clean up: their own, or all of them for an admin."""
        caller = current_caller()
        if caller.admin:
            return self.all()
        rows = self.ledger.query(
            "SELECT * FROM resources WHERE owner = :owner ORDER BY resource_id", {"owner": caller.subject}
        )
        return [_row(r) for r in rows]
