"""Render one run's results as docs/benchmarks.md, docs/benchmarks.png, the README's performance
section and the figures other pages quote (benchmarks/summary.py's marked sections).

Re-render without measuring again::

    benchmarks/.venvs/ours/bin/python -m benchmarks.report [benchmarks/results/latest.json]
"""

import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from benchmarks import summary
from benchmarks.contenders import CELLS, REPO_DIR
from benchmarks.targets import Verdict, evaluate

Row = list[str]


def _table(header: Row, rows: Iterable[Row]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _ratio(value: float) -> str:
    return f"{value:.2f}x"


def _label(results: dict[str, Any], name: str) -> str:
    label: str = results["contenders"][name]["label"]
    return label


def _baseline_note(results: dict[str, Any], name: str) -> str:
    baseline = results["contenders"][name]["baseline"]
    return "itself (noise check)" if baseline == name else _label(results, baseline)


def _per_cell_table(
    results: dict[str, Any], driver: str, suffix: str, fmt: Callable[[dict[str, Any]], str]
) -> str:
    shown = [
        c
        for c in CELLS
        if (c.inprocess if driver == "inprocess" else int(suffix.lstrip("@") or 0) in c.connections)
    ]
    rows = []
    for name, measured in results[driver].items():
        cells = measured["cells"]
        row = [_label(results, name), _baseline_note(results, name)]
        row += [fmt(cells[c.name + suffix]) if c.name + suffix in cells else "-" for c in shown]
        rows.append(row)
    return _table(["contender", "ratio to", *(c.label for c in shown)], rows)


def _measured(verdict: Verdict) -> str:
    if verdict.value is None:
        return "-"
    unit = verdict.target.unit
    return _ratio(verdict.value) if unit == "x" else f"{verdict.value:.2f}{unit}"


def _targets(results: dict[str, Any]) -> str:
    rows = [
        [
            v.target.label,
            _label(results, v.contender),
            _measured(v),
            v.target.rule,
            f"**{v.status}**",
            _peer(results, v),
            v.target.bound if v.status == "MISSED" else "",
        ]
        for v in evaluate(results)
    ]
    header = ["target (ratio to bare, same run)", "contender", "measured", "target", "result"]
    return _table([*header, "for context", "what bounds it (when missed)"], rows)


README_START = "<!-- benchmarks:start (written by benchmarks/report.py) -->"
README_END = "<!-- benchmarks:end -->"


def readme_section(results: dict[str, Any]) -> str:
    """The README's performance table: every target, met or missed, and what bounds it."""
    met = sum(v.status == "met" for v in evaluate(results))
    measured = sum(v.status != "not measured" for v in evaluate(results))
    return (
        f"{README_START}\n"
        f"From a `{results['mode']}` run on {results['environment']['date']} "
        f"({_load_note(results)}): {met} of {measured} targets met. Ratios are to an app without "
        "sessions measured in the same run; [the full report](docs/benchmarks.md) has every "
        "backend, typed and untyped, and the peers.\n\n"
        f"{_targets(results)}\n\n"
        "![Ratios to the bare app, targets marked](docs/benchmarks.png)\n"
        f"{README_END}"
    )


def _load_note(results: dict[str, Any]) -> str:
    load = results.get("foreign_load") or {}
    busy = load.get("other_processes", 0.0) + load.get("hypervisor_steal", 0.0)
    return f"other work took {busy:.0%} of the machine"


def write_readme(results: dict[str, Any], readme: Path) -> bool:
    """Replace the README's performance section (between the markers); False if it has none."""
    text = readme.read_text()
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        return False
    readme.write_text(text[:start] + readme_section(results) + text[end + len(README_END) :])
    return True


def _peer(results: dict[str, Any], verdict: Verdict) -> str:
    if verdict.peer is None or verdict.peer_value is None:
        return "-"
    return f"{_ratio(verdict.peer_value)} ({_label(results, verdict.peer)})"


def _inprocess(results: dict[str, Any]) -> str:
    time_table = _per_cell_table(
        results, "inprocess", "", lambda c: f"{c['us']:.1f} µs ({_ratio(c['ratio'])})"
    )
    gc_table = _per_cell_table(
        results,
        "inprocess",
        "",
        lambda c: f"{c['gc_objects']:.1f} (bare {c['baseline_gc_objects']:.1f})",
    )
    return (
        "## In-process: time per request\n\n"
        "The ASGI app is called directly (no server, no client). Median µs per request, and in "
        "brackets the median ratio to the bare app's time, measured in alternating rounds in the "
        "same process. **Lower is better; 1.00x is the bare app.**\n\n"
        f"{time_table}\n\n"
        "## Objects left for the cycle collector, per request\n\n"
        "With the collector disabled, a batch of requests is run and `gc.collect()` then counts "
        "the unreachable objects it frees: garbage that reference counting alone could not free "
        "(reference cycles, typically closures or exceptions). 0 is ideal.\n\n"
        f"{gc_table}\n"
    )


def _http(results: dict[str, Any]) -> str:
    parts = [
        "## HTTP: uvicorn on loopback, wrk with one thread\n\n"
        f"uvicorn `{' '.join(results['uvicorn_flags'])}`, one worker, no access log; "
        f"CPU pinning: {results.get('cpu_pinning', 'not pinned')}; "
        f"{results.get('priority', 'normal priority')}. Each cell runs the bare app "
        "and the contender back to back; in brackets the median ratio within those pairs. "
        "For req/s **higher is better**, for p99 **lower is better**."
    ]
    for connections in (1, 32):
        suffix = f"@{connections}"
        rps = _per_cell_table(
            results, "http", suffix, lambda c: f"{c['rps']:,.0f} ({_ratio(c['rps_ratio'])})"
        )
        p99 = _per_cell_table(
            results, "http", suffix, lambda c: f"{c['p99_ms']:.2f} ms ({_ratio(c['p99_ratio'])})"
        )
        title = f"### {connections} connection{'s' if connections > 1 else ''}"
        parts.append(f"{title}: requests per second\n\n{rps}")
        parts.append(f"{title}: p99 latency\n\n{p99}")
    return "\n\n".join(parts) + "\n"


def _redis(results: dict[str, Any]) -> str:
    rows = []
    for name, measured in results["redis_commands"].items():
        for cell in CELLS:
            counted = measured["cells"].get(cell.name)
            if counted is None:
                continue
            usec = counted.get("usec_per_call", {})
            by_command = (
                ", ".join(
                    f"{cmd} {n:g}" + (f" ({usec[cmd]:.1f} µs)" if cmd in usec else "")
                    for cmd, n in counted["per_command"].items()
                )
                or "-"
            )
            rows.append(
                [
                    _label(results, name),
                    cell.label,
                    f"{counted['round_trips']:g}",
                    f"{counted['top_level']:g}",
                    f"{counted['in_scripts']:g}",
                    f"{counted['total']:g}",
                    by_command,
                ]
            )
    table = _table(
        [
            "contender",
            "endpoint",
            "round trips",
            "top-level commands",
            "inside Lua",
            "total",
            "by command (INFO commandstats; server µs per call)",
        ],
        rows,
    )
    return (
        "## Redis commands per request\n\n"
        "`CONFIG RESETSTAT`, a fixed number of in-process requests, then `INFO commandstats`. "
        "*Round trips* are socket writes by the app's redis-py client (a pipeline counts once); "
        "*top-level* and *inside Lua* split the commands by sender, from `MONITOR`; *total* is "
        "everything Redis counted, script-run commands included. In brackets, the server's own "
        "time per call, from a second batch without `MONITOR`; a script's includes the commands "
        "it ran.\n\n"
        f"{table}\n"
    )


def _environment(results: dict[str, Any]) -> str:
    env = results["environment"]
    lines = [
        f"- date: {env['date']}; mode: `{results['mode']}`; "
        f"run took {results.get('duration_seconds', '?')} s",
        f"- machine: {env['machine']}",
        f"- Python {env['python']}; {env['redis_server']}; {env['wrk']}",
        f"- repository commit: {env['git_commit']}",
    ]
    for venv, versions in env["venvs"].items():
        listed = ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))
        lines.append(f"- venv `{venv}`: {listed}")
    load = results.get("foreign_load")
    if load:
        lines.append(
            f"- other work on the machine during the run: {load['other_processes']:.0%} of its CPU "
            f"by other processes, {load['hypervisor_steal']:.0%} taken by the hypervisor"
        )
    settings = ", ".join(f"{k}={v}" for k, v in results["settings"].items())
    lines.append(f"- settings: {settings}")
    return "## Machine and versions\n\n" + "\n".join(lines) + "\n"


