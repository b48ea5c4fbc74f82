"""Metrics: detection (pycocotools) and classification (accuracy, macro-F1, confusion; by face size and source).

Detection metrics with pycocotools (the reference COCO implementation that torchmetrics wraps).

We call COCOeval directly because it lets us set our own face-size ranges: COCO's small/medium/large
(32 / 96 px) say nothing about crowd faces, ours are < 16 px, 16-48 px and > 48 px, where size is
sqrt(box area). Ground truth outside a range is ignored, as are unmatched detections outside it.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from maskdet.boxes import box_sides, match

SIZE_RANGES = {"all": (0, 1e5), "<16px": (0, 16), "16-48px": (16, 48), ">48px": (48, 1e5), ">=16px": (16, 1e5)}
RECALL_POINTS = np.linspace(0.0, 1.0, 101)  # COCOeval's recall thresholds: where the PR curves are sampled
# IoU thresholds: COCO's 0.5:0.95 plus 0.3 in front. AP@0.3 asks "was the face found?" where a dataset's boxes
# are drawn looser than the detector's (facemask-extra's: whole heads, ~1.2x taller), so AP@0.5 measures box style.
IOU_THRESHOLDS = np.concatenate([[0.3], np.linspace(0.5, 0.95, 10)])


@dataclass
class ImageBoxes:
    """Boxes of one image: xyxy (N, 4) pixels, class ids (N,), scores (N,) (1 for ground truth)."""

    boxes: np.ndarray
    class_ids: np.ndarray
    scores: np.ndarray | None = None


def _coco(gts: Sequence[ImageBoxes], preds: Sequence[ImageBoxes], num_classes: int):
    from maskdet._errors import require

    COCO = require("pycocotools.coco", "detection AP (evaluate.py)").COCO

    images, annotations, results = [], [], []
    for i, (gt, pred) in enumerate(zip(gts, preds, strict=True)):
        images.append({"id": i})
        for box, c in zip(np.asarray(gt.boxes).reshape(-1, 4), gt.class_ids, strict=True):
            w, h = float(box[2] - box[0]), float(box[3] - box[1])
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i,
                    "category_id": int(c) + 1,
                    "bbox": [float(box[0]), float(box[1]), w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
        for box, c, s in zip(np.asarray(pred.boxes).reshape(-1, 4), pred.class_ids, pred.scores, strict=True):
            results.append(
                {
                    "image_id": i,
                    "category_id": int(c) + 1,
                    "score": float(s),
                    "bbox": [float(box[0]), float(box[1]), float(box[2] - box[0]), float(box[3] - box[1])],
                }
            )
    gt_api = COCO()
    gt_api.dataset = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": k + 1} for k in range(num_classes)],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        gt_api.createIndex()
        dt_api = gt_api.loadRes(results) if results else None
    return gt_api, dt_api


def mean_average_precision(
    gts: Sequence[ImageBoxes],
    preds: Sequence[ImageBoxes],
    num_classes: int = 1,
    size_ranges: dict[str, tuple[float, float]] = SIZE_RANGES,
    max_dets: int = 1000,
    curves: bool = False,
) -> dict:
    """AP@0.5 and AP@0.5:0.95, overall, per class and per face-size range; AP@0.3 overall and per class.

    Args:
        curves: also return each class's PR curve at IoU 0.5, read from COCOeval's own precision array
            (interpolated precision at the 101 `RECALL_POINTS`), so plots show what the AP averages.

    Returns:
        {"map30", "map50", "map50_95", "per_class": {class_id: {"ap30", "ap50", "ap50_95", "num_gt"}},
         "by_size": {range: {"ap50", "ap50_95", "num_gt"}}}, plus "pr50": {class_id: 101 floats or None}
        with `curves`; AP is NaN (and the curve None) where a class or range holds no ground truth.
    """
    from pycocotools.cocoeval import COCOeval

    gt_api, dt_api = _coco(gts, preds, num_classes)
    names = list(size_ranges)
    sizes = np.array([np.sqrt(a["area"]) for a in gt_api.dataset["annotations"]])
    classes = np.array([a["category_id"] - 1 for a in gt_api.dataset["annotations"]])
    out: dict = {"per_class": {}, "by_size": {}}
    if dt_api is None:  # no detections at all: every AP is 0 where there is ground truth
        nan_or_zero = 0.0 if len(sizes) else float("nan")
        out.update(map30=nan_or_zero, map50=nan_or_zero, map50_95=nan_or_zero)
        for name in names:
            n = int(((sizes >= size_ranges[name][0]) & (sizes < size_ranges[name][1])).sum())
            out["by_size"][name] = {
                "ap50": 0.0 if n else float("nan"),
                "ap50_95": 0.0 if n else float("nan"),
                "num_gt": n,
            }
        for c in range(num_classes):
            n = int((classes == c).sum())
            out["per_class"][c] = {
                "ap30": 0.0 if n else float("nan"),
                "ap50": 0.0 if n else float("nan"),
                "ap50_95": 0.0 if n else float("nan"),
                "num_gt": n,
            }
        if curves:
            out["pr50"] = {c: [0.0] * len(RECALL_POINTS) if (classes == c).any() else None for c in range(num_classes)}
        return out
    ev = COCOeval(gt_api, dt_api, iouType="bbox")
    ev.params.areaRng = [[lo**2, hi**2] for lo, hi in size_ranges.values()]
    ev.params.areaRngLbl = names
    ev.params.maxDets = [max_dets]
    ev.params.iouThrs = IOU_THRESHOLDS
    with contextlib.redirect_stdout(io.StringIO()):
        ev.evaluate()
        ev.accumulate()
    precision = ev.eval["precision"][1:]  # [iou(10): 0.5..0.95, recall(101), class, area, maxdet]
    at30 = ev.eval["precision"][0]

    def ap(p: np.ndarray) -> float:
        p = p[p > -1]
        return float(p.mean()) if p.size else float("nan")

    all_idx = names.index("all") if "all" in names else 0
    out["map30"] = ap(at30[:, :, all_idx, 0])
    out["map50"] = ap(precision[0, :, :, all_idx, 0])
    out["map50_95"] = ap(precision[:, :, :, all_idx, 0])
    for c in range(num_classes):
        out["per_class"][c] = {
            "ap30": ap(at30[:, c, all_idx, 0]),
            "ap50": ap(precision[0, :, c, all_idx, 0]),
            "ap50_95": ap(precision[:, :, c, all_idx, 0]),
            "num_gt": int((classes == c).sum()),
        }
    for a, name in enumerate(names):
        lo, hi = size_ranges[name]
        out["by_size"][name] = {
            "ap50": ap(precision[0, :, :, a, 0]),
            "ap50_95": ap(precision[:, :, :, a, 0]),
            "num_gt": int(((sizes >= lo) & (sizes < hi)).sum()),
        }
    if curves:
        pr = precision[0, :, :, all_idx, 0]  # (101, class); -1 where the class has no ground truth
        out["pr50"] = {c: pr[:, c].tolist() if (pr[:, c] > -1).all() else None for c in range(num_classes)}
    return out


def recall_precision(
    gts: Sequence[ImageBoxes],
    preds: Sequence[ImageBoxes],
    iou: float = 0.5,
    size_ranges: dict[str, tuple[float, float]] = SIZE_RANGES,
) -> dict:
    """Recall (per size range) and precision of the predictions as given (already thresholded), class-agnostic."""
    hits = {name: [0, 0] for name in size_ranges}
    tp = fp = 0
    for gt, pred in zip(gts, preds, strict=True):
        g = np.asarray(gt.boxes).reshape(-1, 4)
        m = match(g, pred.boxes, pred.scores, iou)
        sizes = box_sides(g)
        for name, (lo, hi) in size_ranges.items():
            sel = (sizes >= lo) & (sizes < hi)
            hits[name][0] += int((m[sel] >= 0).sum())
            hits[name][1] += int(sel.sum())
        tp += int((m >= 0).sum())
        fp += len(pred.boxes) - int((m >= 0).sum())
    return {
        "recall": {k: (h / n if n else float("nan")) for k, (h, n) in hits.items()},
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
    }


# ------------------------------------------------------------------ classification (crops -> labels)


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, names: tuple[str, ...]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision / recall / F1 / support and the confusion matrix (rows = true)."""
    k = len(names)
    cm = np.bincount(np.asarray(y_true) * k + np.asarray(y_pred), minlength=k * k).reshape(k, k)
    return confusion_metrics(cm, names)


