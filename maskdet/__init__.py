"""maskdet: face-mask detection (YOLOv8 faces + timm mask classifier).

Importing the package is cheap: no model loads, no network, no torch until a name that needs it is used.

    from maskdet import Pipeline, load_image, draw
    pipe = Pipeline.from_pretrained()          # bundled models, offline
    faces = pipe(load_image("crowd.jpg"))      # -> Faces
    print(faces.counts(), faces.to_json())
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_LAZY = {
    "Faces": "maskdet.results",
    "LABELS": "maskdet.results",
    "load_image": "maskdet.io.images",
    "draw": "maskdet.annotate",
    "Pipeline": "maskdet.pipeline",
    "crop_faces": "maskdet.pipeline",
    "FaceDetector": "maskdet.detector",
    "MaskClassifier": "maskdet.classifier",
}

__all__ = [
    "LABELS",
    "FaceDetector",
    "Faces",
    "MaskClassifier",
    "Pipeline",
    "__version__",
    "crop_faces",
    "draw",
    "load_image",
]

if TYPE_CHECKING:
    from maskdet.annotate import draw
    from maskdet.classifier import MaskClassifier
    from maskdet.detector import FaceDetector
    from maskdet.io.images import load_image
    from maskdet.pipeline import Pipeline, crop_faces
    from maskdet.results import LABELS, Faces


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'maskdet' has no attribute {name!r}")
