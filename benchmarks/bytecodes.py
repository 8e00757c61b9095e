"""Python-level work per request: function calls, C calls and bytecodes executed, counted with
``sys.settrace``; exact and independent of the machine's load.

    python -m benchmarks.bytecodes --contender ours_memory

prints, for each cell, the counts per request after a warm-up. ``compare_bytecodes.sh REV``
runs it for another revision's package and the working tree's.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from types import FrameType
from typing import Any

from benchmarks.asgi_client import call_many, make_scope
from benchmarks.asgi_driver import load_app, login_cookie
from benchmarks.contenders import CELLS

REQUESTS = 20


class Counts:
    def __init__(self) -> None:
        self.calls = self.c_calls = self.opcodes = 0

    def trace(self, frame: FrameType, event: str, arg: Any) -> Any:
        if event == "call":
            self.calls += 1
            frame.f_trace_opcodes = True
        elif event == "opcode":
            self.opcodes += 1
        return self.trace

    def profile(self, frame: FrameType, event: str, arg: Any) -> None:
        if event == "c_call":
            self.c_calls += 1


async def measure(contender: str) -> None:
    app = load_app(contender)
    for cell in CELLS:
        cookie = await login_cookie(app) if cell.cookie else None
        scope = make_scope(cell.method, cell.path, cookie)
        await call_many(app, scope, 50)
        counts = Counts()
        sys.setprofile(counts.profile)
        sys.settrace(counts.trace)
        await call_many(app, scope, REQUESTS)
        sys.settrace(None)
        sys.setprofile(None)
        per = [value / REQUESTS for value in (counts.calls, counts.c_calls, counts.opcodes)]
        print(
            f"{contender:<28} {cell.name:<16} {per[0]:7.1f} calls {per[1]:7.1f} C calls "
            f"{per[2]:8.1f} bytecodes"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contender", required=True)
    asyncio.run(measure(parser.parse_args().contender))


if __name__ == "__main__":
    main()
