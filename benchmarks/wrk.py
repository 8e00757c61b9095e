"""Run Debian's wrk (one thread) against a URL and parse what it prints."""

import re
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_POST_SCRIPT = 'wrk.method = "POST"\n'


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    """Non-2xx/3xx responses plus socket errors: any is a broken measurement."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _milliseconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"unexpected wrk duration {text!r}")
    return float(match[1]) * _UNITS[match[2]]


def parse(output: str) -> WrkResult:
    def find(pattern: str) -> re.Match[str]:
        match = re.search(pattern, output, re.MULTILINE)
        if match is None:
            raise ValueError(f"wrk output lacks {pattern!r}:\n{output}")
        return match

    errors = 0
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        errors += int(non_2xx[1])
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if socket:
        errors += sum(int(n) for n in socket.groups())
    return WrkResult(
        requests_per_second=float(find(r"^Requests/sec:\s+([\d.]+)")[1]),
        p50_ms=_milliseconds(find(r"^\s+50%\s+(\S+)")[1]),
        p99_ms=_milliseconds(find(r"^\s+99%\s+(\S+)")[1]),
        requests=int(find(r"^\s+(\d+) requests in")[1]),
        errors=errors,
    )


def run(
    url: str, connections: int, seconds: float, method: str = "GET", cookie: str | None = None
) -> WrkResult:
    binary = shutil.which("wrk")
    if binary is None:
        raise RuntimeError("wrk not found: apt-get install wrk (benchmarks/run.sh does)")
    command = [
        binary,
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
    ]
    if cookie:
        command += ["-H", f"Cookie: {cookie}"]
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        if method == "POST":
            script = Path(tmp) / "post.lua"
            script.write_text(_POST_SCRIPT)
            command += ["-s", str(script)]
        elif method != "GET":
            raise ValueError(f"unsupported method {method}")
        command.append(url)
        done = subprocess.run(command, capture_output=True, text=True, check=True)
    return parse(done.stdout)
