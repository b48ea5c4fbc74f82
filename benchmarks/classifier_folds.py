"""Compare classifier recipes on their folds: mean +- spread of the selection figures from each run's folds.json.

    python train.py --dataset runs/crops --folds 3 --no-final ... --output-dir runs/cmp/A    # one run a recipe
    python benchmarks/classifier_folds.py runs/cmp/A runs/cmp/B ...
    python benchmarks/classifier_folds.py runs/cmp/A runs/cmp/B --paired   # B - A, crop by crop
    python benchmarks/classifier_folds.py runs/cmp/A runs/cmp/A+runs/cmp/B --paired  # A and B averaged

Each cell is mean +- standard deviation over the folds (min-max in brackets with --range); the last
columns are the out-of-fold calibration (temperature, unknown cut-off) of that recipe.

With 77 real incorrectly-worn crops on the training side, fold means move by a crop or two; --paired
scores both runs' out-of-fold labels (oof.npz) on the same crops and gives B - A with a 90% interval
from a bootstrap over scene images (maskdet.eval.compare.paired_crop_bootstrap): an interval that
holds 0 is a tie. A run written `A+B` is the two runs' ensemble (their log-probabilities averaged) on the
crops all of them predicted. `--only voc_` restricts it to the facemask-voc crops: facemask-extra labels a badly worn
mask with_mask or without_mask, so a right `mask_worn_incorrectly` call there counts as a false one.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

KEYS = (
    "accuracy",
    "macro_f1",
    "incorrect_recall",
    "incorrect_precision",
    "incorrect_recall_labelled",
    "incorrect_precision_labelled",
    "accuracy_under_16px",
)


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


def run_name(spec: Path) -> str:
    """`runs/cls/A+runs/cls/B` -> `A+B`."""
    return "+".join(Path(part).name for part in str(spec).split("+"))


def aligned(runs: list[dict], names: list[str], which: str) -> list[list[int]]:
    """Per run, the rows of `names` (crop file names all the runs hold), after checking that the runs
    share their label names and label each crop alike."""
    first = runs[0]
    rows = []
    for r in runs:
        if list(r["label_names"]) != list(first["label_names"]):
            raise ValueError(f"{which}' labels differ: {list(first['label_names'])} vs {list(r['label_names'])}")
        row_of = {str(n): i for i, n in enumerate(r["names"])}
        rows.append([row_of[n] for n in names])
        if (r["labels"][rows[-1]] != first["labels"][rows[0]]).any():
            raise ValueError(f"the same crop has different labels in {which}")
    return rows


def load_oof(spec: Path) -> dict:
    """A run's oof.npz as a dict; `A+B[+...]`: the runs' average log-probabilities (an ensemble) on the
    out-of-fold crops they all predicted, in the first run's order."""
    import numpy as np

    from maskdet.train.classifier import OOF

    runs = []
    for part in str(spec).split("+"):
        path = Path(part) / OOF
        if not path.is_file():
            raise FileNotFoundError(f"no {OOF} in {part!r}: train it with --folds K (this code or later)")
        with np.load(path) as z:
            runs.append({k: z[k] for k in z.files})
    if len(runs) == 1:
        return runs[0]
    first = runs[0]
    held = [{str(n) for n in r["names"]} for r in runs[1:]]
    names = [str(n) for n in first["names"] if all(str(n) in h for h in held)]
    rows = aligned(runs, names, "the ensemble's runs")
    logp = []
    for r, r_rows in zip(runs, rows, strict=True):
        z = r["logits"][r_rows].astype(np.float64)
        z = z - z.max(1, keepdims=True)
        logp.append(z - np.log(np.exp(z).sum(1, keepdims=True)))  # log-softmax
    return {
        "names": np.array(names),
        "labels": first["labels"][rows[0]],
        "logits": np.mean(logp, axis=0).astype(np.float32),
        "fold": first["fold"][rows[0]],
        "label_names": first["label_names"],
    }


def paired(folder_a: Path, folder_b: Path, resamples: int = 1000, level: float = 0.9, only: str | None = None) -> str:
    """A markdown table of B - A on the crops both runs predicted out of fold (with `only`: those whose
    file name starts with it, e.g. `voc_`, the one source whose labels can say mask_worn_incorrectly).
    A folder written `A+B` is that ensemble (`load_oof`)."""
    from maskdet.calibration import softmax
    from maskdet.data.crops import scene_of
    from maskdet.eval.compare import paired_crop_bootstrap
    from maskdet.results import LABELS

    runs = [load_oof(folder) for folder in (folder_a, folder_b)]
    a, b = runs
    kept = [{str(n) for n in r["names"] if str(n).startswith(only or "")} for r in runs]
    shared = sorted(kept[0] & kept[1])
    if not shared and only and set(a["names"]) & set(b["names"]):
        raise ValueError(f"no shared out-of-fold crop name starts with {only!r}")
    if not shared:
        raise ValueError("the two runs share no out-of-fold crop: were they trained on the same crop folder?")
    ia, ib = aligned(runs, shared, "the two runs")
    names = [str(n) for n in a["label_names"]]
    rare = names.index(LABELS[2]) if LABELS[2] in names else len(names) - 1
    result = paired_crop_bootstrap(
        a["labels"][ia],
        a["logits"][ia].argmax(1),
        b["logits"][ib].argmax(1),
        [scene_of(n) or n for n in shared],
        len(names),
        rare,
        resamples,
        level,
        rare_scores=tuple(softmax(r["logits"][i])[:, rare] for r, i in ((a, ia), (b, ib))),
    )
    lines = [
        f"A = {run_name(folder_a)}, B = {run_name(folder_b)}: {len(shared)} out-of-fold crops"
        + (f" named {only}*" if only else ""),
        f"({len(kept[0]) - len(shared)} only in A, {len(kept[1]) - len(shared)} only in B)",
        "",
        "| figure | A | B | B - A | interval | verdict |",
        "|---|---|---|---|---|---|",
    ]
    label = {
        "rare_recall": f"{names[rare]} recall",
        "rare_precision": f"{names[rare]} precision",
        "rare_ap": f"{names[rare]} AP (ranked by its probability)",
    }
    if "rare_recall" not in result:  # e.g. --only extra_: its labels never say the rare class
        lines.insert(2, f"(no {names[rare]} crop among them: its rows are left out)")
    for key, r in result.items():
        lines.append(
            f"| {label.get(key, key)} | {r['a']:.3f} | {r['b']:.3f} | {r['diff']:+.3f} | "
            f"[{r['low']:+.3f}, {r['high']:+.3f}] ({r['level']:.0%}) | {r['verdict']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folders", nargs="+", type=Path, help="run folders written by train.py --folds K")
    p.add_argument("--range", action="store_true", help="also show min-max over the folds")
    p.add_argument("--paired", action="store_true", help="two runs: B - A on the same out-of-fold crops")
    p.add_argument("--resamples", type=int, default=1000)
    p.add_argument(
        "--only",
        metavar="PREFIX",
        help="--paired on the crops whose name starts with PREFIX (voc_: the source that labels badly worn masks)",
    )
    a = p.parse_args(argv)
    if a.paired and len(a.folders) != 2:
        p.error("--paired compares exactly two run folders")
    try:
        print(paired(*a.folders, resamples=a.resamples, only=a.only) if a.paired else table(rows(a.folders), a.range))
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
