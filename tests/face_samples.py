"""Frames with real faces at known places: what a trained detector must find, box for box."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

import maskdet
from maskdet.data.scenes import REAL_FACES

EXAMPLES = Path(maskdet.__file__).parent / "examples"


def pasted_faces(width: int, height: int, spots: list[tuple[int, int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """A flat grey (height, width, 3) BGR frame with `REAL_FACES[i]` pasted at `spots[i]` = (x, y, scale).

    Each face keeps a quarter of its size as context a side (a detector needs some). Returns the frame and
    the (n, 4) xyxy boxes of the faces themselves (the annotated VOC boxes, moved and scaled) in its pixels.
    """
    frame = np.full((height, width, 3), 150, np.uint8)
    boxes = []
    for (name, (x1, y1, x2, y2), _), (px, py, scale) in zip(REAL_FACES, spots, strict=False):
        photo = cv2.imread(str(EXAMPLES / name))
        mx, my = (x2 - x1) // 4, (y2 - y1) // 4
        crop = cv2.resize(photo[y1 - my : y2 + my, x1 - mx : x2 + mx], None, fx=scale, fy=scale)
        h, w = crop.shape[:2]
        frame[py : py + h, px : px + w] = crop
        boxes.append([px + mx * scale, py + my * scale, px + (mx + x2 - x1) * scale, py + (my + y2 - y1) * scale])
    return frame, np.array(boxes, np.float32)
