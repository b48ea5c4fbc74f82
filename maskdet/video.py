"""The engine that runs the pipeline over a video: tracking, drawing, counts, timeline, events, summary.

`VideoProcessor` is the per-frame engine (pipeline -> tracker -> drawing, counts, timeline, events)
shared by `process_video`, `detect_video.py` and the app's video and webcam tabs. Frames come from and go
to `maskdet.io.video` (sources and the writer; its names are re-exported here).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TextIO

import cv2
import numpy as np

from maskdet.annotate import SHORT, draw, text_strip
from maskdet.io.video import (
    CODECS,
    DEFAULT_FPS,
    LimitError,
    OutputError,
    VideoSource,
    VideoWriter,
    _fourcc,
    frames,
    open_source,
    output_error,
    redact,
)
from maskdet.results import UNKNOWN, Faces, VideoSummary, compliance, counts_text
from maskdet.tracking import VIOLATIONS, Tracker

__all__ = [
    "CODECS",
    "VIOLATIONS",
    "LimitError",
    "LineCounter",
    "OutputError",
    "Tracker",
    "VideoProcessor",
    "VideoSource",
    "VideoWriter",
    "frames",
    "open_source",
    "process_video",
    "redact",
    "run_video",
    "status_bar",
]


class _Stop(Protocol):
    def is_set(self) -> bool: ...


def check_line(line: Sequence[float]) -> tuple[float, float, float, float]:
    """A counting line (x1, y1, x2, y2) as fractions of the frame, checked: four values in [0, 1], two
    distinct end points.

    Raises:
        ValueError: the line breaks a rule; the message names the value.
    """
    values = tuple(float(v) for v in line)
    if len(values) != 4 or not all(0.0 <= v <= 1.0 for v in values):
        raise ValueError(f"line must be (x1, y1, x2, y2) as fractions of the frame in [0, 1], but got {line!r}")
    if values[:2] == values[2:]:
        raise ValueError(f"line must have two distinct end points, but got {line!r}")
    return values  # type: ignore[return-value]


def planned_frames(src: VideoSource, max_frames: int | None = None) -> int | None:
    """How many frames a run over `src` will process: its length, or `max_frames` if fewer; None when unknown."""
    return src.frame_count if max_frames is None or src.frame_count is None else min(src.frame_count, max_frames)


class LineCounter:
    """People crossing a line, per label (supervision's `LineZone`, triggered by the face centre).

    Args:
        line: (x1, y1, x2, y2) as fractions of the frame width and height, so one setting fits any
            resolution; "in" and "out" follow supervision's convention for the start -> end direction.
    """

    def __init__(self, line: Sequence[float]) -> None:
        self.line = check_line(line)
        self._zone = None
        self._points: tuple[tuple[int, int], tuple[int, int]] | None = None
        self.names: tuple[str, ...] = ()

    def update(self, faces: Faces, width: int, height: int) -> None:
        """Count confirmed people (track id >= 0) whose centre crossed the line since the last frame."""
        import supervision as sv

        if self._zone is None:
            x1, y1, x2, y2 = self.line
            self._points = ((round(x1 * width), round(y1 * height)), (round(x2 * width), round(y2 * height)))
            self._zone = sv.LineZone(
                start=sv.Point(*self._points[0]),
                end=sv.Point(*self._points[1]),
                triggering_anchors=[sv.Position.CENTER],
            )
            self.names = faces.names
        keep = faces.track_ids >= 0 if faces.track_ids is not None else np.zeros(len(faces), bool)
        self._zone.trigger(faces[keep].to_supervision())

    def _per_label(self, counts: dict) -> dict[str, int]:
        return {(self.names[k] if k >= 0 else UNKNOWN): int(v) for k, v in sorted(counts.items())}

    def counts(self) -> dict[str, Any]:
        """{'in': n, 'out': n, 'in_per_label': {...}, 'out_per_label': {...}, 'line': [x1, y1, x2, y2]}."""
        zone = self._zone
        return {
            "line": list(self.line),
            "in": 0 if zone is None else int(zone.in_count),
            "out": 0 if zone is None else int(zone.out_count),
            "in_per_label": {} if zone is None else self._per_label(zone.in_count_per_class),
            "out_per_label": {} if zone is None else self._per_label(zone.out_count_per_class),
        }

    def draw(self, frame: np.ndarray) -> np.ndarray:
        """Draw the line onto `frame` (in place; its counts go in the status bar); returns it."""
        if self._points is not None:
            cv2.line(frame, *self._points, (255, 255, 255), max(1, round(frame.shape[1] / 400)), cv2.LINE_AA)
        return frame

    def text(self) -> str:
        c = self.counts()
        return f"line: {c['in']} in, {c['out']} out"


def status_bar(frame: np.ndarray, text: str) -> np.ndarray:
    """Write `text` on a dimmed strip at the bottom-left of `frame` (in place): what the video has shown
    so far, below the per-frame banner at the top."""
    return text_strip(frame, text, 1.1, bottom=True)


def _people_text(people: dict[str, int]) -> str:
    return f"people {sum(people.values())}" + counts_text(people, lead=": ", short=SHORT)


class VideoProcessor:
    """The per-frame engine: pipeline, tracker, drawing, and everything the summary reports.

    One object per video or webcam session; call `process` for every frame in order, `summary()` at
    any time. `process_video` drives it over a source; the app's webcam tab calls it per streamed frame.

    Args:
        pipeline: any callable (H, W, 3) uint8 BGR frame -> `Faces` (usually a `Pipeline`).
        fps: the source's frame rate (frame times for files; ByteTrack's buffer).
        track: track faces (ids, smoothed labels, people counts, events); False labels each frame alone.
        blur: pixelate faces in the annotated frames.
        live: frames come from a live source: times are wall-clock seconds since the first frame.
        tracker: a configured `Tracker` (default: `Tracker(fps=fps)` when `track`).
        line: optional counting line (x1, y1, x2, y2) in fractions of the frame; needs `track`.
        timeline_step: seconds between timeline rows (0: one row per frame).
    """

    def __init__(
        self,
        pipeline: Callable[[np.ndarray], Faces],
        *,
        fps: float = DEFAULT_FPS,
        track: bool = True,
        blur: bool = False,
        live: bool = False,
        tracker: Tracker | None = None,
        line: Sequence[float] | None = None,
        timeline_step: float = 1.0,
    ) -> None:
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be positive, but got {fps}")
        if not timeline_step >= 0:
            raise ValueError(f"timeline_step must be >= 0 seconds (0: a row every frame), but got {timeline_step}")
        if line is not None and not track and tracker is None:
            raise ValueError("line counting needs tracking: pass track=True")
        self.pipeline = pipeline
        self.fps = float(fps)
        self.blur = blur
        self.live = live
        self.tracker = tracker if tracker is not None else (Tracker(fps=fps) if track else None)
        self.line = None if line is None else LineCounter(line)
        self.timeline_step = float(timeline_step)
        self.frames = 0
        self.faces = 0
        self.face_counts: Counter[str] = Counter()
        self.timeline: list[dict[str, Any]] = []
        self.names: tuple[str, ...] = ()
        self.width = self.height = 0
        self.time = 0.0
        self.new_events: list[dict[str, Any]] = []
        self._next_row = 0.0
        self._t_first: float | None = None
        self._t_last: float | None = None
        self._rate: float | None = None  # frames/s, smoothed, for the on-screen FPS

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every violation event so far (empty without tracking)."""
        return [] if self.tracker is None else self.tracker.events

    @property
    def display_fps(self) -> float:
        """Frames per second over the last second or so (what the screen shows)."""
        return self._rate or 0.0

    def people(self) -> dict[str, int] | None:
        """Unique people per label so far; None without tracking."""
        return None if self.tracker is None else self.tracker.people()

    def process(self, frame: np.ndarray, time: float | None = None) -> tuple[np.ndarray, Faces]:
        """Run one frame through the pipeline and tracker, update counts, draw.

        Args:
            frame: (H, W, 3) uint8 BGR.
            time: seconds since the start; default: frame index / fps, or wall-clock time when `live`.

        Returns:
            (annotated (H, W, 3) uint8 BGR copy, `Faces` with track ids and smoothed labels when tracking).

        Raises:
            ValueError: `frame` is not an (H, W, 3) uint8 image.
        """
        now = _clock()
        if self._t_first is None:
            self._t_first = now
        if time is None:
            time = now - self._t_first if self.live else self.frames / self.fps
        faces = self.pipeline(frame)
        if self.tracker is not None:
            faces = self.tracker.update(faces, time=time)
            self.new_events = self.tracker.new_events
        self.height, self.width = frame.shape[:2]
        self.names = faces.names
        self.time = float(time)
        self.faces += len(faces)
        counts = faces.counts()
        self.face_counts.update(counts)
        if time >= self._next_row:
            row = {"frame": self.frames, "time": round(float(time), 3), "faces": len(faces)}
            row.update({name: counts.get(name, 0) for name in (*faces.names, UNKNOWN)})
            self.timeline.append(row)
            if self.timeline_step:
                self._next_row = (math.floor(time / self.timeline_step) + 1) * self.timeline_step
        if self.line is not None:
            self.line.update(faces, self.width, self.height)

        if self._t_last is not None:
            rate = 1.0 / max(now - self._t_last, 1e-6)
            self._rate = rate if self._rate is None else 0.9 * self._rate + 0.1 * rate
        self._t_last = now
        self.frames += 1

        annotated = draw(frame, faces, blur=self.blur, extra=f"{self.display_fps:.1f} FPS" if self._rate else "")
        if self.line is not None:
            self.line.draw(annotated)
        if self.tracker is not None:
            status = [_people_text(self.tracker.people())] + ([self.line.text()] if self.line is not None else [])
            status_bar(annotated, "  |  ".join(status))
        return annotated, faces

    def summary(self) -> dict[str, Any]:
        """Everything about the video so far, JSON-ready (see `process_video` for the keys)."""
        elapsed = (self._t_last - self._t_first) if self._t_first is not None and self._t_last is not None else 0.0
        face_counts = {name: self.face_counts.get(name, 0) for name in self.names}
        if self.face_counts.get(UNKNOWN):
            face_counts[UNKNOWN] = self.face_counts[UNKNOWN]
        people = self.people()
        basis = face_counts if people is None else people
        return {
            "frames": self.frames,
            "fps": round(self.fps, 3),
            "width": self.width,
            "height": self.height,
            "duration_s": round(self.time + (1.0 / self.fps if self.frames and not self.live else 0.0), 3),
            "faces": self.faces,
            "faces_per_label": face_counts,
            "people": people,
            "people_total": None if people is None else sum(people.values()),
            "compliance": compliance(basis),
            "compliance_basis": "faces" if people is None else "people",
            "processing_fps": round((self.frames - 1) / elapsed, 2) if self.frames > 1 and elapsed > 0 else None,
            "processing_s": round(elapsed, 3),
            "line": None if self.line is None else self.line.counts(),
            "timeline": self.timeline,
            "events": list(self.events),
        }


