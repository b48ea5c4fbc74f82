"""End-to-end accuracy: the whole pipeline (detector + classifier) against VOC boxes with mask labels.

AP comes from pycocotools (`evaluation.mean_average_precision`), three classes. Each face the pipeline
finds is one detection of its top class, scored face score x that class's probability: a face the
detector is unsure of, or whose label the classifier is unsure of, ranks low either way, which is what a
user of the labels wants. The same faces ranked by face score alone are reported beside it
(`face_score_ranking`), to show how much of the ranking the classifier's confidence adds.

`every_class`: the protocol of ultralytics' `val` (multi_label NMS), which produced the published YOLOv8
figures on this dataset: each face is a detection of every class, scored face score x that class's
probability, so a face called with_mask at 0.6 still counts for mask_worn_incorrectly at 0.4, lower in
that class's ranking. Compare with published figures on this one; `map50` is what a user of the top
label gets.

`true_labels`: the same faces, each found face (IoU >= 0.5 with a true one) given its true label and
every face ranked by its face score alone: the mAP a perfect classifier would reach behind this
detector. Its distance to `map50` is the classifier's share of what is lost, its distance to 1 the
detector's.

Precision, recall and the confusion matrix are for the operating point: faces at or above the face
threshold, matched one-to-one to ground truth at IoU >= 0.5 whatever their label (as COCO matches).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from maskdet.boxes import match
from maskdet.data.voc import VocImage
from maskdet.eval.metrics import RECALL_POINTS, ImageBoxes, mean_average_precision
from maskdet.eval.plots import markdown_matrix, save_confusion, save_pr_curves
from maskdet.eval.runs import config_name, run_configs
from maskdet.pipeline import Pipeline
from maskdet.presets import PHOTO
from maskdet.results import UNKNOWN, Faces

FLOOR = 0.001  # face confidence the pipeline runs at: AP needs the whole ranking, not just the operating point
MISSED, FALSE_FACE = "missed", "false face"


def run_pipeline(pipe: Pipeline, items: Sequence[VocImage], floor: float = FLOOR) -> tuple[list[Faces], float]:
    """Every face down to `floor` confidence, classified (one batched classify per image).

    Returns:
        Faces per item and the median seconds per image (at `floor`, so more crops than in use).
    """
    from tqdm import tqdm

    low = replace(pipe, face_threshold=floor, label_threshold=0.0)
    faces, times = [], []
    for it in tqdm(items, desc=f"pipeline @{pipe.imgsz}", leave=False):
        frame = cv2.imread(str(it.path))
        if frame is None:
            raise ValueError(f"cannot read image {str(it.path)!r}")
        start = time.perf_counter()
        faces.append(low(frame))
        times.append(time.perf_counter() - start)
    return faces, float(np.median(times)) if times else math.nan


def confusion(
    gts: Sequence[ImageBoxes],
    faces: Sequence[Faces],
    num_classes: int,
    face_threshold: float,
    label_threshold: float = 0.0,
    iou: float = 0.5,
) -> np.ndarray:
    """Counts of matched faces at the operating point.

    Returns:
        (K + 1, K + 2) ints: rows are the K true classes then "false face" (a detection matching no
        face), columns the K predicted classes, "unknown" (top probability below `label_threshold`),
        then "missed" (a face no detection matches).
    """
    k = num_classes
    cm = np.zeros((k + 1, k + 2), np.int64)
    for gt, f in zip(gts, faces, strict=True):
        f = f[f.scores >= face_threshold]
        predicted = np.where(f.probs.max(axis=1) >= label_threshold, f.probs.argmax(axis=1), k) if len(f) else []
        m = match(gt.boxes, f.boxes, f.scores, iou)
        for true, p in zip(gt.class_ids, m, strict=True):
            cm[true, predicted[p] if p >= 0 else k + 1] += 1
        for p in np.setdiff1d(np.arange(len(f)), m):
            cm[k, predicted[p]] += 1
    return cm


def with_true_labels(faces: Sequence[Faces], gts: Sequence[ImageBoxes], iou: float = 0.5) -> list[Faces]:
    """`faces` with each face that overlaps a true face by `iou` or more labelled as its best-overlapping one,
    with probability 1: a perfect classifier behind this detector. False faces keep their top label, also
    at probability 1, so every face ranks by its face score alone and the figure is the detector's, not
    how sure the classifier happens to be about the false ones."""
    from maskdet.boxes import box_iou

    out = []
    for f, g in zip(faces, gts, strict=True):
        top = f.probs.argmax(axis=1) if len(f) else np.zeros(0, np.int64)
        probs = np.eye(f.probs.shape[1], dtype=f.probs.dtype)[top]
        label_ids, label_scores = top.astype(np.int64), np.ones(len(f), np.float32)
        if len(f) and len(g.boxes):
            overlap = box_iou(f.boxes, g.boxes)
            hit = overlap.max(1) >= iou
            true = g.class_ids[overlap.argmax(1)[hit]]
            probs[hit], label_ids[hit], label_scores[hit] = np.eye(probs.shape[1], dtype=probs.dtype)[true], true, 1.0
        out.append(replace(f, probs=probs, label_ids=label_ids, label_scores=label_scores))
    return out


def _every_class(faces: Sequence[Faces]) -> list[ImageBoxes]:
    """Each face once per class, scored face score x that class's probability (ultralytics' val protocol)."""
    out = []
    for f in faces:
        k = f.probs.shape[1]
        out.append(
            ImageBoxes(
                np.repeat(f.boxes, k, axis=0), np.tile(np.arange(k), len(f)), (f.scores[:, None] * f.probs).ravel()
            )
        )
    return out


def ranked(faces: Sequence[Faces], by_label: bool = True, face: bool = False) -> list[ImageBoxes]:
    """One detection per face, of its top class (class 0 for all with `face`); scored face score x label
    probability when `by_label`, face score alone otherwise."""
    out = []
    for f in faces:
        top = f.probs.argmax(axis=1) if len(f) else np.zeros(0, np.int64)
        if face:
            out.append(ImageBoxes(f.boxes, np.zeros(len(f), np.int64), f.scores))
            continue
        scores = f.scores * f.probs[np.arange(len(f)), top] if by_label else f.scores
        out.append(ImageBoxes(f.boxes, top, scores))
    return out


def ground_truth(items: Sequence[VocImage], names: Sequence[str]) -> list[ImageBoxes]:
    """The items' faces with class ids into `names`; a label outside `names` is a clear error."""
    unknown = {label for it in items for label in it.labels} - set(names)
    if unknown:
        raise ValueError(f"ground-truth labels {sorted(unknown)} are not among the classifier's {list(names)}")
    return [ImageBoxes(it.boxes, np.array([list(names).index(x) for x in it.labels], np.int64)) for it in items]


