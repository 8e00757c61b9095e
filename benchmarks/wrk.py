"""Run Debian's wrk (one thread) against a URL and parse what it prints."""

import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.cpus import pin

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


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


def lua_script(method: str, cookies: Sequence[str]) -> str:
    """A wrk script sending ``method``, each request with the next cookie of ``cookies``.

    Rotating through many sessions is what many users do; one cookie on 32 connections
    would measure 32 concurrent writers of a single session instead.
    """
    if method not in ("GET", "POST"):
        raise ValueError(f"unsupported method {method}")
    if not all(cookie.isascii() and cookie.isprintable() for cookie in cookies):
        raise ValueError("cookies must be printable ASCII")
    quoted = ",\n".join(json.dumps(cookie) for cookie in cookies)  # JSON strings are Lua strings
    return (
        f'wrk.method = "{method}"\n'
        f"local cookies = {{\n{quoted}\n}}\n"
        "local index = 0\n"
        "request = function()\n"
        "  if #cookies > 0 then\n"
        "    index = index % #cookies + 1\n"
        '    wrk.headers["Cookie"] = cookies[index]\n'
        "  end\n"
        "  return wrk.format()\n"
        "end\n"
    )


def run(
    url: str, connections: int, seconds: int, method: str = "GET", cookies: Sequence[str] = ()
) -> WrkResult:
    binary = shutil.which("wrk")
    if binary is None:
        raise RuntimeError("wrk not found: apt-get install wrk (benchmarks/run.sh does)")
    command = [*pin([binary], "load"), "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        script = Path(tmp) / "request.lua"
        script.write_text(lua_script(method, cookies))
        command += ["-s", str(script), url]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
    return parse(done.stdout)