def _clock() -> float:
    return time.perf_counter()


def _valid_frame(frame: Any) -> bool:
    return (
        isinstance(frame, np.ndarray)
        and frame.ndim == 3
        and frame.shape[2] == 3
        and frame.dtype == np.uint8
        and frame.shape[0] > 0
        and frame.shape[1] > 0
    )


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write whole or not at all: a reader never sees half a summary (nor a stray .tmp on a full disk)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise output_error(e, path, "the video and events are complete") from e


def _open_events(path: str | Path | None) -> TextIO | None:
    if path is None:
        return None
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return open(path, "w")  # closed in process_video's finally
    except OSError as e:
        raise output_error(e, path) from e


def _append_line(file: TextIO | None, path: str | Path | None, text: str) -> None:
    """One JSON line, flushed at once: a crash or a full disk later keeps every event written before."""
    if file is None:
        return
    try:
        file.write(text + "\n")
        file.flush()
    except OSError as e:
        raise output_error(e, path, "the events before it are kept") from e


def process_video(pipeline: Callable[[np.ndarray], Faces], source: Any, output: Any = None, **kwargs: Any) -> dict:
    """`run_video` (same arguments) with its summary as a JSON-ready dict (`VideoSummary.to_dict()`), the form
    the app, the JSON files and the HTTP API carry."""
    return run_video(pipeline, source, output, **kwargs).to_dict()


