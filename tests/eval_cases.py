"""A hand-computable three-class case: two images, six faces, shared by the mAP and pipeline-report tests.

Image 0 ground truth: a with_mask, b with_mask, c without_mask, d mask_worn_incorrectly.
Image 1 ground truth: e with_mask, f mask_worn_incorrectly.
Predictions (box, class, score):
    image 0: exactly a, with 0.9 (hit) | exactly c, with 0.8 (right face, wrong class) |
             exactly d, incorrect 0.7 (hit) | an empty spot, without 0.6 (no face there)
    image 1: e's top 64% (IoU 0.64), with 0.75 (hit for IoU thresholds 0.5-0.6 only)
    b and f: nothing.
"""

from __future__ import annotations

import numpy as np

from maskdet.eval.metrics import ImageBoxes

GT_BOXES = [
    np.array([[0, 0, 20, 20], [40, 0, 60, 20], [0, 40, 30, 70], [40, 40, 70, 70]], np.float32),
    np.array([[0, 0, 40, 40], [50, 50, 80, 80]], np.float32),
]
GT_CLASSES = [np.array([0, 0, 1, 2]), np.array([0, 2])]
PRED_BOXES = [
    np.array([[0, 0, 20, 20], [0, 40, 30, 70], [40, 40, 70, 70], [100, 100, 120, 120]], np.float32),
    np.array([[0, 0, 40, 25.6]], np.float32),
]
PRED_CLASSES = [np.array([0, 0, 2, 1]), np.array([0])]
PRED_SCORES = [np.array([0.9, 0.8, 0.7, 0.6], np.float32), np.array([0.75], np.float32)]

# COCO's AP: precision made monotone (max over higher recall), read at recall 0, 0.01, ..., 1 (101 points).
# with_mask, 3 faces: ranking 0.9 hit, 0.8 miss, 0.75 hit -> recall 1/3, 1/3, 2/3, precision 1, 1/2, 2/3;
#   monotone: 1 up to recall 1/3 (34 points: 0..0.33), 2/3 up to 2/3 (33 points: 0.34..0.66), 0 beyond.
AP50_WITH = (34 * 1 + 33 * 2 / 3) / 101  # = 56/101
#   at IoU >= 0.65 e's box no longer counts: hit, miss, miss -> 1 for 34 points only; IoU 0.5, 0.55, 0.6 of 10.
AP50_95_WITH = (3 * AP50_WITH + 7 * 34 / 101) / 10
AP50_WITHOUT = 0.0  # its one detection is on an empty spot; c was called with_mask
# incorrect, 2 faces: one hit at 0.7 -> precision 1 up to recall 1/2 (51 points: 0..0.50), then 0.
AP50_INCORRECT = 51 / 101
MAP50 = (AP50_WITH + AP50_WITHOUT + AP50_INCORRECT) / 3
MAP50_95 = (AP50_95_WITH + AP50_WITHOUT + AP50_INCORRECT) / 3
# One class "face": 0.9, 0.8, 0.75, 0.7 hit, 0.6 miss over 6 faces -> precision 1 up to recall 4/6
# (67 points: 0..0.66), then 0.
FACE_AP50 = 67 / 101


def gts(agnostic: bool = False) -> list[ImageBoxes]:
    return [ImageBoxes(b, np.zeros_like(c) if agnostic else c) for b, c in zip(GT_BOXES, GT_CLASSES, strict=True)]


def preds(agnostic: bool = False) -> list[ImageBoxes]:
    return [
        ImageBoxes(b, np.zeros_like(c) if agnostic else c, s)
        for b, c, s in zip(PRED_BOXES, PRED_CLASSES, PRED_SCORES, strict=True)
    ]
