"""Compare classifier recipes on their folds: mean +- spread of the selection figures from each run's folds.json.

    python train.py --dataset runs/crops --folds 3 --no-final ... --output-dir runs/cmp/A    # one run a recipe
    python benchmarks/classifier_folds.py runs/cmp/A runs/cmp/B ...

Each cell is mean +- standard deviation over the folds (min-max in brackets with --range); the last
columns are the out-of-fold calibration (temperature, unknown cut-off) of that recipe.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

KEYS = ("accuracy", "macro_f1", "incorrect_recall", "incorrect_precision", "accuracy_under_16px")


def rows(folders: list[Path]) -> list[dict]:
    """One row per run folder: its folds.json summary and calibration."""
    out = []
    for folder in folders:
        path = folder / "folds.json"
        if not path.is_file():
            raise FileNotFoundError(f"no folds.json in {str(folder)!r}: train it with --folds K")
        data = json.loads(path.read_text())
        out.append({"run": folder.name, "folds": len(data["folds"]), **data["summary"], **data["calibration"]})
    return out


def table(runs: list[dict], show_range: bool = False) -> str:
    """A markdown table of `rows`."""
    head = "| run | folds | " + " | ".join(KEYS) + " | temperature | unknown below |"
    lines = [head, "|" + "---|" * (len(KEYS) + 4)]
    for r in runs:
        cells = []
        for key in KEYS:
            s = r.get(key)
            cell = "-" if s is None else f"{s['mean']:.3f} +- {s['std']:.3f}"
            if s is not None and show_range:
                cell += f" [{s['min']:.3f}-{s['max']:.3f}]"
            cells.append(cell)
        lines.append(
            f"| {r['run']} | {r['folds']} | " + " | ".join(cells) + f" | {r['temperature']} | {r['label_threshold']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folders", nargs="+", type=Path, help="run folders written by train.py --folds K")
    p.add_argument("--range", action="store_true", help="also show min-max over the folds")
    a = p.parse_args(argv)
    try:
        print(table(rows(a.folders), a.range))
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
