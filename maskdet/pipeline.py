"""Frame (H, W, 3) uint8 BGR -> `Faces`: detect every face, classify each crop in one batch.

No file or camera I/O here; the video engine, the app and the CLI all call `Pipeline.__call__`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from maskdet import presets
from maskdet.boxes import expand_boxes
from maskdet.presets import PHOTO, Preset
from maskdet.results import Faces

if TYPE_CHECKING:
    from maskdet.classifier import MaskClassifier
    from maskdet.detector import FaceDetector

DEFAULT_MARGIN = 0.15


def preset_settings(preset: str | Preset | None) -> dict:
    """The detector settings of a preset or its name ({} for None); an unknown name lists the known ones."""
    return {} if preset is None else presets.get(preset).detector_settings()


def crop_faces(frame: np.ndarray, boxes: np.ndarray, margin: float = DEFAULT_MARGIN) -> list[np.ndarray]:
    """Cut one crop per box (with margin, clipped to the frame); views into `frame`, not copies."""
    h, w = frame.shape[:2]
    return [frame[y1:y2, x1:x2] for x1, y1, x2, y2 in expand_boxes(boxes, margin, w, h)]


@dataclass
class Pipeline:
    """Detector + classifier with the thresholds that make them one product.

    Attributes:
        detector: finds faces (`FaceDetector` or anything with the same `detect`).
        classifier: labels crops (`MaskClassifier` or anything with the same `classify`).
        face_threshold: minimum detector confidence for a face.
        iou: NMS IoU threshold.
        imgsz: detector input size (longest side, pixels).
        zoom: a larger detector size for a second pass that adds small faces (see `FaceDetector.detect`);
            None: one pass.
        flip: also run the detector on the mirrored frame (see `FaceDetector.detect`).
        margin: crop margin as a fraction of the box size on each side.
        label_threshold: below this top-class probability the face is labelled `unknown`; None: the
            classifier's own, chosen on training folds where it is wrong more often than right and
            stored in its config.json (0.0 for a classifier without one).
        detector_weight: with a 3-class detector (`FaceDetector.labels`), the share of its label scores in
            each face's probabilities, the classifier's being the rest (0: the classifier alone, 1: the
            detector alone). A face detector has no say in labels, whatever this is.
    """

    detector: FaceDetector
    classifier: MaskClassifier
    face_threshold: float = PHOTO.face_threshold
    iou: float = PHOTO.iou
    imgsz: int = PHOTO.imgsz
    zoom: int | None = None
    flip: bool = False
    margin: float = DEFAULT_MARGIN
    label_threshold: float | None = None
    detector_weight: float = 0.5

    def __post_init__(self) -> None:
        if self.label_threshold is None:
            self.label_threshold = float(getattr(self.classifier, "label_threshold", 0.0))
        labels = getattr(self.detector, "labels", None)
        if labels is not None and self.classifier is not None and tuple(labels) != tuple(self.classifier.label_names):
            raise ValueError(
                f"the detector's labels {list(labels)} and the classifier's {list(self.classifier.label_names)}"
                " differ: a 3-class detector's label scores are fused with the classifier's, class by class"
            )
        for name in ("face_threshold", "iou", "label_threshold", "detector_weight"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], but got {value}")
        if self.margin < 0 or self.margin > 2:
            raise ValueError(f"margin must lie in [0, 2], but got {self.margin}")
        if self.imgsz < 32:
            raise ValueError(f"imgsz must be at least 32, but got {self.imgsz}")
        if self.zoom is not None and self.zoom <= self.imgsz:
            raise ValueError(f"zoom must be larger than imgsz ({self.imgsz}) or None, but got {self.zoom}")

    @classmethod
    def from_pretrained(
        cls,
        detector: str | Path | None = None,
        classifier: str | Path | None = None,
        *,
        preset: str | Preset | None = None,
        **kwargs,
    ) -> Pipeline:
        """Load both models (bundled defaults when None; else a file, a folder or a hub repo id).

        A release (a hub repo id or folder holding both models, see `maskdet.hub`) as `detector` with no
        `classifier` loads both: `Pipeline.from_pretrained("user/repo")`. Hub repos come from the local cache
        unless HF_HUB_OFFLINE=0 allows downloads.

        Args:
            preset: "photo" (most faces, ~6x the time of one pass) or "live" (real time on video), or a
                `maskdet.presets.Preset`; None: one 640 pass. Keyword arguments (imgsz=, zoom=, flip=,
                thresholds) override it.
        """
        from maskdet.classifier import MaskClassifier
        from maskdet.detector import FaceDetector
        from maskdet.hub import release_sources

        settings = {**preset_settings(preset), **kwargs}  # before loading: a wrong name fails at once
        detector, classifier = release_sources(detector, classifier)
        return cls(FaceDetector.load(detector), MaskClassifier.from_pretrained(classifier), **settings)

    def with_preset(self, preset: str | Preset) -> Pipeline:
        """The same models and thresholds with a preset's detector settings (no model is reloaded)."""
        return replace(self, **preset_settings(preset))

    def __call__(self, frame: np.ndarray) -> Faces:
        """Detect and classify the faces in one BGR frame.

        Args:
            frame: (H, W, 3) uint8 BGR.

        Returns:
            `Faces` with boxes in `frame` pixels and a label per face.
        """
        if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            got = getattr(frame, "shape", type(frame).__name__)
            raise ValueError(f"frame must be an (H, W, 3) uint8 BGR array, but got {got}; use maskdet.load_image")
        extra = {"zoom": self.zoom} if self.zoom else {}  # stand-in detectors need not take these
        extra.update({"flip": True} if self.flip else {})
        faces = self.detector.detect(frame, conf=self.face_threshold, iou=self.iou, imgsz=self.imgsz, **extra)
        if not len(faces):
            return Faces.empty(self.classifier.label_names)
        crops = crop_faces(frame, faces.boxes, self.margin)
        label_ids, probs = self.classifier.classify(crops)
        if faces.probs.any() and self.detector_weight > 0:  # a 3-class detector: its say in the labels
            probs = (1 - self.detector_weight) * probs + self.detector_weight * faces.probs
            label_ids = probs.argmax(axis=1)
        label_ids = np.where(probs.max(axis=1) >= self.label_threshold, label_ids, -1)
        return Faces(
            faces.boxes, faces.scores, names=self.classifier.label_names, track_ids=faces.track_ids
        ).with_labels(label_ids, probs)