def score_faces(
    items: Sequence[VocImage],
    faces: Sequence[Faces],
    names: Sequence[str],
    face_threshold: float,
    label_threshold: float = 0.0,
) -> dict[str, Any]:
    """The report for one run: AP (three classes and class-agnostic), operating point, confusion, PR curves.

    Args:
        items: ground truth; every label must be one of `names`.
        faces: the pipeline's output per item, at a low floor (see `run_pipeline`).
        names: class names, index-aligned with `Faces.probs`.
    """
    k = len(names)
    gts = ground_truth(items, names)
    m = mean_average_precision(gts, ranked(faces), num_classes=k, curves=True)
    by_face = mean_average_precision(gts, ranked(faces, by_label=False), num_classes=k)
    every = mean_average_precision(gts, _every_class(faces), num_classes=k)
    true = mean_average_precision(gts, ranked(with_true_labels(faces, gts)), num_classes=k)
    agnostic = mean_average_precision(
        [ImageBoxes(g.boxes, np.zeros_like(g.class_ids)) for g in gts], ranked(faces, face=True), curves=True
    )
    cm = confusion(gts, faces, k, face_threshold, label_threshold)
    matched = int(cm[:k, :-1].sum())
    per_class = {}
    for c, name in enumerate(names):
        per_class[name] = {
            **m["per_class"][c],
            "ap50_face_score_ranking": by_face["per_class"][c]["ap50"],
            "ap50_every_class": every["per_class"][c]["ap50"],
            "ap50_true_labels": true["per_class"][c]["ap50"],
            "precision": _ratio(cm[c, c], cm[:, c].sum()),
            "recall": _ratio(cm[c, c], cm[c].sum()),
        }
    columns = [*names, UNKNOWN, MISSED]
    keep = list(range(k + 2)) if label_threshold > 0 else [*range(k), k + 1]  # "unknown" only when possible
    return {
        "images": len(items),
        "faces": int(cm[:k].sum()),
        "map50": m["map50"],
        "map50_95": m["map50_95"],
        "map30": m["map30"],
        "per_class": per_class,
        "by_size": m["by_size"],
        "face_score_ranking": {"map50": by_face["map50"], "map50_95": by_face["map50_95"]},
        "every_class": {
            "map50": every["map50"],
            "map50_95": every["map50_95"],
            "ap50": {name: every["per_class"][c]["ap50"] for c, name in enumerate(names)},
        },
        "true_labels": {"map50": true["map50"], "map50_95": true["map50_95"]},
        "face": {
            "ap50": agnostic["map50"],
            "ap50_95": agnostic["map50_95"],
            "ap30": agnostic["map30"],
            "precision": _ratio(matched, matched + cm[k].sum()),
            "recall": _ratio(matched, cm[:k].sum()),
        },
        "operating_point": {"face_threshold": face_threshold, "label_threshold": label_threshold, "iou": 0.5},
        "confusion": {
            "rows": [*names, FALSE_FACE],
            "columns": [columns[i] for i in keep],
            "matrix": cm[:, keep].tolist(),
        },
        "pr50": {**{name: m["pr50"][c] for c, name in enumerate(names)}, "face": agnostic["pr50"][0]},
    }


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else math.nan


