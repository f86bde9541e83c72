#!/usr/bin/python3
"""Draws the "plots" of an experiment's results.json into results.png.

Each plot is one panel: {"title", "xlabel", "ylabel", "logy"?, "series": [{"label", "x", "y"}]}.
Run with Debian's python3 (matplotlib from python3-matplotlib):
    /usr/bin/python3 experiments/plot.py build/experiment-results/lorenz63_closure
"""
import json
import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(directory: str) -> None:
    folder = Path(directory)
    results = json.loads((folder / "results.json").read_text())
    plots = results.get("plots", [])
    if not plots:
        sys.exit(f"{folder}/results.json has no plots")
    columns = min(3, len(plots))
    rows = math.ceil(len(plots) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5.5 * columns, 4.2 * rows), squeeze=False)
    # One colour per run label across every panel, so a run reads the same everywhere.
    labels = list(dict.fromkeys(series["label"] for plot in plots for series in plot["series"]))
    palette = plt.get_cmap("tab10")
    colour = {label: palette(i % 10) for i, label in enumerate(labels)}
    for ax, plot in zip(axes.flat, plots):
        for series in plot["series"]:
            ys = [math.nan if y is None else y for y in series["y"]]
            c = colour[series["label"]]
            ax.plot(series["x"], ys, label=series["label"], linewidth=1.4, color=c)
            if "lower" in series and "upper" in series:
                ax.fill_between(series["x"], series["lower"], series["upper"], alpha=0.2, color=c)
        if plot.get("logy"):
            ax.set_yscale("log")
        ax.set_title(plot["title"])
        ax.set_xlabel(plot["xlabel"])
        ax.set_ylabel(plot["ylabel"])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(plots):]:
        ax.axis("off")
    fig.suptitle(results.get("experiment", folder.name))
    fig.tight_layout()
    fig.savefig(folder / "results.png", dpi=110)
    print(f"wrote {folder / 'results.png'}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: plot.py RESULTS_DIR")
    main(sys.argv[1])
