"""Compare trained mask classifiers: validation figures from each run's metrics.json, and CPU latency
for a batch of 8 face crops with torch and with onnxruntime, measured here in the same run.

    python benchmarks/classifiers.py runs/cls/mnv2-v2 runs/cls/lite0 runs/cls/vit-tiny ...
    python benchmarks/classifiers.py --quick DIR ...     # few repeats (smoke)

Latency is the median (and p90) over --repeats calls after a warm-up, on the same 8 crops for every
model; the ratio column is each model's ONNX median over the first model's ONNX median.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling latency.py, also when imported
from latency import median_p90, timings  # noqa: E402


def compare(folders: list[Path], repeats: int, batch: int = 8) -> list[dict]:
    """One row per classifier folder: its metrics.json figures and its batch latency (torch, onnx)."""
    from maskdet.classifier import MaskClassifier

    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 255, (int(s), int(s) * 4 // 5, 3), dtype=np.uint8) for s in rng.integers(20, 160, batch)]
    rows = []
    for folder in folders:
        clf = MaskClassifier.from_pretrained(folder, backend="torch")
        metrics = json.loads((folder / "metrics.json").read_text()) if (folder / "metrics.json").is_file() else {}
        per_class = metrics.get("per_class", {})
        with tempfile.TemporaryDirectory() as tmp:
            # the shipping path: save_pretrained(onnx=True) writes model.onnx, from_pretrained runs it
            onnx = MaskClassifier.from_pretrained(clf.save_pretrained(tmp, onnx=True), backend="onnx")
            torch_ms = median_p90(timings(lambda c=clf: c.classify(crops), repeats, warmup=3)[0])
            onnx_ms = median_p90(timings(lambda c=onnx: c.classify(crops), repeats, warmup=3)[0])
        n_params = sum(p.numel() for p in clf.model.parameters())
        rows.append(
            {
                "model": folder.name,
                "architecture": clf.architecture,
                "input": clf.input_size[0],
                "params_m": n_params / 1e6,
                "accuracy": metrics.get("accuracy"),
                "macro_f1": metrics.get("macro_f1"),
                "incorrect_recall": per_class.get("mask_worn_incorrectly", {}).get("recall"),
                "train_minutes": metrics.get("train_seconds", 0) / 60 or None,
                "torch_ms": torch_ms,
                "onnx_ms": onnx_ms,
            }
        )
    return rows


def table(rows: list[dict]) -> str:
    """A markdown table of `compare` rows."""

    def f(v, fmt):
        return "-" if v is None else format(v, fmt)

    base = rows[0]["onnx_ms"][0]
    lines = [
        "| model | architecture | input | params (M) | accuracy | macro-F1 | incorrect recall | train min | "
        "batch-8 torch ms (p90) | batch-8 onnx ms (p90) | onnx ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['architecture']} | {r['input']} | {r['params_m']:.1f} | {f(r['accuracy'], '.3f')} | "
            f"{f(r['macro_f1'], '.3f')} | {f(r['incorrect_recall'], '.3f')} | {f(r['train_minutes'], '.1f')} | "
            f"{r['torch_ms'][0]:.1f} ({r['torch_ms'][1]:.1f}) | {r['onnx_ms'][0]:.1f} ({r['onnx_ms'][1]:.1f}) | "
            f"{r['onnx_ms'][0] / base:.2f}x |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folders", nargs="+", type=Path, help="classifier folders (train.py --output-dir)")
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--quick", action="store_true", help="3 repeats (smoke)")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from maskdet._env import configure_offline, num_threads

    configure_offline()
    import torch

    torch.set_num_threads(num_threads())
    rows = compare(args.folders, 3 if args.quick else args.repeats)
    print(f"{num_threads()} threads, batch of 8 crops, median (p90) over {3 if args.quick else args.repeats} calls")
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
