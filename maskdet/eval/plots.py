"""Evaluation figures (matplotlib, Agg backend) and tables: confusion matrices and PR curves.

One place for them so that training, classifier evaluation and pipeline evaluation draw alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def pyplot():
    """matplotlib.pyplot on the Agg backend: figures go to files, never to a window."""
    from maskdet._errors import require

    matplotlib = require("matplotlib", "plots")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_confusion(path: str | Path, panels: dict[str, dict]) -> Path:
    """One heat map per panel, counts written in the cells.

    Args:
        panels: title -> {"rows": names (true), "columns": names (predicted), "matrix": counts}.
    """
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 5), squeeze=False)
    for ax, (title, panel) in zip(axes[0], panels.items(), strict=True):
        cm = np.asarray(panel["matrix"])
        ax.imshow(cm, cmap="Blues")
        ax.set_xticks(range(cm.shape[1]), panel["columns"], rotation=30, ha="right")
        ax.set_yticks(range(cm.shape[0]), panel["rows"])
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        if title:
            ax.set_title(title)
        for i, j in np.ndindex(cm.shape):
            color = "white" if cm[i, j] > cm.max() / 2 else "black"
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", color=color)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def save_pr_curves(path: str | Path, recall: Sequence[float], curves: dict[str, dict[str, dict]]) -> Path:
    """One subplot per class, one line per run: precision against recall, AP in the legend.

    Args:
        recall: the recall points the precision values are sampled at.
        curves: class name -> run name -> {"precision": values or None (no ground truth), "ap": float}.
    """
    plt = pyplot()
    fig, axes = plt.subplots(1, len(curves), figsize=(4.5 * len(curves), 4.2), squeeze=False)
    for ax, (name, runs) in zip(axes[0], curves.items(), strict=True):
        for run, curve in runs.items():
            if curve["precision"] is not None:
                ax.plot(recall, curve["precision"], label=f"{run}: AP50 {curve['ap']:.3f}")
        ax.set_title(name)
        _unit_axes(ax, "recall", "precision", "lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def _unit_axes(ax, xlabel: str, ylabel: str, legend: str) -> None:
    """Both axes 0-1 (a little headroom at the top), labelled, a light grid and a small legend."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc=legend, fontsize=8)


def save_reliability(path: str | Path, curves: dict[str, dict], threshold: float | None = None) -> Path:
    """The reliability diagram: accuracy against confidence per bin, one line per curve (ECE in the legend).

    Args:
        curves: name -> `calibration.reliability(...)` output.
        threshold: the `unknown` cut-off, drawn as a vertical line.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], "k:", label="perfectly calibrated")
    for name, rel in curves.items():
        pts = [(r["confidence"], r["accuracy"]) for r in rel["bins"] if r["count"]]
        ax.plot(*zip(*pts, strict=True), "o-", label=f"{name} (ECE {rel['ece']:.3f})")
    if threshold:
        ax.axvline(threshold, color="grey", ls="--", label=f"unknown below {threshold:.2f}")
    _unit_axes(ax, "confidence (top-class probability)", "accuracy", "upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def markdown_matrix(rows: Sequence[str], columns: Sequence[str], matrix: Sequence[Sequence[int]]) -> list[str]:
    """A confusion matrix as markdown table lines (rows true, columns predicted)."""
    lines = ["| | " + " | ".join(columns) + " |", "|" + "---|" * (len(columns) + 1)]
    return lines + [f"| {r} | " + " | ".join(map(str, v)) + " |" for r, v in zip(rows, matrix, strict=True)]
