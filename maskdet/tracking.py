"""Tracker: ByteTrack ids per face, labels smoothed per id, unique people per label, violation events.

ByteTrack itself comes from roboflow's `trackers` package (a maintained, tested implementation); this
module only adds what maskdet needs on top: a label per person that does not flicker, person numbers
that match the people count, and one event when a person is first confirmed without a proper mask.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from maskdet.results import UNKNOWN, Faces

VIOLATIONS: tuple[str, ...] = ("without_mask", "mask_worn_incorrectly")


@dataclass
class _Person:
    """What the tracker remembers about one ByteTrack id."""

    history: deque  # (label_id, probs) of the last `window` observations
    seen: int = 0  # observations with an id
    number: int = -1  # 1-based person number once confirmed
    labels: Counter = field(default_factory=Counter)  # smoothed label per confirmed frame
    reported: set = field(default_factory=set)  # violation labels already sent as events


MIN_LOST_FRAMES = 3  # a person survives at least this many missed frames, however slow the frames


class Tracker:
    """Track faces across frames and smooth their labels.

    Args:
        window: smooth each person's label over their last `window` observations (moving average of the
            class probabilities; `unknown` when most of them were unknown).
        min_hits: observations with a track id before a face counts as a person (gets a number, is
            counted, can raise an event). Short false detections never reach it.
        fps: frame rate of the video; ByteTrack scales its lost-track buffer with it.
        lost_seconds: how long a person may be unseen (occluded, missed) and keep their id. When frames
            come slower than `lost_seconds / MIN_LOST_FRAMES` apart (an overloaded laptop, a slow stream),
            each gap counts as that long, so a person still survives `MIN_LOST_FRAMES` missed frames
            instead of getting a new id on every frame.
        track_threshold: detector confidence that starts a track and splits ByteTrack's high/low stages.
        match_iou: minimum IoU between a predicted track box and a detection to match them.
        violations: labels that raise an event.
    """

    def __init__(
        self,
        window: int = 15,
        min_hits: int = 3,
        *,
        fps: float = 30.0,
        lost_seconds: float = 1.0,
        track_threshold: float = 0.4,
        match_iou: float = 0.1,
        violations: tuple[str, ...] = VIOLATIONS,
    ) -> None:
        if window < 1:
            raise ValueError(f"window must be at least 1 frame, but got {window}")
        if min_hits < 1:
            raise ValueError(f"min_hits must be at least 1, but got {min_hits}")
        if not fps > 0:
            raise ValueError(f"fps must be positive, but got {fps}")
        from trackers import ByteTrackTracker

        self.window = window
        self.min_hits = min_hits
        self._max_step = lost_seconds / MIN_LOST_FRAMES if lost_seconds > 0 else float("inf")
        self._last_time: float | None = None  # the caller's time of the last frame
        self._track_time = 0.0  # the clock ByteTrack sees: the caller's, with each gap capped at _max_step
        self.violations = tuple(violations)
        self._bytetrack = ByteTrackTracker(
            lost_track_buffer=max(0, round(30 * lost_seconds)),  # counted in 30 FPS frames, scaled by frame_rate
            frame_rate=fps,
            track_activation_threshold=track_threshold,
            high_conf_det_threshold=track_threshold,
            minimum_consecutive_frames=1,  # an id from the 2nd frame; min_hits decides who counts as a person
            minimum_iou_threshold=match_iou,
        )
        self._people: dict[int, _Person] = {}
        self._numbers = 0
        self.names: tuple[str, ...] | None = None
        self.frame = -1  # index of the last frame passed to update
        self.events: list[dict[str, Any]] = []  # every event so far
        self.new_events: list[dict[str, Any]] = []  # events raised by the last update

    def update(self, faces: Faces, time: float | None = None) -> Faces:
        """Assign ids and smoothed labels to one frame's faces.

        Args:
            faces: this frame's detections (any order; call once per frame, also with no faces).
            time: seconds since the start of the video; passed to ByteTrack as the frame's timestamp (for
                live sources that drop frames) and written into events. None: frame-counting mode.

        Returns:
            The same faces (same order and boxes) with `track_ids` set (person numbers, -1 while not yet
            confirmed) and labels, label scores and probs replaced by their per-person moving average.
        """
        self.frame += 1
        self.new_events = []
        if self.names is None:
            self.names = faces.names
        elif faces.names != self.names:
            raise ValueError(f"faces.names changed from {self.names} to {faces.names}; use a new Tracker")
        n = len(faces)
        tracked = self._bytetrack.update(faces.to_supervision(), timestamp=self._tracker_time(time))
        bytetrack_ids = np.full(n, -1, np.int64)
        if len(tracked):
            bytetrack_ids[np.asarray(tracked.data["index"], np.int64)] = tracked.tracker_id

        label_ids = faces.label_ids.copy()
        probs = faces.probs.copy()
        label_scores = faces.label_scores.copy()
        numbers = np.full(n, -1, np.int64)
        for i, tid in enumerate(bytetrack_ids):
            if tid < 0:
                continue
            person = self._people.get(int(tid))
            if person is None:
                person = self._people[int(tid)] = _Person(history=deque(maxlen=self.window))
            person.history.append((int(faces.label_ids[i]), faces.probs[i]))
            person.seen += 1
            label_ids[i], probs[i] = self._smoothed(person)
            label_scores[i] = probs[i, label_ids[i]] if label_ids[i] >= 0 else 0.0
            if person.seen >= self.min_hits:
                if person.number < 0:
                    self._numbers += 1
                    person.number = self._numbers
                numbers[i] = person.number
                label = self.names[label_ids[i]] if label_ids[i] >= 0 else UNKNOWN
                person.labels[label] += 1
                if label in self.violations and label not in person.reported:
                    person.reported.add(label)
                    self._event(person, faces.boxes[i], label, float(label_scores[i]), time)
        self._forget_lost()
        return Faces(faces.boxes, faces.scores, label_ids, label_scores, probs, numbers, faces.names)

    def _forget_lost(self) -> None:
        """Bound memory over long sessions: drop ids ByteTrack has given up on, keeping only what
        `people()` needs of confirmed persons."""
        alive = {int(t.tracker_id) for t in self._bytetrack.tracks}
        for tid in [tid for tid in self._people if tid not in alive]:
            person = self._people[tid]
            if person.number < 0:
                del self._people[tid]
            else:
                person.history.clear()

    def _smoothed(self, person: _Person) -> tuple[int, np.ndarray]:
        """Moving average of the class probabilities over the window; unknown when mostly unknown."""
        known = [p for label_id, p in person.history if label_id >= 0]
        if len(known) * 2 < len(person.history) or not known:
            mean = np.mean([p for _, p in person.history], axis=0)
            return -1, mean.astype(np.float32)
        mean = np.mean(known, axis=0).astype(np.float32)
        return int(mean.argmax()), mean

    def _event(self, person: _Person, box: np.ndarray, label: str, confidence: float, time: float | None) -> None:
        event = {
            "event": "violation",
            "time": None if time is None else round(float(time), 3),
            "frame": self.frame,
            "id": person.number,
            "box": [round(float(v), 1) for v in box],
            "label": label,
            "confidence": round(confidence, 4),
        }
        self.events.append(event)
        self.new_events.append(event)

    def person_labels(self) -> dict[int, str]:
        """Person number -> the label they showed most often (over the frames since they were confirmed)."""
        return {
            p.number: p.labels.most_common(1)[0][0]
            for p in sorted(self._people.values(), key=lambda p: p.number)
            if p.number > 0
        }

    def people(self) -> dict[str, int]:
        """Unique people per label (each person counted once, under the label they showed most often).

        Every class name is present (zeros included); `unknown` only when non-zero, as in `Faces.counts`.
        """
        counts = Counter(self.person_labels().values())
        out = {name: counts.get(name, 0) for name in self.names or ()}
        if counts.get(UNKNOWN):
            out[UNKNOWN] = counts[UNKNOWN]
        return out

    def _tracker_time(self, time: float | None) -> float | None:
        """The timestamp for ByteTrack: `time` with each gap longer than `_max_step` shortened to it."""
        if time is None or not np.isfinite(time):
            return time  # frame-counting mode, or ByteTrack's own warning
        if self._last_time is not None:
            step = float(time) - self._last_time
            if step <= 0:
                return self._track_time + step  # ByteTrack warns and skips, as for the caller's own times
            self._track_time += min(step, self._max_step)
        else:
            self._track_time = float(time)
        self._last_time = float(time)
        return self._track_time
