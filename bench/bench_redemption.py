"""Quote redemption latency on the ledger: PostgreSQL against SQLite, through the product's own purchase path.

Run: python bench/bench_redemption.py [--redemptions 300] [--threads 4] [--races 50] [--database-url URL] [--json]

Each backend gets a fresh ledger: a SQLite file in a temporary state dir (the baseline, measured in the same run)
and a new database on PostgreSQL (`--database-url`, else ACK_COMPUTE_TEST_DATABASE_URL, else a server that
scripts/postgres.sh starts on loopback and stops; its durability is off, so commits cost no disk flush, as with
SQLite's synchronous=NORMAL they mostly do not either). Quotes are issued first, outside the timing; what is timed
is `Purchase.buy`: verify the quote against the ledger's row, then in one transaction redeem it, check the caps
against everything live, write the intent row, its lease and the purchase receipt. Printed per backend:
- sequential: `--redemptions` purchases one after another (p50/p90/p99/max per purchase, purchases/s);
- concurrent: the same count spread over `--threads` threads (each its own connection), wall throughput;
- races: `--races` quotes each redeemed by two threads at the same instant; exactly one purchase per quote must
  win (the other is refused as already used): printed as wins/refusals, the one figure that is a correctness check.
The live-resource count grows during the run (the caps check reads it), so later purchases read more rows. Figures
only; nothing is asserted (the machine is shared: load averages are printed). PostgreSQL is reported as skipped
when no server can be started here.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from benchenv import arguments, emit, load_average, machine, machine_line, offline

offline()
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.helpers.postgres

from ack_compute.tools.errors import QuoteRefused  # noqa: E402
from ack_compute.tools.identity import Caller, acting_as  # noqa: E402
from ack_compute.tools.ledger import Ledger  # noqa: E402
from ack_compute.tools.ownership import Ownership  # noqa: E402
from ack_compute.tools.plans import AcsPlan, normalise  # noqa: E402
from ack_compute.tools.purchase import Claim, Purchase  # noqa: E402
from ack_compute.tools.quotes import QuoteAmounts, QuoteBook  # noqa: E402
from tests.helpers.postgres import PostgresServer, Unavailable, masked, postgres_server  # noqa: E402
from tests.helpers.racing import at_once  # noqa: E402

REGION = "cn-hangzhou"
CALLER = Caller(subject="bench", admin=False)
PLAN = normalise(AcsPlan.model_validate({"replicas": 1, "vcpu": 1, "memory_gib": 2, "hours": 2}), REGION)
AMOUNTS = QuoteAmounts(currency="CNY", hourly=Decimal("0.5"), total=Decimal("1.0"), hours=2)


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0 for no samples."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def latency(values_ms: list[float]) -> dict[str, float]:
    return {
        "p50": round(pct(values_ms, 50), 2),
        "p90": round(pct(values_ms, 90), 2),
        "p99": round(pct(values_ms, 99), 2),
        "max": round(max(values_ms, default=0.0), 2),
        "mean": round(statistics.fmean(values_ms), 2) if values_ms else 0.0,
    }


class Shop:
    """The product's purchase path on one ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self.quotes = QuoteBook(b"b" * 32, ledger)
        self.purchase = Purchase(self.quotes, Ownership(ledger))
        self._names = iter(range(10**9))
        self._lock = threading.Lock()

    def quote(self) -> str:
        with acting_as(CALLER):
            return self.quotes.issue(PLAN, AMOUNTS).quote_id

    def buy(self, quote_id: str) -> None:
        with self._lock:
            n = next(self._names)
        with acting_as(CALLER):
            self.purchase.buy(
                quote_id, PLAN, claim=Claim(f"op-{n:016x}", "deployment", REGION, f"c-bench/default/web-{n}")
            )


def timed(act: Callable[[], None]) -> float:
    t = time.perf_counter()
    act()
    return (time.perf_counter() - t) * 1000


def sequential(shop: Shop, count: int) -> dict[str, Any]:
    quotes = [shop.quote() for _ in range(count)]
    started = time.perf_counter()
    samples = [timed(lambda q=q: shop.buy(q)) for q in quotes]
    wall = time.perf_counter() - started
    return {"purchases": count, "wall_s": round(wall, 3), "per_s": round(count / wall, 1), "ms": latency(samples)}


def concurrent(shop: Shop, count: int, threads: int) -> dict[str, Any]:
    quotes = [shop.quote() for _ in range(count)]
    samples: list[float] = []
    errors: list[str] = []
    barrier = threading.Barrier(threads)

    def worker(mine: list[str]) -> None:
        barrier.wait()
        for q in mine:
            try:
                samples.append(timed(lambda q=q: shop.buy(q)))
            except Exception as exc:  # reported, not raised: a figure of the run
                errors.append(f"{type(exc).__name__}: {exc}"[:300])

    pool = [threading.Thread(target=worker, args=(quotes[i::threads],)) for i in range(threads)]
    started = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    wall = time.perf_counter() - started
    return {
        "purchases": len(samples),
        "threads": threads,
        "errors": len(errors),
        "first_error": errors[0] if errors else "",
        "wall_s": round(wall, 3),
        "per_s": round(len(samples) / wall, 1),
        "ms": latency(samples),
    }


