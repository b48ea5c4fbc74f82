"""Is run B better than run A, or is the difference inside the spread? A paired bootstrap over images.

The validation splits are small (138 and 46 images), so a difference of 0.01 in mAP may be noise. Each
resample draws the images with replacement and scores both runs on the same draw: what one image makes
easy or hard cancels in the difference, and the interval is the difference's own (Efron & Tibshirani,
"An Introduction to the Bootstrap", 1993, ch. 16). An interval that holds 0 is a tie.

pycocotools matches detections to faces once per image and class (`COCOeval.evaluate`, IoU 0.5); each
resample only re-runs the accumulation over its images, as `COCOeval.accumulate` does, so 1000 resamples
take seconds and the full draw reproduces `metrics.mean_average_precision` exactly.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from maskdet.eval.metrics import RECALL_POINTS, ImageBoxes, _coco, confusion_metrics
from maskdet.results import Faces

PREDICTIONS = "predictions.npz"  # what `evaluate.py pipeline` keeps beside pipeline_eval.json


def save_predictions(path: str | Path, stems: Sequence[str], runs: dict[str, Sequence[Faces]]) -> Path:
    """Each setting's faces per image (boxes, scores, class probabilities), for `evaluate.py compare`."""
    arrays = {}
    for setting, faces in runs.items():
        for i, f in enumerate(faces):
            for field in ("boxes", "scores", "probs"):
                arrays[f"{setting}|{i}|{field}"] = getattr(f, field)
    names = next((f.names for faces in runs.values() for f in faces), ())
    meta = {"stems": list(stems), "settings": list(runs), "names": list(names)}
    np.savez_compressed(path, meta=np.array(json.dumps(meta)), **arrays)
    return Path(path)


def load_predictions(path: str | Path) -> tuple[list[str], dict[str, list[Faces]]]:
    """(image stems, {setting: faces per image}) as `save_predictions` wrote them."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} not found: run `evaluate.py pipeline --output-dir` first")
    with np.load(path) as z:
        meta = json.loads(str(z["meta"]))
        names = tuple(meta["names"])
        runs = {
            s: [
                Faces(z[f"{s}|{i}|boxes"], z[f"{s}|{i}|scores"], probs=z[f"{s}|{i}|probs"], names=names)
                for i in range(len(meta["stems"]))
            ]
            for s in meta["settings"]
        }
    return meta["stems"], runs


def image_matches(
    gts: Sequence[ImageBoxes], preds: Sequence[ImageBoxes], num_classes: int, iou: float = 0.5
) -> list[list]:
    """Per class, per image: (detection scores, true-positive flags, faces) at `iou`, or None where the
    image holds neither a face nor a detection of that class. COCOeval's matching, done once."""
    from pycocotools.cocoeval import COCOeval

    gt_api, dt_api = _coco(gts, preds, num_classes)
    out = [[None] * len(gts) for _ in range(num_classes)]
    if dt_api is None:
        for g_i, g in enumerate(gts):
            for c in np.unique(g.class_ids):
                out[c][g_i] = (np.zeros(0), np.zeros(0, bool), int((g.class_ids == c).sum()))
        return out
    ev = COCOeval(gt_api, dt_api, iouType="bbox")
    ev.params.iouThrs = np.array([iou])
    ev.params.areaRng, ev.params.areaRngLbl, ev.params.maxDets = [[0, 1e10]], ["all"], [1000]
    with contextlib.redirect_stdout(io.StringIO()):
        ev.evaluate()
    n_img = len(ev.params.imgIds)
    for k, cat in enumerate(ev.params.catIds):
        for i in range(n_img):
            e = ev.evalImgs[k * n_img + i]  # area range 0 of 1: index (category, area, image)
            if e is not None:
                scores = np.asarray(e["dtScores"][:1000], np.float64)
                tp = np.asarray(e["dtMatches"][0, :1000]) > 0
                out[cat - 1][e["image_id"]] = (scores, tp, int((np.asarray(e["gtIgnore"]) == 0).sum()))
    return out


