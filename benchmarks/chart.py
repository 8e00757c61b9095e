"""The PNG: grouped bars of ratio-to-bare, one panel per driver, with the targets marked."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from benchmarks.contenders import CELLS, Cell
from benchmarks.targets import TARGETS, evaluate


@dataclass(frozen=True)
class Panel:
    driver: str
    metric: str
    suffix: str  # appended to a cell name to find its result ("@32" for HTTP)
    title: str
    log: bool  # ratios of times span 1x to 40x: a log scale keeps the small ones readable


PANELS = (
    Panel("inprocess", "ratio", "", "In-process: time per request ÷ bare (lower is better)", True),
    Panel(
        "http", "rps_ratio", "@32", "HTTP, 32 connections: req/s ÷ bare (higher is better)", False
    ),
    Panel("http", "p99_ratio", "@32", "HTTP, 32 connections: p99 ÷ bare (lower is better)", True),
)
LOG_TICKS = [0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 50]


def _legend_label(results: dict[str, Any], name: str) -> str:
    info = results["contenders"][name]
    baseline = results["contenders"][info["baseline"]]["label"]
    return (
        f"{info['label']} (vs {baseline})"
        if info["baseline"] != "bare_starlette"
        else info["label"]
    )


def _cells(panel: Panel) -> list[Cell]:
    if panel.driver == "inprocess":
        return [cell for cell in CELLS if cell.inprocess]
    return [cell for cell in CELLS if int(panel.suffix.lstrip("@")) in cell.connections]


def _mark_targets(ax: Axes, panel: Panel) -> None:
    for index, cell in enumerate(_cells(panel)):
        limits = {
            t.limit
            for t in TARGETS
            if t.driver == panel.driver
            and t.metric == panel.metric
            and t.cell == cell.name + panel.suffix
        }
        for limit in limits:
            ax.hlines(
                limit, index - 0.45, index + 0.45, colors="red", linestyles="dashed", linewidth=1.2
            )
            ax.annotate(
                f"target {limit:g}",
                (index + 0.45, limit),
                fontsize=7,
                color="red",
                ha="right",
                va="bottom",
            )


def _draw_panel(ax: Axes, results: dict[str, Any], panel: Panel) -> None:
    names = [name for name in results[panel.driver] if name != "bare_starlette"]
    width = 0.9 / max(1, len(names))
    colors = colormaps["tab20"]
    shown = _cells(panel)
    for index, name in enumerate(names):
        cells = results[panel.driver][name]["cells"]
        values = [cells.get(cell.name + panel.suffix, {}).get(panel.metric, 1.0) for cell in shown]
        positions = [i + (index - (len(names) - 1) / 2) * width for i in range(len(shown))]
        label, color = _legend_label(results, name), colors(index % 20)
        if panel.log:  # bars grow from 1 (the bare app): up is slower, down is faster
            heights = [v - 1 for v in values]
            ax.bar(positions, heights, width, bottom=1, label=label, color=color)
        else:
            ax.bar(positions, values, width, label=label, color=color)
    ax.axhline(1.0, color="black", linewidth=0.8)
    _mark_targets(ax, panel)
    if panel.log:
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(FixedLocator(LOG_TICKS))
        ax.yaxis.set_minor_locator(NullLocator())
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.set_xticks(range(len(shown)), [cell.label for cell in shown])
    ax.set_title(f"{panel.title}; 1 = bare app in the same run", fontsize=10)
    ax.grid(axis="y", alpha=0.3)


def _draw_targets(ax: Axes, results: dict[str, Any]) -> None:
    """One row per target and contender: the measured ratio, the limit in red, met in green."""
    verdicts = [v for v in evaluate(results) if v.value is not None and v.target.unit == "x"]
    rows = range(len(verdicts))
    colors = ["tab:green" if v.status == "met" else "tab:red" for v in verdicts]
    ax.barh(rows, [v.value or 0.0 for v in verdicts], color=colors, height=0.6)
    for row, verdict in zip(rows, verdicts, strict=True):
        ax.vlines(verdict.target.limit, row - 0.4, row + 0.4, colors="black", linewidth=1.5)
    labels = [f"{v.target.label} [{results['contenders'][v.contender]['label']}]" for v in verdicts]
    ax.set_yticks(list(rows), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(LOG_TICKS))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.set_title(
        "Targets: measured ratio (green met, red missed); the black mark is the target",
        fontsize=10,
    )
    ax.grid(axis="x", alpha=0.3)


def draw(results: dict[str, Any], path: Path) -> None:
    # The object API, not pyplot: no global state, no GUI backend to choose.
    panels = [p for p in PANELS if results.get(p.driver)]
    verdicts = sum(v.value is not None for v in evaluate(results))
    heights = [max(2.0, 0.22 * verdicts), *(3.6 for _ in panels)]
    height = sum(heights) + 1.6
    figure = Figure(figsize=(12, height))
    axes = figure.subplots(
        len(panels) + 1, 1, squeeze=False, gridspec_kw={"height_ratios": heights}
    )
    _draw_targets(axes[0, 0], results)
    for ax, panel in zip(axes[1:, 0], panels, strict=True):
        _draw_panel(ax, results, panel)
    handles, labels = axes[1, 0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    figure.suptitle(
        f"starlette-session benchmarks ({results['mode']} mode, {results['environment']['date']})",
        fontsize=11,
    )
    # tight_layout() places the panels, not the suptitle: keep half an inch free at the top for
    # it, or the first panel's title is drawn over it.
    figure.tight_layout(rect=(0, 0.07, 1, 1 - 0.5 / height))
    figure.savefig(path, dpi=100)
