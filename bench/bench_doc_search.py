"""Benchmark the offline reference search: ranking quality and latency over the labelled queries.

Run: /tmp/venv/bin/python bench/bench_doc_search.py
Prints figures only; thresholds live in tests/tools/test_doc_search.py (recall), never on timings.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from pathlib import Path

from ack_compute.tools.doc_search import DocIndex

QUERIES_FILE = Path(__file__).resolve().parent.parent / "tests" / "tools" / "doc_queries.json"
ROUNDS = 20
COLD_BUILDS = 5
CJK = re.compile(r"[\u4e00-\u9fff]")


def _percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile; enough for a few thousand samples."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered)) - 1))
    return ordered[rank]


def main() -> None:
    labelled = json.loads(QUERIES_FILE.read_text(encoding="utf-8"))

    # Cold build: read the bundled Markdown, parse and index it, as the server does on first use.
    start = time.perf_counter()
    index = DocIndex.from_package()
    first_build = time.perf_counter() - start
    builds = []
    for _ in range(COLD_BUILDS):
        start = time.perf_counter()
        index = DocIndex.from_package()
        builds.append(time.perf_counter() - start)

    ranks: list[int | None] = []
    for item in labelled:
        hits = index.search(item["query"], 20)
        found = [i for i, h in enumerate(hits, 1) if (h.document, h.anchor) == (item["document"], item["anchor"])]
        ranks.append(found[0] if found else None)

    for item in labelled:  # warm-up
        index.search(item["query"], 5)
    latencies = []
    for _ in range(ROUNDS):
        for item in labelled:
            start = time.perf_counter()
            index.search(item["query"], 5)
            latencies.append(time.perf_counter() - start)

    n = len(labelled)
    zh = sum(1 for item in labelled if CJK.search(item["query"]))
    recall1 = sum(1 for r in ranks if r == 1) / n
    recall3 = sum(1 for r in ranks if r is not None and r <= 3) / n
    mrr = sum(1.0 / r for r in ranks if r is not None) / n
    sections = sum(len(d.sections) for d in index.list_documents())
    print(f"corpus: {len(index.document_names())} documents, {sections} sections")
    print(f"queries: {n} labelled ({n - zh} English, {zh} with Chinese)")
    print(f"recall@1: {recall1:.3f}")
    print(f"recall@3: {recall3:.3f}")
    print(f"MRR:      {mrr:.3f}")
    print(
        f"latency (limit=5, {len(latencies)} queries after warm-up): "
        f"p50 {statistics.median(latencies) * 1000:.3f} ms, p95 {_percentile(latencies, 0.95) * 1000:.3f} ms"
    )
    print(
        f"cold index build: first in process {first_build * 1000:.1f} ms; "
        f"rebuild median {statistics.median(builds) * 1000:.1f} ms over {COLD_BUILDS} builds"
    )
    misses = [item["query"] for item, r in zip(labelled, ranks, strict=True) if r is None or r > 3]
    if misses:
        print("missed at 3:", "; ".join(misses))


if __name__ == "__main__":
    main()