def _problems(results: dict[str, Any]) -> str:
    lines = [f"- **{name}** skipped: `{reason}`" for name, reason in results["skipped"].items()]
    lines += [f"- **{what}** failed: `{why}`" for what, why in results.get("failed", {}).items()]
    for name, measured in results.get("inprocess", {}).items():
        if measured.get("functional_error"):
            lines.append(f"- **{name}** sessions do not work: {measured['functional_error']}")
    return "## Not measured or broken\n\n" + "\n".join(lines) + "\n" if lines else ""


# Above this share of the machine used by other work, the run is flagged as disturbed.
BUSY_MACHINE = 0.05


def _warning(results: dict[str, Any]) -> str:
    load = results.get("foreign_load") or {}
    busy = load.get("other_processes", 0.0) + load.get("hypervisor_steal", 0.0)
    if busy <= BUSY_MACHINE:
        return ""
    return (
        f"> **Disturbed run:** other work used {busy:.0%} of the machine's CPU while this ran. "
        "Interleaving cancels slow drift, not a neighbour taking the CPU: every figure is suspect, "
        "the HTTP ones (which need both cores) most. Check the bare-vs-bare noise rows, and "
        "re-run on a quiet machine.\n"
    )


def render_markdown(results: dict[str, Any]) -> str:
    sections = [
        "# Benchmarks\n\n"
        f"Generated by `benchmarks/run.sh` ({results['mode']} mode) on "
        f"{results['environment']['date']}; do not edit by hand. "
        "See `benchmarks/README.md` for what each number means.\n\n"
        "Absolute numbers drift by 20% or more on shared machines, so every figure also comes as a "
        "ratio to a bare app (no sessions) measured interleaved with it in the same run. The typed "
        "FastAPI contenders are compared with a bare FastAPI app; everything else with a bare "
        "Starlette app.\n\n![ratios to the bare app](benchmarks.png)\n",
        _warning(results),
        "## Targets\n\n" + _targets(results) + "\n",
    ]
    if results.get("inprocess"):
        sections.append(_inprocess(results))
    if results.get("http"):
        sections.append(_http(results))
    if results.get("redis_commands"):
        sections.append(_redis(results))
    findings = REPO_DIR / "benchmarks" / "findings.md"
    if findings.exists():  # hand-written: what was tried, and what paid
        sections.append(findings.read_text())
    sections += [_problems(results), _environment(results)]
    return "\n".join(s for s in sections if s)


def write(results: dict[str, Any], docs_dir: Path) -> tuple[Path, Path]:
    """Write ``benchmarks.md`` and ``benchmarks.png`` into ``docs_dir``, and the marked figures
    of its pages; when that is the repository's ``docs/``, the README's performance section too."""
    # matplotlib only where the chart is drawn: the tests import this module to compare the
    # pages with the saved results, in an environment without it.
    from benchmarks import chart

    docs_dir.mkdir(parents=True, exist_ok=True)
    markdown = docs_dir / "benchmarks.md"
    png = docs_dir / "benchmarks.png"
    markdown.write_text(render_markdown(results))
    chart.draw(results, png)
    summary.write_pages(results, docs_dir)
    if docs_dir.resolve() == (REPO_DIR / "docs").resolve():
        write_readme(results, REPO_DIR / "README.md")
    return markdown, png


def main() -> None:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO_DIR / "benchmarks/results/latest.json"
    markdown, png = write(json.loads(source.read_text()), REPO_DIR / "docs")
    print(f"wrote {markdown}, {png}, the pages' figures and the README's performance section")


if __name__ == "__main__":
    main()
