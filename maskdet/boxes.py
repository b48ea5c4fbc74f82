"""Box geometry on (N, 4) xyxy pixel arrays: IoU, matching, NMS, growing crops, fusing two detector passes.

One home for it, so the detector, the evaluation, the crops and the drawing share these few functions
without importing one another.
"""

from __future__ import annotations

import cv2
import numpy as np

from maskdet.results import Faces


def expand_boxes(boxes: np.ndarray, margin: float, width: int, height: int) -> np.ndarray:
    """Grow xyxy boxes by `margin` x their size on every side, clip to the frame, round to int pixels.

    The same function cuts training crops (data/crops.py) and inference crops, so both see the same context.

    Returns:
        (N, 4) int32 xyxy with x1 < x2 <= width and y1 < y2 <= height (at least one pixel each way).
    """
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    grown = boxes + np.stack([-w, -h, w, h], axis=1) * margin
    out = np.round(grown).astype(np.int32)
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, width)
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, height)
    out[:, 0] = np.minimum(out[:, 0], width - 1)
    out[:, 1] = np.minimum(out[:, 1], height - 1)
    out[:, 2] = np.maximum(out[:, 2], out[:, 0] + 1)
    out[:, 3] = np.maximum(out[:, 3], out[:, 1] + 1)
    return out


def box_sides(boxes: np.ndarray) -> np.ndarray:
    """Each xyxy box's size as one number, sqrt(width x height) in pixels (the size buckets of face AP)."""
    wh = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.sqrt((wh[:, 2] - wh[:, 0]) * (wh[:, 3] - wh[:, 1]))


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 4) x (M, 4) xyxy -> (N, M) IoU."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def match(gt: np.ndarray, pred: np.ndarray, scores: np.ndarray, iou: float = 0.5) -> np.ndarray:
    """Greedy one-to-one matching by score (as COCO does): index of the matched prediction per GT, -1 if none."""
    matched = np.full(len(gt), -1, np.int64)
    if not len(gt) or not len(pred):
        return matched
    ious = box_iou(pred, gt)
    taken = np.zeros(len(gt), bool)
    for p in np.argsort(-np.asarray(scores), kind="stable"):
        cand = np.where(~taken & (ious[p] >= iou))[0]
        if cand.size:
            g = cand[np.argmax(ious[p, cand])]
            taken[g] = True
            matched[g] = p
    return matched


def nms(xywh: np.ndarray, scores: np.ndarray, conf: float, iou: float) -> np.ndarray:
    """Indices of the boxes (N, 4) x, y, w, h that OpenCV's NMS keeps, best score first."""
    idx = np.asarray(cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), conf, iou), dtype=int).reshape(-1)
    return idx[np.argsort(-scores[idx], kind="stable")]


def fuse_views(first: Faces, second: Faces, iou: float) -> Faces:
    """Weighted box fusion (Solovyev et al. 2021) of one frame's faces seen two ways, e.g. mirrored.

    Faces are paired one-to-one at `iou` (greedy by score). A pair becomes one face with the
    score-weighted mean box and the mean score; a face one view alone finds keeps half its score (the
    other view votes 0). Unlike NMS over the union, agreement raises a face's rank and a box seen once
    drops, so AP and precision rise together. ensemble-boxes implements the same rule but needs numba
    and pandas for these few lines.
    """
    pair = match(second.boxes, first.boxes, first.scores, iou)  # per face of `second`: its partner or -1
    boxes = first.boxes.astype(np.float32)
    scores = first.scores.astype(np.float32) / 2
    j = np.flatnonzero(pair >= 0)
    i = pair[j]
    sa, sb = first.scores[i], second.scores[j]
    wa, wb = np.maximum(sa, 1e-6)[:, None], np.maximum(sb, 1e-6)[:, None]  # scores of 0 (conf=0): even weights
    boxes[i] = (first.boxes[i] * wa + second.boxes[j] * wb) / (wa + wb)
    scores[i] = (sa + sb) / 2
    probs = first.probs.copy()  # a 3-class detector's label scores: weighted as the boxes are
    probs[i] = (first.probs[i] * wa + second.probs[j] * wb) / (wa + wb)
    alone = pair < 0
    boxes = np.concatenate([boxes, second.boxes[alone].astype(np.float32)]).reshape(-1, 4)
    scores = np.concatenate([scores, second.scores[alone].astype(np.float32) / 2])
    probs = np.concatenate([probs, second.probs[alone]])
    order = np.argsort(-scores, kind="stable")
    return Faces(boxes=boxes[order], scores=scores[order], probs=probs[order], names=first.names)


def merge_passes(first: Faces, second: Faces, iou: float) -> Faces:
    """Both passes' faces in one list, best first, without duplicates (NMS at `iou` over the union)."""
    if not len(second):
        return first
    boxes = np.concatenate([first.boxes, second.boxes]).astype(np.float32)
    scores = np.concatenate([first.scores, second.scores]).astype(np.float32)
    probs = np.concatenate([first.probs, second.probs])
    keep = nms(np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1), scores, 0.0, iou)
    return Faces(boxes=boxes[keep], scores=scores[keep], probs=probs[keep], names=first.names)
