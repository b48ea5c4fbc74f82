"""The one result type: every face found in one frame, with its mask label.

`Faces` is a dataclass of parallel numpy arrays (like supervision's `Detections`), so the detector,
the pipeline, the annotator, the video engine, the app and the HTTP API all pass the same object.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

LABELS: tuple[str, ...] = ("with_mask", "without_mask", "mask_worn_incorrectly")
UNKNOWN = "unknown"  # label of a face that was not classified or fell below the label threshold


def _as_array(name: str, value: Any, dtype: type, ndim: int, n: int | None, width: int | None = None):
    arr = np.asarray(value, dtype=dtype)
    shape_txt = f"(_, {width})" if width is not None else "(_,)"
    if arr.ndim != ndim or (width is not None and arr.shape[1] != width):
        raise ValueError(f"{name} must be a {ndim}D np.ndarray with shape {shape_txt}, but got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} must have {n} rows (one per box), but got {arr.shape[0]}")
    return arr


def compliance(counts: dict[str, int]) -> float | None:
    """Share of labelled (not unknown) faces or people wearing a mask correctly; None when none is labelled."""
    labelled = sum(n for label, n in counts.items() if label != UNKNOWN)
    return round(counts.get("with_mask", 0) / labelled, 4) if labelled else None


@dataclass
class Faces:
    """Faces in one frame.

    Attributes:
        boxes: (N, 4) float32 xyxy in input-frame pixels.
        scores: (N,) float32 face-detector confidence.
        label_ids: (N,) int64 index into `names`, -1 when not classified.
        label_scores: (N,) float32 probability of the chosen label (0 when not classified).
        probs: (N, C) float32 per-class probabilities, C == len(names).
        track_ids: (N,) int64 track id per face, or None when not tracked.
        names: class names, index-aligned with `probs`.
    """

    boxes: np.ndarray
    scores: np.ndarray
    label_ids: np.ndarray | None = None
    label_scores: np.ndarray | None = None
    probs: np.ndarray | None = None
    track_ids: np.ndarray | None = None
    names: tuple[str, ...] = field(default=LABELS)

    def __post_init__(self) -> None:
        self.names = tuple(self.names)
        if not self.names:
            raise ValueError("names must hold at least one class name, but got an empty sequence")
        self.boxes = _as_array("boxes", self.boxes, np.float32, 2, None, 4).reshape(-1, 4)
        n = len(self.boxes)
        c = len(self.names)
        self.scores = _as_array("scores", self.scores, np.float32, 1, n)
        self.label_ids = (
            np.full(n, -1, np.int64)
            if self.label_ids is None
            else _as_array("label_ids", self.label_ids, np.int64, 1, n)
        )
        if n and (self.label_ids.min() < -1 or self.label_ids.max() >= c):
            raise ValueError(f"label_ids must lie in [-1, {c - 1}] for names {self.names}, but got {self.label_ids}")
        self.label_scores = (
            np.zeros(n, np.float32)
            if self.label_scores is None
            else _as_array("label_scores", self.label_scores, np.float32, 1, n)
        )
        self.probs = (
            np.zeros((n, c), np.float32) if self.probs is None else _as_array("probs", self.probs, np.float32, 2, n, c)
        )
        if self.track_ids is not None:
            self.track_ids = _as_array("track_ids", self.track_ids, np.int64, 1, n)
        if n and not np.isfinite(self.boxes).all():
            raise ValueError(f"boxes must be finite, but got {self.boxes}")
        if n and (self.boxes[:, 2] < self.boxes[:, 0]).any() | (self.boxes[:, 3] < self.boxes[:, 1]).any():
            raise ValueError(f"boxes must be xyxy with x2 >= x1 and y2 >= y1, but got {self.boxes}")

    @classmethod
    def empty(cls, names: tuple[str, ...] = LABELS) -> Faces:
        """No faces: what a frame without people gives."""
        return cls(boxes=np.zeros((0, 4), np.float32), scores=np.zeros(0, np.float32), names=names)

    def __len__(self) -> int:
        return len(self.boxes)

    def __getitem__(self, index: Any) -> Faces:
        """Numpy-style selection (boolean mask, int array, slice or int); returns a new `Faces`."""
        if isinstance(index, (int, np.integer)):
            index = [index]
        return Faces(
            boxes=self.boxes[index],
            scores=self.scores[index],
            label_ids=self.label_ids[index],
            label_scores=self.label_scores[index],
            probs=self.probs[index],
            track_ids=None if self.track_ids is None else self.track_ids[index],
            names=self.names,
        )

    @property
    def labels(self) -> list[str]:
        """Label name per face; `unknown` where not classified."""
        return [self.names[i] if i >= 0 else UNKNOWN for i in self.label_ids]

    def with_labels(self, label_ids: np.ndarray, probs: np.ndarray) -> Faces:
        """The same faces with classifier output attached (label score = prob of the chosen label)."""
        label_ids = np.asarray(label_ids, np.int64)
        probs = np.asarray(probs, np.float32).reshape(len(self), len(self.names))
        scores = probs[np.arange(len(self)), np.maximum(label_ids, 0)] if len(self) else np.zeros(0, np.float32)
        return Faces(
            self.boxes, self.scores, label_ids, np.where(label_ids >= 0, scores, 0.0), probs, self.track_ids, self.names
        )

    def counts(self) -> dict[str, int]:
        """Faces per label name, every class present (zeros included); `unknown` only when non-zero."""
        out = {name: int((self.label_ids == i).sum()) for i, name in enumerate(self.names)}
        unknown = int((self.label_ids < 0).sum())
        if unknown:
            out[UNKNOWN] = unknown
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: useful for an API client without the picture."""
        faces = []
        for i in range(len(self)):
            face: dict[str, Any] = {
                "box": [round(float(v), 1) for v in self.boxes[i]],
                "score": round(float(self.scores[i]), 4),
                "label": self.labels[i],
                "label_score": round(float(self.label_scores[i]), 4),
                "probs": {name: round(float(p), 4) for name, p in zip(self.names, self.probs[i], strict=True)},
            }
            if self.track_ids is not None:
                face["track_id"] = int(self.track_ids[i])
            faces.append(face)
        return {"num_faces": len(self), "counts": self.counts(), "faces": faces}

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)
