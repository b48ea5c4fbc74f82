"""Restyled boxes: another dataset's faces boxed the way the detector (and facemask-voc) boxes them.

facemask-extra boxes whole heads: at the median 1.08x wider and 1.20x taller than the detector's box,
centred 0.07 of a height higher, and 0.84-1.40x wide from face to face (`benchmarks/box_style.py`).
facemask-voc, the source of the held-out data, boxes faces. Trained on both, the detector is pulled
between two boxes, and a longer schedule fits the looser one at facemask-voc's expense (model_card.md).
Before training, each such annotation takes the box a detector of facemask-voc's style draws on the same
face; the few it does not find are moved by the dataset's median difference. Labels never change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from maskdet.boxes import box_iou
from maskdet.data.voc import VocImage


def pair_boxes(annotated: np.ndarray, found: np.ndarray, iou: float = 0.3) -> np.ndarray:
    """For each annotated box, the row of `found` that overlaps it most at `iou` or more, one to one (the
    best overlaps first); -1 where none is left."""
    pairs = np.full(len(annotated), -1, np.int64)
    if not len(annotated) or not len(found):
        return pairs
    overlap = box_iou(annotated, found)
    for flat in np.argsort(-overlap, axis=None, kind="stable"):
        a, f = divmod(int(flat), overlap.shape[1])
        if overlap[a, f] < iou:
            break
        if pairs[a] < 0 and f not in pairs:
            pairs[a] = f
    return pairs


def box_style(annotated: np.ndarray, found: np.ndarray) -> np.ndarray:
    """(N, 3) for paired rows: width ratio, height ratio (annotation / detection), and how far the
    annotation's centre lies below the detection's, in detection heights."""
    a, f = np.asarray(annotated, np.float64).reshape(-1, 4), np.asarray(found, np.float64).reshape(-1, 4)
    fw, fh = f[:, 2] - f[:, 0], f[:, 3] - f[:, 1]
    return np.stack(
        [(a[:, 2] - a[:, 0]) / fw, (a[:, 3] - a[:, 1]) / fh, ((a[:, 1] + a[:, 3]) - (f[:, 1] + f[:, 3])) / 2 / fh],
        axis=1,
    )


def undo_style(boxes: np.ndarray, style: np.ndarray, width: int, height: int) -> np.ndarray:
    """Annotations moved to the detector's box by a (width ratio, height ratio, centre offset) `style`,
    clipped to the image: the inverse of what `box_style` measures."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    rw, rh, dy = style
    w, h = (b[:, 2] - b[:, 0]) / rw, (b[:, 3] - b[:, 1]) / rh
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2 - dy * h
    out = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    return np.clip(out, 0, [width, height, width, height]).astype(np.float32)


def measure(
    items: Sequence[VocImage], detect: Callable[[Path], np.ndarray], iou: float = 0.3
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """Each item's detections and `pair_boxes` pairs (by stem), and the (N, 3) `box_style` of every pair.

    Args:
        detect: image path -> (M, 4) xyxy boxes of a detector that draws the wanted style.
    """
    found = {it.stem: np.asarray(detect(it.path), np.float32).reshape(-1, 4) for it in items}
    pairs = {it.stem: pair_boxes(it.boxes, found[it.stem], iou) for it in items}
    styles = [box_style(it.boxes[p >= 0], found[it.stem][p[p >= 0]]) for it in items for p in [pairs[it.stem]]]
    return found, pairs, np.concatenate(styles) if styles else np.zeros((0, 3))


def restyle(
    items: Sequence[VocImage], detect: Callable[[Path], np.ndarray], iou: float = 0.3
) -> tuple[list[VocImage], dict]:
    """`items` with every box replaced by the detection paired with it (`pair_boxes`), and the unpaired
    ones moved by the median style of the paired; returns them and a summary for the run's record."""
    found, pairs, paired = measure(items, detect, iou)
    median = np.median(paired, axis=0) if len(paired) else np.array([1.0, 1.0, 0.0])
    out = []
    for it in items:
        p = pairs[it.stem]
        boxes = undo_style(it.boxes, median, it.width, it.height)
        boxes[p >= 0] = found[it.stem][p[p >= 0]]
        out.append(replace(it, boxes=boxes))
    summary = {
        "images": len(items),
        "faces": int(sum(len(it.boxes) for it in items)),
        "paired": len(paired),
        "iou": iou,
        "median_style": {"width": float(median[0]), "height": float(median[1]), "centre_lower": float(median[2])},
    }
    return out, summary
