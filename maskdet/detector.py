"""FaceDetector: an ultralytics YOLO face model (.pt or .onnx). The only module importing ultralytics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from maskdet import hub
from maskdet._env import configure_ultralytics, read_json
from maskdet._errors import brief
from maskdet.boxes import box_sides, fuse_views, merge_passes
from maskdet.presets import PHOTO
from maskdet.results import LABELS, Faces

# A second, zoomed pass (`zoom=`) adds the faces the main pass sees smaller than this many input pixels:
# where the main pass misses tiny faces, and the zoomed pass is least reliable on big ones (maskdet.presets).
SMALL_FACE = 32
# The zoomed (photo) setting also runs coarse passes at 1/2 and 1/4 of imgsz, down to COARSE_MIN, that add
# the faces they see at least BIG_FACE of the frame's longest side: a face filling a selfie or a portrait is
# too big for the 640 pass (found in 56% of 300 whole face-crop photos at 640 alone, 98.7% with the 320 and
# 160 passes; face AP on the two validation splits unchanged or up; +~7% photo time, timed). docs/accuracy.md.
BIG_FACE = 0.12
COARSE_MIN = 160
WEIGHTS_DIR = hub.WEIGHTS_DIR  # model resolution lives in maskdet.hub; the name stays for existing imports


def resolve_detector(source: str | Path | None) -> Path:
    """A detector file from None (bundled), a file, a folder or a hub repo id (`maskdet.hub.resolve`)."""
    return hub.resolve(hub.DETECTOR, source)


def detector_metrics(path: Path | None) -> dict | None:
    """Metrics saved beside a detector: detector_metrics.json (bundled, releases) or a training run's metrics.json
    (one with detection figures: in a release folder metrics.json is the classifier's)."""
    if path is None:
        return None
    for candidate in (
        path.parent / "detector_metrics.json",
        path.parent / "metrics.json",
        path.parent.parent / "metrics.json",  # runs/detector/weights/best.pt -> runs/detector/metrics.json
    ):
        metrics = read_json(candidate)
        if metrics is None:
            continue
        if candidate.name == "detector_metrics.json" or (isinstance(metrics, dict) and "map50" in metrics):
            return metrics
    return None


def coarse_sizes(imgsz: int) -> list[int]:
    """Sizes of the photo setting's big-face passes: imgsz / 2, / 4, ... down to `COARSE_MIN` (640: 320, 160)."""
    sizes = []
    size = imgsz // 2
    while size >= COARSE_MIN:
        sizes.append(size)
        size //= 2
    return sizes


class FaceDetector:
    """Finds faces in BGR frames with an ultralytics YOLO model.

    Args:
        model: a loaded `ultralytics.YOLO` (.pt) or `maskdet.ort.OnnxYolo` (.onnx).
        path: where it came from (for messages and the About tab).
    """

    def __init__(self, model: Any, path: Path | None = None):
        self.model = model
        self.path = path

    @classmethod
    def load(cls, source: str | Path | None = None) -> FaceDetector:
        """Load from None (bundled), a .pt or .onnx file, a folder or a hub repo id (ONNX only)."""
        path = resolve_detector(source)
        det = cls(None, path)
        if path.suffix != ".onnx":
            configure_ultralytics(f"the .pt detector {str(path)!r} (an .onnx export runs without it)")
        try:
            if path.suffix == ".onnx":  # onnxruntime directly: rectangular input, no torch
                from maskdet.ort import OnnxYolo

                det.model = OnnxYolo(path)
            else:
                from ultralytics import YOLO

                det.model = YOLO(str(path), task="detect")
            det.detect(np.zeros((64, 64, 3), np.uint8), imgsz=det.imgsz_fixed or 64)  # load now: fail early
        except Exception as e:
            raise ValueError(f"cannot load face detector {str(path)!r} ({brief(e)}): {hub.DETECTOR.fix}") from e
        return det

    @property
    def labels(self) -> tuple[str, ...] | None:
        """The mask labels a 3-class detector scores each face by (LABELS order, for `Pipeline` to fuse
        with the classifier's); None for a face detector."""
        names = getattr(self.model, "names", None)
        names = tuple(names[k] for k in sorted(names)) if isinstance(names, dict) else tuple(names or ())
        return names if len(names) > 1 and set(names) <= set(LABELS) else None

    @property
    def imgsz_fixed(self) -> int | None:
        """The one input size a static ONNX export accepts; None when any size works."""
        return getattr(self.model, "fixed", None)

    @classmethod
    def from_config(cls, yaml: str = "yolov8n.yaml") -> FaceDetector:
        """An untrained model built from an ultralytics YAML (tests, smoke runs)."""
        configure_ultralytics("building a detector from a YAML")
        from ultralytics import YOLO

        return cls(YOLO(yaml, task="detect"))

    def detect(
        self,
        frame: np.ndarray,
        conf: float = PHOTO.face_threshold,
        iou: float = PHOTO.iou,
        imgsz: int = PHOTO.imgsz,
        zoom: int | None = None,
        flip: bool = False,
    ) -> Faces:
        """Faces in one frame.

        Args:
            frame: (H, W, 3) uint8 BGR.
            conf: minimum face confidence.
            iou: NMS IoU threshold.
            imgsz: inference size (ignored for a static ONNX model, which has its own).
            zoom: a larger size for a second pass that adds the faces the first sees smaller than
                `SMALL_FACE` input pixels (crowds, far faces; about (zoom / imgsz)^2 + 1 times the time),
                and the coarse passes for big faces (`coarse_sizes`). None, or not above `imgsz`, or a
                static ONNX model: one pass.
            flip: also run each pass on the mirrored frame and fuse the two views (`fuse_views`): faces
                both views find rank above faces one view finds, for about 2x the time.

        Returns:
            `Faces` with boxes in `frame` pixels, unclassified (label_ids = -1), best first.
        """
        faces = self._views(frame, conf, iou, imgsz, flip)
        if zoom is None or zoom <= imgsz or self.imgsz_fixed:
            return faces
        small = self._views(frame, conf, iou, zoom, flip)
        side = box_sides(small.boxes) * imgsz / max(frame.shape[:2])  # as the first pass sees them
        faces = merge_passes(faces, small[side < SMALL_FACE], iou)
        for size in coarse_sizes(imgsz):
            big = self._detect(frame, conf, iou, size)
            faces = merge_passes(faces, big[box_sides(big.boxes) >= BIG_FACE * max(frame.shape[:2])], iou)
        return faces

    def _views(self, frame: np.ndarray, conf: float, iou: float, imgsz: int, flip: bool) -> Faces:
        """One pass at `imgsz`; with `flip`, fused with the same pass on the mirrored frame."""
        if not flip:
            return self._detect(frame, conf, iou, imgsz)
        faces = self._detect(frame, conf / 2, iou, imgsz)  # each view at half the threshold: a fused face
        mirrored = self._detect(np.ascontiguousarray(frame[:, ::-1]), conf / 2, iou, imgsz)  # keeps the mean
        boxes = mirrored.boxes.copy()
        boxes[:, [0, 2]] = frame.shape[1] - mirrored.boxes[:, [2, 0]]
        faces = fuse_views(faces, Faces(boxes, mirrored.scores, probs=mirrored.probs, names=mirrored.names), iou)
        return faces[faces.scores >= conf]

    def _detect(self, frame: np.ndarray, conf: float, iou: float, imgsz: int) -> Faces:
        labels = self.labels
        if not hasattr(self.model, "predict"):  # the onnxruntime fast path (a static export uses its own size)
            boxes, scores, classes = self.model(frame, conf=conf, iou=iou, imgsz=imgsz)
            if not len(boxes):
                return Faces.empty()
            if labels is None:
                return Faces(boxes=boxes, scores=scores)
            probs = classes / np.maximum(classes.sum(axis=1, keepdims=True), 1e-9)  # independent sigmoids
            return Faces(boxes=boxes, scores=scores, probs=probs, names=labels)
        result = self.model.predict(
            frame, conf=conf, iou=iou, imgsz=imgsz, device="cpu", verbose=False, agnostic_nms=labels is not None
        )[0]
        faces = Faces.from_ultralytics(result)
        if labels is not None and len(faces):  # ultralytics keeps only the top class: one-hot
            faces = Faces(
                faces.boxes,
                faces.scores,
                probs=np.eye(len(labels))[result.boxes.cls.cpu().numpy().astype(int)],
                names=labels,
            )
        return faces

    def export_onnx(self, imgsz: int = 640, dynamic: bool = False, out: str | Path | None = None) -> Path:
        """Export to ONNX (offline, ~1 s); returns the .onnx path."""
        path = Path(self.model.export(format="onnx", imgsz=imgsz, dynamic=dynamic, simplify=True, verbose=False))
        if out is not None:
            out = Path(out)
            path.replace(out)
            path = out
        return path

    def __repr__(self) -> str:
        return f"FaceDetector(path={str(self.path)!r})"