def confusion_metrics(cm: np.ndarray, names: Sequence[str]) -> dict[str, Any]:
    """`classification_metrics` from a (k, k) confusion matrix (rows = true), e.g. a bootstrap's weighted sum."""
    per_class = {}
    for i, name in enumerate(names):
        tp, support, predicted = cm[i, i], cm[i].sum(), cm[:, i].sum()
        p = tp / predicted if predicted else 0.0
        r = tp / support if support else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        per_class[name] = {"precision": float(p), "recall": float(r), "f1": float(f1), "support": int(support)}
    present = [v["f1"] for v in per_class.values() if v["support"]]
    return {
        "accuracy": float(np.trace(cm) / max(cm.sum(), 1)),
        "macro_f1": float(np.mean(present)) if present else 0.0,
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
        "labels": list(names),
        "num_samples": int(cm.sum()),
    }


SIZE_BINS = (("<16", 0, 16), ("16-32", 16, 32), (">=32", 32, float("inf")))  # face side in pixels


def detailed_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    names: tuple[str, ...],
    sides: np.ndarray | None = None,
    sources: list[str] | None = None,
) -> dict[str, Any]:
    """`classification_metrics` plus accuracy by face size (`SIZE_BINS`) and by source, where known.

    Args:
        sides: (N,) face side in pixels (`data.crops.face_side`).
        sources: (N,) source names (`data.crops.source_of`).
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    m = classification_metrics(y_true, y_pred, names)
    ok = y_true == y_pred
    if sides is not None:
        sides = np.asarray(sides, np.float64)
        m["by_size"] = {
            name: {"accuracy": float(ok[sel].mean()) if sel.any() else None, "count": int(sel.sum())}
            for name, lo, hi in SIZE_BINS
            for sel in [(sides >= lo) & (sides < hi)]
        }
    if sources is not None:
        src = np.asarray(sources)
        m["by_source"] = {}
        for name in sorted(set(sources)):
            sm = classification_metrics(y_true[src == name], y_pred[src == name], names)
            m["by_source"][name] = {
                "accuracy": sm["accuracy"],
                "macro_f1": sm["macro_f1"],
                "count": sm["num_samples"],
                "confusion_matrix": sm["confusion_matrix"],
            }
    return m


def where_labelled(m: dict[str, Any], name: str) -> dict[str, Any] | None:
    """Class `name`'s precision and recall over the sources of `detailed_metrics(..., sources)` whose labels
    hold it, and those sources: a source that never labels it (facemask-extra has no mask_worn_incorrectly)
    cannot tell a right call of it from a false one. None without sources, without the class or without
    such a source.
    """
    labels = m["labels"]
    if name not in labels:
        return None
    i = labels.index(name)
    cms = {src: np.array(s["confusion_matrix"]) for src, s in m.get("by_source", {}).items()}
    holding = [src for src, cm in cms.items() if cm[i].sum()]
    if not holding:
        return None
    c = confusion_metrics(sum(cms[src] for src in holding), labels)["per_class"][name]
    return {"precision": c["precision"], "recall": c["recall"], "sources": holding}
