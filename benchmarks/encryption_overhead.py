"""What encryption at rest adds in process: each encrypted contender against the same store
unencrypted, interleaved in one process (each app with its own session), as the in-process
driver does against a bare app.

    python -m benchmarks.encryption_overhead [--rounds 30] [--batch-ms 30]

Prints one line per store and cell: the median µs of both and the median per-round ratio.
"""

import argparse
import asyncio
import statistics

from benchmarks.asgi_client import make_scope
from benchmarks.asgi_driver import load_app, login_cookie, per_request_ns
from benchmarks.contenders import CELLS_BY_NAME

PAIRS = (("ours_memory", "ours_memory_encrypted"), ("ours_cookie", "ours_cookie_encrypted"))


async def compare(plain_name: str, sealed_name: str, rounds: int, batch_ms: float) -> None:
    plain, sealed = load_app(plain_name), load_app(sealed_name)
    cookies = {plain_name: await login_cookie(plain), sealed_name: await login_cookie(sealed)}
    for cell_name in ("read", "change"):
        cell = CELLS_BY_NAME[cell_name]
        scopes = {
            name: make_scope(cell.method, cell.path, cookies[name])
            for name in (plain_name, sealed_name)
        }
        apps = {plain_name: plain, sealed_name: sealed}
        for name, app in apps.items():
            await per_request_ns(app, scopes[name], 500)  # warm up
        slowest = max([await per_request_ns(app, scopes[n], 100) for n, app in apps.items()])
        batch = max(20, int(batch_ms * 1e6 / slowest))
        times: dict[str, list[float]] = {plain_name: [], sealed_name: []}
        for index in range(rounds):
            order = (plain_name, sealed_name) if index % 2 == 0 else (sealed_name, plain_name)
            for name in order:
                times[name].append(await per_request_ns(apps[name], scopes[name], batch))
        ratios = [s / p for s, p in zip(times[sealed_name], times[plain_name], strict=True)]
        plain_us = statistics.median(times[plain_name]) / 1000
        sealed_us = statistics.median(times[sealed_name]) / 1000
        best = min(times[sealed_name]) / min(times[plain_name])
        print(
            f"{plain_name:12} {cell_name:6} plain {plain_us:6.1f} us  encrypted "
            f"{sealed_us:6.1f} us  ratio {statistics.median(ratios):.3f} (best rounds {best:.3f})",
            flush=True,
        )


async def main(rounds: int, batch_ms: float) -> None:
    for plain_name, sealed_name in PAIRS:
        await compare(plain_name, sealed_name, rounds, batch_ms)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--batch-ms", type=float, default=30.0)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.batch_ms))
