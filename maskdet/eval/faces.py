"""Face-detector evaluation on a VOC split: our detector and YuNet on the same images, side by side."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import cv2
import numpy as np

from maskdet.data.voc import VocImage
from maskdet.eval.metrics import ImageBoxes, mean_average_precision, recall_precision
from maskdet.results import Faces

Detect = Callable[[np.ndarray, float], Faces]  # (frame, conf) -> faces


def evaluate_faces(detect: Detect, items: Sequence[VocImage], threshold: float, floor: float = 0.001) -> dict:
    """Face AP (all mask labels as one class) and recall / precision at the operating `threshold`.

    The detector runs once per image at `floor` confidence: AP needs the whole ranking; the operating
    point keeps the detections at or above `threshold`.
    """
    gts, preds, ops, times = [], [], [], []
    for it in items:
        frame = cv2.imread(str(it.path))
        t = time.perf_counter()
        faces = detect(frame, floor)
        times.append(time.perf_counter() - t)
        gts.append(ImageBoxes(it.boxes, np.zeros(len(it.boxes), np.int64)))
        preds.append(ImageBoxes(faces.boxes, np.zeros(len(faces), np.int64), faces.scores))
        keep = faces.scores >= threshold
        ops.append(ImageBoxes(faces.boxes[keep], np.zeros(int(keep.sum()), np.int64), faces.scores[keep]))
    ap = mean_average_precision(gts, preds, num_classes=1)
    op = recall_precision(gts, ops)
    return {
        "ap50": ap["map50"],
        "ap50_95": ap["map50_95"],
        "by_size": {k: {**v, "recall": op["recall"][k]} for k, v in ap["by_size"].items()},
        "threshold": threshold,
        "recall": op["recall"]["all"],
        "precision": op["precision"],
        "median_ms": float(np.median(times) * 1000) if times else float("nan"),
        "images": len(items),
    }


def format_table(reports: dict[str, dict]) -> str:
    """A markdown table: one row per detector, AP@0.5 overall and per face size, AP@0.5:0.95, recall."""
    sizes = ["all", "<16px", "16-48px", ">48px", ">=16px"]
    head = "| detector | " + " | ".join(f"AP50 {s}" for s in sizes) + " | AP50-95 | recall (all / >=16px) | precision |"
    rows = [head, "|" + "---|" * (len(sizes) + 4)]
    for name, r in reports.items():
        aps = " | ".join(f"{r['by_size'][s]['ap50']:.3f}" for s in sizes)
        rows.append(
            f"| {name} | {aps} | {r['ap50_95']:.3f} | {r['recall']:.3f} / "
            f"{r['by_size']['>=16px']['recall']:.3f} | {r['precision']:.3f} |"
        )
    counts = ", ".join(f"{s}: {r['by_size'][s]['num_gt']}" for s in sizes)
    rows.append(f"\nFaces per size: {counts}.")
    return "\n".join(rows)
