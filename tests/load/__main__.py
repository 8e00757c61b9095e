"""``python -m tests.load``: run the load and fault harness and print its figures.

::

    python -m tests.load            # the short form CI runs (seconds per scenario)
    python -m tests.load --long     # the long form: a few minutes
    python -m tests.load --scenario fault --scenario soak

Run it from the repository root with the dev dependencies installed; it needs redis-server.
The exit status is 1 when a scenario found a problem.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from tests.load.harness import LONG, SCENARIOS, SHORT, format_reports, run_scenarios


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.load", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--long", action="store_true", help="the long form (a few minutes)")
    parser.add_argument(
        "--scenario", action="append", choices=SCENARIOS, help="run only these (repeatable)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)

    timings = LONG if args.long else SHORT
    names = args.scenario or list(SCENARIOS)

    def progress(name: str) -> None:
        print(f"-- running {name}", file=sys.stderr, flush=True)

    reports = asyncio.run(run_scenarios(timings, names, progress))
    print(format_reports(reports))
    if args.json is not None:
        data = [
            {
                "name": r.name,
                "passed": r.passed,
                "requests": r.requests,
                "errors": r.errors,
                "figures": r.figures,
                "problems": r.problems,
            }
            for r in reports
        ]
        args.json.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return 0 if all(report.passed for report in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
