"""YuNet (OpenCV's face detector, trained on WIDER FACE): the baseline we compare our detector to.

It has the same `detect(frame, conf, iou, imgsz)` interface as `FaceDetector`, so the same pipeline,
evaluation and benchmarks run with either. Not part of the shipped product.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from maskdet.assets import YUNET
from maskdet.results import Faces


class YuNetDetector:
    """cv2.FaceDetectorYN at the frame's own resolution (or scaled so its longest side is `imgsz`)."""

    def __init__(self, path: str | Path | None = None, top_k: int = 5000):
        path = Path(path) if path else YUNET.default
        if not path.is_file():
            raise FileNotFoundError(YUNET.missing(path, "--yunet"))
        self.path = path
        self.top_k = top_k
        self._net = cv2.FaceDetectorYN.create(str(path), "", (320, 320), 0.5, 0.3, top_k)

    def detect(self, frame: np.ndarray, conf: float = 0.5, iou: float = 0.3, imgsz: int | None = None) -> Faces:
        h, w = frame.shape[:2]
        scale = 1.0 if not imgsz else imgsz / max(h, w)
        img = frame if scale == 1.0 else cv2.resize(frame, (round(w * scale), round(h * scale)))
        self._net.setInputSize((img.shape[1], img.shape[0]))
        self._net.setScoreThreshold(float(conf))
        self._net.setNMSThreshold(float(iou))
        _, found = self._net.detect(img)
        if found is None or not len(found):
            return Faces.empty()
        xywh = found[:, :4] / scale
        boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        return Faces(boxes[keep], found[keep, -1])
