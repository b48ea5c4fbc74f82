"""Teacher faces: confident detections of a pretrained face detector that no annotation covers.

The VOC annotations leave real faces out (blurred, half hidden, in the background). Trained on as
background, they teach the detector to miss faces like them; taken as labels, they would cost measured
precision, since validation leaves the same faces out. Masked out of the training image instead (filled
with ultralytics' letterbox grey), they are neither: an ignore region (model_card.md, issue 17).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from maskdet.boxes import box_iou
from maskdet.data.voc import VocImage

GREY = 114  # ultralytics' letterbox fill: the colour the detector already reads as "nothing here"


def unlabelled(found: np.ndarray, annotated: np.ndarray, iou: float = 0.2) -> np.ndarray:
    """The rows of `found` (xyxy) that overlap no `annotated` box at `iou` or more."""
    found = np.asarray(found, np.float32).reshape(-1, 4)
    if not len(found) or not len(annotated):
        return found
    return found[box_iou(found, annotated).max(axis=1) < iou]


def mask_out(image: np.ndarray, ignore: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """A copy of `image` with the `ignore` boxes filled grey, and every `keep` box's pixels left as they were
    (an ignore box that grazes an annotated face must not erase part of it)."""
    out = image.copy()
    h, w = image.shape[:2]

    def pixels(box: np.ndarray) -> tuple[slice, slice]:
        x1, y1, x2, y2 = np.clip(np.round(box), 0, [w, h, w, h]).astype(int)
        return slice(y1, y2), slice(x1, x2)

    for box in np.asarray(ignore).reshape(-1, 4):
        out[pixels(box)] = GREY
    for box in np.asarray(keep).reshape(-1, 4):
        out[pixels(box)] = image[pixels(box)]
    return out


def teacher_faces(
    teacher: str | Path, items: Sequence[VocImage], conf: float = 0.5, iou: float = 0.2, imgsz: int = 640
) -> dict[str, np.ndarray]:
    """stem -> the teacher's faces at score >= `conf` that overlap no annotated face (IoU < `iou`), for
    every image where it finds any. `teacher` is an ultralytics checkpoint (e.g. the `init.pt` that
    `--init` converts from the WIDER FACE TFLite)."""
    from ultralytics import YOLO

    from maskdet._env import configure_ultralytics

    configure_ultralytics()
    model = YOLO(str(teacher), task="detect")
    found: dict[str, np.ndarray] = {}
    for it in items:
        result = model.predict(str(it.path), imgsz=imgsz, conf=conf, device="cpu", verbose=False)[0]
        extra = unlabelled(result.boxes.xyxy.cpu().numpy(), it.boxes, iou)
        if len(extra):
            found[it.stem] = extra
    return found
