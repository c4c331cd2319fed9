"""The fault matrix of issue 5 as a table: every fault the cloud or a cluster can throw at the tools, each run end to
end against its own sandbox, then cleaned up, with what was left and what was touched counted.

Run: python bench/fault_matrix.py [scenario ...]
The scenarios live in tests/tools/fault_matrix/ (tests/tools/test_fault_matrix.py asserts on them); this prints the
table: fault | what the tool reported | cleanup passes | ours left | foreign touched, and asserts nothing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ["ALIBABA_CLOUD_ECS_METADATA_DISABLED"] = "true"
for _var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_var, None)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.tools.fault_matrix

import argparse  # noqa: E402
import json  # noqa: E402

from tests.tools.fault_matrix.scenarios import SCENARIOS, run_isolated  # noqa: E402
from tests.tools.fault_matrix.stage import Outcome  # noqa: E402

# -- the table --------------------------------------------------------------------------------------------------


def table(outcomes: list[Outcome]) -> str:
    headers = ["fault", "what the tool reported", "cleanup", "ours left", "foreign touched", "ledger", "s"]
    rows = [
        [
            o.fault,
            o.answer.line(),
            o.cleanup_statuses,
            str(len(o.ours_left)),
            f"{len(o.foreign_touched)} of {len(o.foreign)}",
            "ok" if not o.ledger_problems else f"{len(o.ledger_problems)} problem(s)",
            f"{o.seconds:.1f}",
        ]
        for o in outcomes
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("-|-".join("-" * w for w in widths))
    lines += [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenarios", nargs="*", help=f"default: all of {', '.join(SCENARIOS)}")
    args = parser.parse_args()
    keys = args.scenarios or list(SCENARIOS)
    unknown = [k for k in keys if k not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenarios {unknown}")
    outcomes = []
    for key in keys:
        outcome = run_isolated(key)
        print(f"{key}: {outcome.seconds:.1f} s", flush=True)
        outcomes.append(outcome)
    print()
    print(table(outcomes))
    details = [o for o in outcomes if o.ours_left or o.foreign_touched or o.ledger_problems]
    for o in details:
        print(f"\n{o.fault}:")
        for line in [*o.ours_left, *o.foreign_touched, *o.ledger_problems]:
            print(f"  - {line}")
    print("\nWhat each scenario measured:")
    for o in outcomes:
        if o.facts:
            text = json.dumps(o.facts, default=str, separators=(",", ":"))
            print(f"  {o.key}: {text if len(text) <= 400 else text[:399] + '…'}")
    print(f"\n{len(outcomes)} scenarios, {sum(o.seconds for o in outcomes):.0f} s in all.")


if __name__ == "__main__":
    main()
