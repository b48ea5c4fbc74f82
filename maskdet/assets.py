"""Public datasets and third-party models that the repository does not ship: where they are looked for by
default, and the one line that says where to get each one when it is missing (details in docs/data.md).

The default folder is `$MASKDET_SHARED`, else `shared/` beside the clone (`../shared` from its root).
Every command that reads one of these also takes its path as a flag.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SHARED_ENV = "MASKDET_SHARED"


@dataclass(frozen=True)
class Asset:
    """One dataset or model: its place under the shared folder and where to obtain it."""

    relpath: str
    what: str
    source: str

    @property
    def default(self) -> Path:
        """Where it is looked for when no path is given."""
        return shared_dir() / self.relpath

    def missing(self, path: str | Path, flag: str) -> str:
        """One line: what is missing where, where to get it, and the two ways to point at it."""
        return (
            f"{self.what} not found at {str(path)!r}: get it from {self.source} (see docs/data.md), then pass "
            f"{flag} PATH or set {SHARED_ENV} to the folder holding {self.relpath}"
        )

    def check(self, path: str | Path, flag: str) -> Path:
        """`path` as a Path when it exists; FileNotFoundError with `missing`'s line when not."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(self.missing(path, flag))
        return path


def shared_dir() -> Path:
    """$MASKDET_SHARED, else `shared/` beside the clone that holds this package."""
    env = os.environ.get(SHARED_ENV)
    return Path(env).expanduser() if env else Path(__file__).resolve().parents[2] / "shared"


VOC = Asset(
    "datasets/facemask-voc",
    "the facemask-voc dataset (PASCAL VOC: images/ + annotations/)",
    "Kaggle 'Face Mask Detection' by andrewmvd, CC0",
)
CROPS = Asset(
    "datasets/facemask-crops",
    "the facemask-crops image folder (with_mask/, without_mask/)",
    "github.com/chandrikadeb7/Face-Mask-Detection, folder dataset/",
)
YUNET = Asset(
    "weights/yunet/yunet_s_640_640.onnx",
    "the YuNet face model",
    "OpenCV Zoo's face_detection_yunet_2023mar.onnx (the same file as libfacedetection.train's "
    "onnx/yunet_s_640_640.onnx)",
)
EXTRA = Asset(
    "datasets/facemask-extra",
    "the facemask-extra dataset (PASCAL VOC, with_mask / without_mask)",
    "github.com/adityap27/face-mask-detector (MIT), dataset/images, minus its duplicates of facemask-voc",
)
WIDER_FACE_TFLITE = Asset(
    "weights/yolov8n-face-widerface/yolov8n-face_int8.tflite",
    "the YOLOv8n-face TFLite model trained on WIDER FACE (AGPL-3.0)",
    "the yolov8-face project's yolov8n-face INT8 TFLite export (a copy is in GitHub Mycoearthdome/camera)",
)