def races(shop: Shop, count: int) -> dict[str, Any]:
    """Two threads redeem the same quote at the same instant, `count` times: one must win each time."""

    def attempt(quote_id: str) -> str:
        try:
            shop.buy(quote_id)
            return "won"
        except QuoteRefused as exc:
            return "refused" if exc.reason == "already_used" else f"QuoteRefused {exc.reason}"
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"[:300]

    outcomes: list[str] = []
    for _ in range(count):
        quote_id = shop.quote()
        outcomes += at_once([quote_id, quote_id], lambda _i, q: lambda: attempt(q))
    other = [o for o in outcomes if o not in ("won", "refused")]
    return {
        "quotes": count,
        "wins": outcomes.count("won"),
        "refused_already_used": outcomes.count("refused"),
        "other": len(other),
        "first_other": other[0] if other else "",
    }


def measure(ledger: Ledger, args: argparse.Namespace) -> dict[str, Any]:
    shop = Shop(ledger)
    for _ in range(20):  # warm-up: imports, connections, prepared plans
        shop.buy(shop.quote())
    out: dict[str, Any] = {"load_average_before": load_average()}
    out["sequential"] = sequential(shop, args.redemptions)
    out["concurrent"] = concurrent(shop, args.redemptions, args.threads)
    out["races"] = races(shop, args.races)
    out["load_average_after"] = load_average()
    return out


@contextmanager
def postgres(url: str | None) -> Iterator[tuple[PostgresServer | None, str]]:
    """A server to make the bench's database on (yields None and why not when there is none)."""
    if url:
        os.environ["ACK_COMPUTE_TEST_DATABASE_URL"] = url
    try:
        with postgres_server() as server:
            yield server, ""
    except Unavailable as exc:
        yield None, str(exc)


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--redemptions", type=int, default=300, help="purchases per phase and backend")
    parser.add_argument("--threads", type=int, default=4, help="threads in the concurrent phase")
    parser.add_argument("--races", type=int, default=50, help="quotes redeemed twice at once")
    parser.add_argument("--database-url", help="a PostgreSQL server whose role may create databases")
    args = parser.parse_args()
    out: dict[str, Any] = {
        "machine": machine(),
        "redemptions": args.redemptions,
    }
    with tempfile.TemporaryDirectory() as state:
        out["sqlite"] = measure(Ledger(Path(state) / "ledger.sqlite3"), args)
    with postgres(args.database_url or os.environ.get("ACK_COMPUTE_TEST_DATABASE_URL")) as (server, why):
        if server is None:
            out["postgresql"] = {"skipped": why}
        else:
            with server.database() as url:
                ledger = Ledger(url)
                try:
                    out["postgresql"] = {"server": masked(url), **measure(ledger, args)}
                finally:
                    ledger.close()
    emit(out, args.json, report)


def _line(name: str, s: dict[str, Any], base: dict[str, Any] | None) -> str:
    ms = s["ms"]
    vs = f"  ({ms['p50'] / base['ms']['p50']:.1f}x SQLite's p50)" if base and base["ms"]["p50"] else ""
    return (
        f"    {name:34s} {s['per_s']:7.1f}/s  p50 {ms['p50']:7.2f}  p90 {ms['p90']:7.2f}  p99 {ms['p99']:7.2f}  "
        f"max {ms['max']:7.2f} ms{vs}"
    )


def report(out: dict[str, Any]) -> None:
    m = out["machine"]
    print(machine_line(m))
    print(f"Purchase.buy (verify, redeem, caps, intent row, lease, receipt), {out['redemptions']} per phase")
    sqlite = out["sqlite"]
    for backend in ("sqlite", "postgresql"):
        s = out[backend]
        print(f"\n  {backend}" + (" (baseline)" if backend == "sqlite" else f" {s.get('server', '')}"))
        if "skipped" in s:
            print(f"    skipped: {s['skipped']}")
            continue
        base = None if backend == "sqlite" else sqlite
        print(_line("sequential, 1 thread", s["sequential"], base and base["sequential"]))
        c = s["concurrent"]
        print(_line(f"concurrent, {c['threads']} threads", c, base and base["concurrent"]))
        if c["errors"]:
            print(f"      errors {c['errors']}, first: {c['first_error']}")
        r = s["races"]
        print(
            f"    races: {r['quotes']} quotes x 2 threads at once: {r['wins']} won, {r['refused_already_used']} "
            f"refused as already used, {r['other']} other" + (f" (first: {r['first_other']})" if r["other"] else "")
        )
        print(f"    load average before {s['load_average_before']}, after {s['load_average_after']}")


if __name__ == "__main__":
    main()
