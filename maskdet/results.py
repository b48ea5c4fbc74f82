"""The one result type: every face found in one frame, with its mask label.

`Faces` is a dataclass of parallel numpy arrays (like supervision's `Detections`), so the detector,
the pipeline, the annotator, the video engine, the app and the HTTP API all pass the same object.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
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

    @classmethod
    def from_ultralytics(cls, result: Any, names: tuple[str, ...] = LABELS) -> Faces:
        """The boxes of one ultralytics `Results` (one image's `model.predict(...)[0]`), unclassified."""
        boxes = result.boxes
        if boxes is None or len(boxes) == 0:
            return cls.empty(names)
        return cls(boxes=boxes.xyxy.cpu().numpy(), scores=boxes.conf.cpu().numpy(), names=names)

    def to_supervision(self) -> Any:
        """These faces as `supervision.Detections` (xyxy, confidence, class_id = label id, tracker_id = track
        id), with `data["index"]` the row in `self`, so results of supervision's trackers and zones map back."""
        import supervision as sv

        return sv.Detections(
            xyxy=self.boxes.reshape(-1, 4),
            confidence=self.scores,
            class_id=self.label_ids,
            tracker_id=self.track_ids,
            data={"index": np.arange(len(self))},
        )

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


@dataclass
class VideoSummary:
    """A whole video's result (`maskdet.video.run_video`): what the app, the CLI, the JSON files and the HTTP
    API show. `to_dict()` is the JSON form, key for key.

    Attributes:
        source: the file, camera or URL (credentials redacted).
        live: frames came from a camera or stream (times are wall-clock).
        frames: processed frames.
        fps, width, height: the source's.
        duration_s: video time covered.
        faces: face detections over all frames; faces_per_label: the same per label.
        people: unique tracked people per label (None without tracking); people_total: their sum.
        compliance: share of labelled people (or faces without tracking) wearing a mask correctly; None if none.
        compliance_basis: "people" or "faces".
        processing_fps, processing_s: speed.
        line: line-crossing counts (`LineCounter.counts`) or None.
        timeline: rows (frame, time, faces, a count per label and unknown), one every timeline step.
        events: violation events (`Tracker`).
        skipped_frames: corrupt frames skipped; dropped_frames: frames a live source dropped.
        output: the annotated video written, or None.
        stopped: why it ended ('end', 'max_frames', 'stop', 'quit', 'interrupted', 'error', 'source_lost',
            'truncated').
    """

    source: str | None
    live: bool
    frames: int
    fps: float
    width: int
    height: int
    duration_s: float
    faces: int
    faces_per_label: dict[str, int]
    people: dict[str, int] | None
    people_total: int | None
    compliance: float | None
    compliance_basis: str
    processing_fps: float | None
    processing_s: float
    line: dict[str, Any] | None
    timeline: list[dict[str, Any]]
    events: list[dict[str, Any]]
    skipped_frames: int = 0
    dropped_frames: int = 0
    output: str | None = None
    stopped: str = "end"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VideoSummary:
        """From `to_dict()`'s form (a JSON file, an API answer); unknown keys are an error that names them."""
        known = {f.name for f in fields(cls)}
        extra = sorted(set(data) - known)
        if extra:
            raise ValueError(f"unknown video summary keys {extra}; expected some of {sorted(known)}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, keys in the order the summary files and the HTTP API have always had."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def brief(self) -> dict[str, Any]:
        """`to_dict()` without the timeline, and the events as their number: one printable line's worth."""
        out = {k: v for k, v in self.to_dict().items() if k not in ("timeline", "events")}
        out["events"] = len(self.events)
        return out

    def to_csv_rows(self) -> list[list[Any]]:
        """The timeline as CSV rows, the header first (every column any row has, in first-seen order)."""
        header = list(dict.fromkeys(k for row in self.timeline for k in row))
        return [header] + [[row.get(k, "") for k in header] for row in self.timeline] if header else []

    def counts_text(self) -> str:
        """One line in words: frames, faces, people per label, compliance, events, speed, skipped frames."""
        text = [
            f"{self.frames} frames ({self.duration_s:.1f} s at {self.fps:.0f} FPS)",
            f"{self.faces} face detections",
        ]
        if self.people is not None:
            words = {label: label.replace("_", " ") for label in self.people}
            text.append(f"{sum(self.people.values())} people" + counts_text(self.people, lead=", ", short=words))
        if self.compliance is not None:
            text.append(f"{self.compliance:.0%} of {self.compliance_basis} wearing a mask correctly")
        if self.events:
            text.append(f"{len(self.events)} violation events")
        if self.processing_fps:
            text.append(f"processed at {self.processing_fps:.1f} FPS")
        if self.skipped_frames:
            text.append(f"{self.skipped_frames} corrupt frames skipped")
        return " · ".join(text)


def counts_text(counts: dict[str, int], lead: str = "", sep: str = ", ", short: dict[str, str] | None = None) -> str:
    """{label: n} in words: "2 mask, 1 no mask" (labels renamed by `short`, zeros left out), after `lead`
    when there is any."""
    parts = [f"{n} {(short or {}).get(label, label)}" for label, n in counts.items() if n]
    return lead + sep.join(parts) if parts else ""