def run_video(
    pipeline: Callable[[np.ndarray], Faces],
    source: str | int | Path | VideoSource,
    output: str | Path | None = None,
    *,
    events: str | Path | None = None,
    summary: str | Path | None = None,
    track: bool = True,
    blur: bool = False,
    max_frames: int | None = None,
    progress: Callable[[int, int | None], Any] | None = None,
    stop: _Stop | Callable[[], bool] | None = None,
    on_frame: Callable[[np.ndarray, Faces], bool | None] | None = None,
    tracker: Tracker | None = None,
    line: Sequence[float] | None = None,
    timeline_step: float = 1.0,
) -> VideoSummary:
    """Run the pipeline over a webcam, file or stream; write the annotated video, events and summary.

    Stops at the end of the source, after `max_frames`, when `stop.is_set()`, when `on_frame` returns
    True, or on Ctrl-C; the output video, events and summary are complete in every case.

    Args:
        pipeline: callable BGR frame -> `Faces`.
        source: webcam index, file, URL (see `open_source`) or an already opened `VideoSource` (closed here).
        output: annotated video file (.mp4 H.264 or .webm VP9 for browsers, .mkv, .mov, .avi) or None. For live
            sources each frame is repeated to fill the time it stood for, so the video plays at real speed.
        events: JSON Lines file: one line per person first confirmed without a mask or wearing it
            incorrectly (written as they happen).
        summary: JSON file for the returned summary.
        track: track faces; without it there are no ids, people, events or line counts.
        blur: pixelate faces in the output.
        max_frames: stop after this many processed frames.
        progress: called as `progress(done, total)` after every frame; total is None for live sources.
        stop: a `threading.Event` (or anything with `is_set()`, or a callable returning True to stop),
            checked before each frame.
        on_frame: called with (annotated frame, faces) after each frame; returning True stops.
        tracker: a configured `Tracker` instead of the default.
        line: counting line (x1, y1, x2, y2) in fractions of the frame.
        timeline_step: seconds between timeline rows; 0 for a row every frame.

    Returns:
        The `VideoSummary` (also written to `summary` as its `to_dict()`): source, live, frames,
        skipped_frames, dropped_frames, fps, width, height, duration_s, faces, faces_per_label, people
        ({label: unique people}), people_total, compliance (share of labelled people, or faces without
        tracking, wearing a mask; None if none), processing_fps, processing_s, line, timeline (rows every
        `timeline_step` s, each the counts of one frame: frame, time, faces, one count per label and
        unknown), events, output, stopped ('end', 'max_frames', 'stop', 'quit', 'interrupted', 'error',
        'source_lost': a camera or stream stopped sending frames, or 'truncated': a file ended well before
        its announced length).

    Raises:
        OutputError: (an OSError) the video, events or summary could not be written, e.g. a full disk;
            what was written before is closed and kept.
    """
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be at least 1, but got {max_frames}")
    if output is not None:
        _fourcc(Path(output))  # a bad extension fails before any work
    src = source if isinstance(source, VideoSource) else open_source(source)
    stopped_by = None if stop is None else getattr(stop, "is_set", stop)
    try:
        proc = VideoProcessor(
            pipeline,
            fps=src.fps,
            track=track,
            blur=blur,
            live=src.live,
            tracker=tracker,
            line=line,
            timeline_step=timeline_step,
        )
    except BaseException:
        src.close()
        raise
    total = planned_frames(src, max_frames)
    skipped = 0
    stopped = "end"
    failed = False
    events_file = None
    try:
        events_file = _open_events(events)  # lines are written as events happen
        with VideoWriter(output, fps=src.fps, size=(src.width, src.height)) as writer:
            for frame in src:
                if stopped_by is not None and stopped_by():
                    stopped = "stop"
                    break
                if not _valid_frame(frame):
                    skipped += 1
                    continue
                annotated, faces = proc.process(frame)
                for event in proc.new_events:
                    _append_line(events_file, events, json.dumps(event))
                repeat = 1
                if src.live:  # fill the wall-clock time this frame stood for
                    repeat = min(max(1, round(proc.time * src.fps) + 1 - writer.frames), max(1, round(2 * src.fps)))
                for _ in range(repeat):
                    writer.write(annotated)
                if progress is not None:
                    progress(proc.frames, total)
                if on_frame is not None and on_frame(annotated, faces):
                    stopped = "quit"
                    break
                if max_frames is not None and proc.frames >= max_frames:
                    stopped = "max_frames"
                    break
        if stopped == "end" and (src.lost or src.truncated):
            stopped = "source_lost" if src.lost else "truncated"
    except KeyboardInterrupt:
        stopped = "interrupted"
    except BaseException:
        stopped = "error"
        failed = True
        raise
    finally:
        src.close()
        if events_file is not None:
            with contextlib.suppress(OSError):  # every line was flushed as it was written
                events_file.close()
        result = VideoSummary(
            source=redact(src.source),
            live=src.live,
            **proc.summary(),
            skipped_frames=src.skipped + skipped,
            dropped_frames=src.dropped,
            output=None if output is None else str(output),
            stopped=stopped,
        )
        if not proc.frames:
            result.width, result.height = src.width, src.height
        if summary is not None:
            try:
                _write_json(Path(summary), result.to_dict())
            except OutputError:
                if not failed:  # else the error already on its way says more
                    raise
    return result
