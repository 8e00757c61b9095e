"""Instructions per request, counted by valgrind's callgrind: a cost that does not depend on how
busy the machine is, unlike time.

    python -m benchmarks.instructions --contender ours_memory --cell read --requests 2000

logs in (for the cells with a cookie), warms up, then makes ``--requests`` requests of the cell
in-process and exits. ``compare_instructions.sh`` runs it under callgrind twice, with N and 2N
requests: the difference of the two totals is the cost of N requests, start-up cancelled out.
"""

from __future__ import annotations

import argparse
import asyncio
import gc

from benchmarks.asgi_client import call_many, make_scope
from benchmarks.asgi_driver import load_app, login_cookie
from benchmarks.contenders import CELLS_BY_NAME


async def run(contender: str, cell_name: str, requests: int) -> None:
    app = load_app(contender)
    cell = CELLS_BY_NAME[cell_name]
    cookie = await login_cookie(app) if cell.cookie else None
    scope = make_scope(cell.method, cell.path, cookie)
    await call_many(app, scope, 200)  # warm-up: first-call caches, lazy imports
    # The collector still runs, but no longer walks the objects made at import: a full
    # collection would otherwise cost in proportion to how much was imported, not to requests.
    gc.collect()
    gc.freeze()
    await call_many(app, scope, requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contender", required=True)
    parser.add_argument("--cell", required=True, choices=sorted(CELLS_BY_NAME))
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(run(args.contender, args.cell, args.requests))


if __name__ == "__main__":
    main()