def evaluate_pipeline(
    pipe: Pipeline,
    items: Sequence[VocImage],
    imgsz: Sequence[int] = (PHOTO.imgsz,),
    floor: float = FLOOR,
    zoom: int | None = None,
    predictions: dict[str, list[Faces]] | None = None,
) -> dict[str, dict]:
    """`score_faces` for the pipeline at each detector input size; keys are the sizes as strings.

    A static ONNX detector runs at its own size whatever is asked; the report says which size ran. Each
    size runs once alone ("640"), then as photos run it with `pipe.flip` and, for sizes under `zoom`, the
    zoomed pass ("640+flip+1024"); see `run_configs`. `predictions`, when given, receives each setting's
    faces per item (for `eval.compare`).
    """
    reports = {}
    for size, z, flip in run_configs(pipe.detector, imgsz, zoom, pipe.flip):
        faces, median_s = run_pipeline(replace(pipe, imgsz=size, zoom=z, flip=flip), items, floor)
        report = score_faces(items, faces, pipe.classifier.label_names, pipe.face_threshold, pipe.label_threshold)
        if predictions is not None:
            predictions[config_name(size, z, flip)] = faces
        reports[config_name(size, z, flip)] = {
            "imgsz": size,
            "zoom": z,
            **report,
            "median_ms_per_image": round(median_s * 1000, 1),
        }
    return reports


def save_figures(reports: dict[str, dict], out_dir: str | Path) -> list[Path]:
    """pr_curve.png (a subplot per class and one for faces, a line per size) and confusion.png (a panel per size)."""
    out_dir = Path(out_dir)
    classes = list(next(iter(reports.values()))["pr50"])
    curves = {
        name: {
            f"imgsz {size}": {
                "precision": r["pr50"][name],
                "ap": r["face"]["ap50"] if name == "face" else r["per_class"][name]["ap50"],
            }
            for size, r in reports.items()
        }
        for name in classes
    }
    return [
        save_pr_curves(out_dir / "pr_curve.png", RECALL_POINTS, curves),
        save_confusion(out_dir / "confusion.png", {f"imgsz {s}": r["confusion"] for s, r in reports.items()}),
    ]


def format_reports(reports: dict[str, dict]) -> str:
    """Markdown: the AP table (one row per size), then per-class operating-point figures and confusion matrices."""
    first = next(iter(reports.values()))
    names = list(first["per_class"])
    lines = [
        "| imgsz | mAP50 | mAP50-95 | " + " | ".join(f"AP50 {n}" for n in names) + " | face AP50 | "
        "mAP50, face-score ranking | mAP50 / mAP50-95, every class (ultralytics val) | mAP50, true labels | "
        "face recall / precision | mAP30 / face AP30 |",
        "|" + "---|" * (len(names) + 9),
    ]
    for size, r in reports.items():
        aps = " | ".join(f"{r['per_class'][n]['ap50']:.3f}" for n in names)
        lines.append(
            f"| {size} | {r['map50']:.3f} | {r['map50_95']:.3f} | {aps} | {r['face']['ap50']:.3f} | "
            f"{r['face_score_ranking']['map50']:.3f} | {r['every_class']['map50']:.3f} / "
            f"{r['every_class']['map50_95']:.3f} | {r['true_labels']['map50']:.3f} | "
            f"{r['face']['recall']:.3f} / {r['face']['precision']:.3f} | "
            f"{r['map30']:.3f} / {r['face']['ap30']:.3f} |"
        )
    op = first["operating_point"]
    lines += [
        "",
        f"At face threshold {op['face_threshold']}, label threshold {op['label_threshold']} (IoU >= 0.5):",
        "",
        "| imgsz | class | faces | AP50-95 | precision | recall |",
        "|---|---|---|---|---|---|",
    ]
    for size, r in reports.items():
        for n in names:
            c = r["per_class"][n]
            lines.append(
                f"| {size} | {n} | {c['num_gt']} | {c['ap50_95']:.3f} | {c['precision']:.3f} | {c['recall']:.3f} |"
            )
    for size, r in reports.items():
        cm = r["confusion"]
        lines += ["", f"Confusion at imgsz {size} (rows true, columns predicted):", ""]
        lines += markdown_matrix(cm["rows"], cm["columns"], cm["matrix"])
    lines.append(f"\n{first['images']} images, {first['faces']} faces.")
    return "\n".join(lines)


def json_ready(value: Any) -> Any:
    """NaN -> None throughout, so the JSON file is standard JSON (NaN marks a class without ground truth)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return value
