"""The PNG: grouped bars of ratio-to-bare, one panel per driver."""

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from benchmarks.contenders import CELLS

# (driver, metric, cell suffix, title, how to read it)
PANELS = (
    ("inprocess", "ratio", "", "In-process: time per request ÷ bare", "lower is better"),
    ("http", "rps_ratio", "@32", "HTTP, 32 connections: req/s ÷ bare", "higher is better"),
    ("http", "p99_ratio", "@32", "HTTP, 32 connections: p99 ÷ bare", "lower is better"),
)


def _bars(results: dict[str, Any], driver: str) -> list[str]:
    return [name for name in results.get(driver, {}) if name != "bare_starlette"]


def draw(results: dict[str, Any], path: Path) -> None:
    panels = [p for p in PANELS if results.get(p[0])]
    figure, axes = plt.subplots(
        len(panels), 1, figsize=(12, 4.2 * max(1, len(panels))), squeeze=False
    )
    labels = {name: info["label"] for name, info in results["contenders"].items()}
    colors = plt.colormaps["tab10"]
    for ax, (driver, metric, suffix, title, hint) in zip(axes[:, 0], panels, strict=True):
        names = _bars(results, driver)
        width = 0.8 / max(1, len(names))
        for index, name in enumerate(names):
            cells = results[driver][name]["cells"]
            values = [cells.get(cell.name + suffix, {}).get(metric, 0.0) for cell in CELLS]
            positions = [i + (index - (len(names) - 1) / 2) * width for i in range(len(CELLS))]
            ax.bar(positions, values, width, label=labels.get(name, name), color=colors(index % 10))
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xticks(range(len(CELLS)), [cell.label for cell in CELLS])
        ax.set_title(f"{title} ({hint}; 1.0 = bare app, same run)")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8, ncol=3)
    environment = results["environment"]
    figure.suptitle(
        f"starlette-session benchmarks, {results['mode']} mode, {environment['date']}", fontsize=11
    )
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