def resampled_map(matches: list[list], sample: np.ndarray) -> float:
    """Mean over classes with faces of COCO's 101-point AP@0.5 over the images in `sample` (repeats count)."""
    aps = []
    for per_image in matches:
        chosen = [per_image[i] for i in sample if per_image[i] is not None]
        npos = sum(m[2] for m in chosen)
        if not npos:
            continue
        scores = np.concatenate([m[0] for m in chosen]) if chosen else np.zeros(0)
        tp = np.concatenate([m[1] for m in chosen]) if chosen else np.zeros(0, bool)
        order = np.argsort(-scores, kind="mergesort")
        tp_sum = np.cumsum(tp[order])
        fp_sum = np.cumsum(~tp[order])
        recall = tp_sum / npos
        precision = np.maximum.accumulate((tp_sum / np.maximum(tp_sum + fp_sum, np.spacing(1)))[::-1])[::-1]
        idx = np.searchsorted(recall, RECALL_POINTS, side="left")
        q = np.where(idx < len(precision), precision[np.minimum(idx, len(precision) - 1)], 0.0)
        aps.append(q.mean())
    return float(np.mean(aps)) if aps else float("nan")


def paired_bootstrap(
    gts: Sequence[ImageBoxes],
    preds_a: Sequence[ImageBoxes],
    preds_b: Sequence[ImageBoxes],
    num_classes: int,
    resamples: int = 1000,
    level: float = 0.9,
    seed: int = 0,
    iou: float = 0.5,
) -> dict:
    """A's and B's AP at `iou` (mean over classes) on all images, and B - A with its `level` percentile interval."""
    ma, mb = image_matches(gts, preds_a, num_classes, iou), image_matches(gts, preds_b, num_classes, iou)
    everything = np.arange(len(gts))
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(resamples):
        sample = rng.integers(0, len(gts), len(gts))
        diffs.append(resampled_map(mb, sample) - resampled_map(ma, sample))
    lo, hi = np.nanpercentile(diffs, [50 * (1 - level), 50 * (1 + level)])
    a, b = resampled_map(ma, everything), resampled_map(mb, everything)
    verdict = "tie" if lo <= 0 <= hi else ("B better" if lo > 0 else "A better")
    return {"a": a, "b": b, "diff": b - a, "low": float(lo), "high": float(hi), "level": level, "verdict": verdict}


def compare_runs(
    items: Sequence,
    a: dict[str, list[Faces]],
    b: dict[str, list[Faces]],
    resamples: int = 1000,
    level: float = 0.9,
) -> dict[str, dict[str, dict]]:
    """{setting both runs hold: {"map50": ..., "face_ap50": ..., "face_ap30": ...}}, each a `paired_bootstrap`
    result. The mAP ranks each face as `evaluate.py pipeline` does (its top class, face score x label
    probability); face AP@0.3 counts a face found where the annotation's box is looser than the detector's."""
    from maskdet.eval.pipeline import ground_truth, ranked

    out = {}
    for setting in [s for s in a if s in b]:
        names = a[setting][0].names if a[setting] else ()
        gts = ground_truth(items, names)
        faces_only = [ImageBoxes(g.boxes, np.zeros_like(g.class_ids)) for g in gts]
        face_a, face_b = ranked(a[setting], face=True), ranked(b[setting], face=True)
        out[setting] = {
            "map50": paired_bootstrap(gts, ranked(a[setting]), ranked(b[setting]), len(names), resamples, level),
            "face_ap50": paired_bootstrap(faces_only, face_a, face_b, 1, resamples, level),
            "face_ap30": paired_bootstrap(faces_only, face_a, face_b, 1, resamples, level, iou=0.3),
        }
    return out


def format_comparison(result: dict[str, dict[str, dict]], name_a: str, name_b: str) -> str:
    rows = [
        f"A = {name_a}, B = {name_b}",
        "",
        "| setting | metric | A | B | B - A | interval | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for setting, metrics in result.items():
        for metric, r in metrics.items():
            rows.append(
                f"| {setting} | {metric} | {r['a']:.3f} | {r['b']:.3f} | {r['diff']:+.3f} | "
                f"[{r['low']:+.3f}, {r['high']:+.3f}] ({r['level']:.0%}) | {r['verdict']} |"
            )
    return "\n".join(rows)


def _confusion_metrics(cm: np.ndarray, rare: int) -> dict[str, float]:
    """Accuracy, macro-F1 (over classes present) and the `rare` class's recall and precision from one matrix."""
    m = confusion_metrics(cm, range(len(cm)))
    return {
        "accuracy": m["accuracy"],
        "macro_f1": m["macro_f1"],
        "rare_recall": m["per_class"][rare]["recall"],
        "rare_precision": m["per_class"][rare]["precision"],
    }


def ranked_ap(positive: np.ndarray, scores: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Average precision of `scores` ranking the `positive` rows first (each row counted `weights` times, so
    a bootstrap draw is a weight vector): the mean over positives of the precision at their rank. Rows
    are ranked by score, ties in their given order; nan with no positive."""
    positive = np.asarray(positive, bool)
    w = np.ones(len(positive)) if weights is None else np.asarray(weights, np.float64)
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    pos, w = positive[order], w[order]
    hits = np.cumsum(w * pos)
    seen = np.cumsum(w)
    total = hits[-1] if len(hits) else 0.0
    if total <= 0:
        return float("nan")
    keep = pos & (w > 0)
    return float(np.sum(w[keep] * hits[keep] / seen[keep]) / total)


def paired_crop_bootstrap(
    labels: np.ndarray,
    pred_a: np.ndarray,
    pred_b: np.ndarray,
    groups: Sequence[str],
    num_classes: int,
    rare: int,
    resamples: int = 1000,
    level: float = 0.9,
    seed: int = 0,
    rare_scores: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, dict]:
    """Two classifiers' labels for the same crops: each figure of `_confusion_metrics` for A and B, and B - A
    with its `level` interval, resampling whole `groups` (a scene image's crops share its light, blur and
    crowd, so they are not independent draws). With `rare_scores` (A's and B's probability of the `rare`
    class per crop) also `rare_ap`: that class's average precision with the crops ranked by it, free of
    any threshold, as the end-to-end AP ranks faces. When no crop holds the `rare` class, its figures are
    left out (its recall would read 0 and its AP nan, and nan compares as a loss).
    """
    labels, pred_a, pred_b = (np.asarray(v, np.int64) for v in (labels, pred_a, pred_b))
    if not len(labels) == len(pred_a) == len(pred_b) == len(groups):
        raise ValueError("labels, both predictions and groups must be the same length")
    if rare_scores is not None and not all(len(s) == len(labels) for s in rare_scores):
        raise ValueError("rare_scores must hold one score per crop for A and for B")
    ids, group_of = np.unique(np.asarray(groups), return_inverse=True)
    k = num_classes

    def per_group(pred):  # (G, k, k): each group's confusion matrix, so a resample is one weighted sum
        cells = group_of * k * k + labels * k + pred
        return np.bincount(cells, minlength=len(ids) * k * k).reshape(len(ids), k, k)

    ca, cb = per_group(pred_a), per_group(pred_b)
    is_rare = labels == rare

    def figures(cm_a, cm_b, crop_weights):
        ma, mb = _confusion_metrics(cm_a, rare), _confusion_metrics(cm_b, rare)
        if not is_rare.any():  # no crop holds the rare class: nothing to recall, rank or be precise about
            ma, mb = ({k: v for k, v in m.items() if not k.startswith("rare_")} for m in (ma, mb))
        elif rare_scores is not None:
            ma["rare_ap"], mb["rare_ap"] = (ranked_ap(is_rare, s, crop_weights) for s in rare_scores)
        return ma, mb

    rng = np.random.default_rng(seed)
    full_a, full_b = figures(ca.sum(0), cb.sum(0), None)
    draws = {name: [] for name in full_a}
    for _ in range(resamples):
        weights = np.bincount(rng.integers(0, len(ids), len(ids)), minlength=len(ids))
        ma, mb = figures(np.tensordot(weights, ca, 1), np.tensordot(weights, cb, 1), weights[group_of])
        for name in draws:
            draws[name].append(mb[name] - ma[name])
    out = {}
    for name, diffs in draws.items():
        lo, hi = np.percentile(diffs, [50 * (1 - level), 50 * (1 + level)])
        verdict = "tie" if lo <= 0 <= hi else ("B better" if lo > 0 else "A better")
        a, b = full_a[name], full_b[name]
        out[name] = {
            "a": a,
            "b": b,
            "diff": b - a,
            "low": float(lo),
            "high": float(hi),
            "level": level,
            "verdict": verdict,
        }
    return out
