"""Video in, video out, and the engine that runs the pipeline over it.

`open_source` gives BGR frames from a webcam index, a file or a stream URL (live sources are read by a
background thread that keeps only the newest frame, so latency does not grow when inference is slower
than the camera). `VideoWriter` opens lazily and always closes its file, so the output plays even after
an error or Ctrl-C. `VideoProcessor` is the per-frame engine (pipeline -> tracker -> drawing, counts,
timeline, events) shared by `process_video`, `detect_video.py` and the app's video and webcam tabs.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from maskdet.annotate import SHORT, draw
from maskdet.results import UNKNOWN, Faces, compliance
from maskdet.tracking import VIOLATIONS, Tracker

__all__ = [
    "CODECS",
    "VIOLATIONS",
    "LineCounter",
    "Tracker",
    "VideoProcessor",
    "VideoSource",
    "VideoWriter",
    "frames",
    "open_source",
    "process_video",
    "redact",
    "status_bar",
]

CODECS = {".webm": "VP90", ".mkv": "VP90", ".mp4": "mp4v", ".mov": "mp4v", ".avi": "MJPG"}  # what OpenCV can write
DEFAULT_FPS = 30.0
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_HTTP = ("http://", "https://")
MAX_BAD_FRAMES = 30  # consecutive undecodable frames in a file before it counts as ended
_USERINFO = re.compile(r"(?<=://)[^/@]+@")


def redact(source: object) -> str:
    """The source as text without the user:password of a stream URL (for messages and summaries)."""
    return _USERINFO.sub("***@", str(source))


class _Stop(Protocol):
    def is_set(self) -> bool: ...


def _as_fps(value: float) -> float:
    """A usable frame rate: OpenCV reports 0 or nonsense for many webcams and streams."""
    return float(value) if math.isfinite(value) and 0 < value <= 1000 else DEFAULT_FPS


class VideoSource:
    """BGR frames from an opened capture; iterate it once, then `close()` (or use `with`).

    Attributes:
        source: what was opened (int webcam index, URL or file path as a string).
        fps: frames per second (30 when the source does not say).
        width, height: frame size in pixels (from the first frame).
        frame_count: frames in a file (OpenCV's estimate); None for live sources.
        live: a webcam or stream: read in the background, only the newest frame is handed out.
        skipped: corrupt frames skipped in a file.
        dropped: live frames never handed out because a newer one arrived first.
    """

    def __init__(
        self, capture: cv2.VideoCapture, source: int | str, first: np.ndarray, *, live: bool, stall: float = 10.0
    ) -> None:
        self._cap = capture
        self._stall = stall  # live: seconds without a good frame before the source counts as ended
        self.source = source
        self.live = live
        self.fps = _as_fps(capture.get(cv2.CAP_PROP_FPS))
        self.height, self.width = first.shape[:2]
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frame_count: int | None = None if live or count <= 0 else count
        self.skipped = 0
        self.dropped = 0
        self._first: np.ndarray | None = first
        self._closed = threading.Event()
        self._cond = threading.Condition()
        self._ended = False
        self._latest: np.ndarray | None = None  # live: the newest frame not yet handed out
        self._thread: threading.Thread | None = None
        if live:
            self._thread = threading.Thread(target=self._grab, name=f"maskdet-grab-{source}", daemon=True)
            self._thread.start()

    def __repr__(self) -> str:
        kind = "live" if self.live else f"{self.frame_count} frames"
        return f"VideoSource({redact(self.source)!r}, {self.width}x{self.height}, {self.fps:g} fps, {kind})"

    def __iter__(self) -> Iterator[np.ndarray]:
        """(H, W, 3) uint8 BGR frames, in order; a live source yields the newest frame each time."""
        return self._iter_live() if self.live else self._iter_file()

    def _iter_file(self) -> Iterator[np.ndarray]:
        if self._first is not None:
            frame, self._first = self._first, None
            yield frame
        failures = 0
        while not self._closed.is_set():
            ok, frame = self._cap.read()
            if ok and frame is not None:
                self.skipped += failures  # only failures followed by a good frame were corrupt frames
                failures = 0
                yield frame
                continue
            failures += 1  # a corrupt frame mid-file fails one read; the next read goes on after it
            if self.frame_count is None or failures > MAX_BAD_FRAMES:
                return

    def _grab(self) -> None:
        """Background reader for live sources: keep only the newest frame."""
        last_good = time.monotonic()
        with self._cond:
            self._latest, self._first = self._first, None
        try:
            while not self._closed.is_set():
                ok, frame = self._cap.read()
                if not ok or frame is None:
                    if time.monotonic() - last_good > self._stall:  # camera unplugged, stream over
                        return
                    time.sleep(0.01)
                    continue
                last_good = time.monotonic()
                with self._cond:
                    if self._latest is not None:
                        self.dropped += 1
                    self._latest = frame
                    self._cond.notify_all()
        finally:
            with self._cond:
                self._ended = True
                self._cond.notify_all()
            self._cap.release()  # the thread owns the capture: never release it under a blocked read

    def _iter_live(self) -> Iterator[np.ndarray]:
        while True:
            with self._cond:
                while self._latest is None and not self._ended and not self._closed.is_set():
                    self._cond.wait(0.5)
                if self._latest is None:
                    return
                frame, self._latest = self._latest, None
            yield frame

    def close(self) -> None:
        """Stop reading and release the capture (idempotent)."""
        if self._closed.is_set():
            return
        self._closed.set()
        if self._thread is not None:
            with self._cond:
                self._cond.notify_all()
            self._thread.join(timeout=5)
        else:
            self._cap.release()

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _parse_source(source: str | int | Path) -> tuple[str, int | str]:
    """('camera', index) / ('url', url) / ('file', path)."""
    if isinstance(source, bool):
        raise ValueError(f"source must be a webcam index, a file path or a URL, but got {source!r}")
    if isinstance(source, int):
        return "camera", source
    text = str(source).strip()
    if not text:
        raise ValueError("source is empty: pass a webcam index (0), a video file or a stream URL")
    if isinstance(source, str) and text.isdigit():
        return "camera", int(text)
    if isinstance(source, str) and _URL.match(text):
        return "url", text
    if text.startswith("/dev/video"):
        return "camera", text
    return "file", text


@contextlib.contextmanager
def _quiet_opencv() -> Iterator[None]:
    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging is None:
        yield
        return
    before = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        logging.setLogLevel(before)


def open_source(source: str | int | Path, *, live: bool | None = None, timeout: float = 10.0) -> VideoSource:
    """Open a webcam index (0 or "0"), a video file or a stream URL (rtsp://, http(s)://, ...).

    Args:
        source: what to read.
        live: force live (background reader, newest frame only) or file (every frame) reading; default:
            webcams and streams are live, files and http(s) URLs with a known length are not.
        timeout: seconds to wait for a stream to answer when opening and reading, and without a frame
            before a stream counts as ended (3 s for a camera).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: it cannot be opened or gives no frame; the message names the source.
    """
    kind, target = _parse_source(source)
    if kind == "file":
        path = Path(target).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"video file not found: {str(path)!r}")
        if path.is_dir():
            raise ValueError(f"Cannot open video/capture source: {str(path)!r} is a folder, not a video file")
        target = str(path)
    with _quiet_opencv():  # OpenCV logs a screenful per failed backend; our error says it in one line
        if kind == "url":
            ms = int(timeout * 1000)
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
            cap = cv2.VideoCapture(target, cv2.CAP_FFMPEG, params)
        else:
            cap = cv2.VideoCapture(target)
    if not cap.isOpened():
        cap.release()
        why = {
            "camera": "no camera at that index, or another program is using it",
            "url": "check the URL and credentials, and that the stream is up and reachable",
            "file": "not a video file OpenCV/FFmpeg can decode",
        }[kind]
        shown = target if kind == "camera" else redact(target)
        raise ValueError(f"Cannot open video/capture source: {shown!r} ({why})")
    if kind == "camera":
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # fewer stale frames queued in the driver, where supported
    ok, first = cap.read()
    if not ok or first is None:
        cap.release()
        shown = target if kind == "camera" else redact(target)
        raise ValueError(f"Cannot read a frame from video/capture source: {shown!r} (empty, corrupt or no signal)")
    if live is None:
        live = kind == "camera" or (
            kind == "url" and (not target.lower().startswith(_HTTP) or cap.get(cv2.CAP_PROP_FRAME_COUNT) <= 0)
        )
    stall = {"url": timeout, "camera": 3.0, "file": 0.0}[kind]  # a file read live ends at its end
    return VideoSource(cap, target, first, live=live, stall=stall)


def frames(source: str | int | Path) -> Iterator[np.ndarray]:
    """Every BGR frame of a source (newest-only for live ones); closes the source when done."""
    with open_source(source) as src:
        yield from src


def _fourcc(path: Path) -> str:
    codec = CODECS.get(path.suffix.lower())
    if codec is None:
        raise ValueError(
            f"cannot write video {str(path)!r}: unsupported extension {path.suffix!r}; use one of {', '.join(CODECS)} "
            "(.webm plays in browsers)"
        )
    return codec


class VideoWriter:
    """Write BGR frames to a video file; the codec follows the extension (see `CODECS`).

    Opens on the first frame (size from `size` or that frame); frames of another size are resized. Use it
    as a context manager: the file is closed, and so playable, even when the block raises (Ctrl-C
    included). A `path` of None writes nothing, so callers need no branch for "no output".

    Args:
        path: output file (.webm, .mkv, .mp4, .mov or .avi) or None.
        fps: frame rate written into the file.
        size: (width, height), or None to take the first frame's.
    """

    def __init__(self, path: str | Path | None, fps: float = DEFAULT_FPS, size: tuple[int, int] | None = None) -> None:
        self.path = None if path is None else Path(path)
        self.codec = None if self.path is None else _fourcc(self.path)
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be positive, but got {fps}")
        self.fps = float(fps)
        self.size = None if size is None else (int(size[0]), int(size[1]))
        self.frames = 0
        self._writer: cv2.VideoWriter | None = None

    def write(self, frame: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 BGR frame (grayscale and BGRA are converted)."""
        if self.path is None:
            return
        if frame.ndim == 2 or frame.shape[2] == 1:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        elif frame.shape[2] == 4:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
        if self._writer is None:
            self._open(frame)
        h, w = frame.shape[:2]
        if (w, h) != self.size:  # OpenCV silently drops frames of another size
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        self._writer.write(np.ascontiguousarray(frame, dtype=np.uint8))
        self.frames += 1

    def _open(self, frame: np.ndarray) -> None:
        if self.size is None:
            self.size = (frame.shape[1], frame.shape[0])
        self.path.parent.mkdir(parents=True, exist_ok=True)
        writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*self.codec), self.fps, self.size)
        if not writer.isOpened():
            raise OSError(f"cannot open a video writer for {str(self.path)!r} (codec {self.codec}, size {self.size})")
        self._writer = writer

    def close(self) -> None:
        """Finish the file (idempotent)."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LineCounter:
    """People crossing a line, per label (supervision's `LineZone`, triggered by the face centre).

    Args:
        line: (x1, y1, x2, y2) as fractions of the frame width and height, so one setting fits any
            resolution; "in" and "out" follow supervision's convention for the start -> end direction.
    """

    def __init__(self, line: Sequence[float]) -> None:
        values = [float(v) for v in line]
        if len(values) != 4 or not all(0.0 <= v <= 1.0 for v in values):
            raise ValueError(f"line must be (x1, y1, x2, y2) as fractions of the frame in [0, 1], but got {line!r}")
        if values[:2] == values[2:]:
            raise ValueError(f"line must have two distinct end points, but got {line!r}")
        self.line = tuple(values)
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
        tracked = faces[keep]
        detections = sv.Detections(
            xyxy=tracked.boxes.reshape(-1, 4), tracker_id=tracked.track_ids, class_id=tracked.label_ids
        )
        self._zone.trigger(detections)

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
    h, w = frame.shape[:2]
    thickness = max(1, round(w / 480))
    scale = max(0.35, w / 1400) * 1.1
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    pad = max(3, th // 3)
    top = max(0, h - th - base - 2 * pad)
    strip = frame[top:, : min(w, tw + 2 * pad)]
    strip[:] = (strip * 0.35).astype(np.uint8)
    cv2.putText(
        frame, text, (pad, h - base - pad), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness, cv2.LINE_AA
    )
    return frame


def _people_text(people: dict[str, int]) -> str:
    parts = [f"{n} {SHORT.get(label, label)}" for label, n in people.items() if n]
    return f"people {sum(people.values())}" + (": " + ", ".join(parts) if parts else "")


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
        elapsed = (self._t_last - self._t_first) if self._t_first is not None else 0.0
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
    """Write whole or not at all: a reader never sees half a summary."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def process_video(
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
) -> dict[str, Any]:
    """Run the pipeline over a webcam, file or stream; write the annotated video, events and summary.

    Stops at the end of the source, after `max_frames`, when `stop.is_set()`, when `on_frame` returns
    True, or on Ctrl-C; the output video, events and summary are complete in every case.

    Args:
        pipeline: callable BGR frame -> `Faces`.
        source: webcam index, file, URL (see `open_source`) or an already opened `VideoSource` (closed here).
        output: annotated video file (.webm for browsers, .mp4, .avi, .mkv) or None. For live sources each
            frame is repeated to fill the time it stood for, so the video plays at real speed.
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
        The summary: source, live, frames, skipped_frames, dropped_frames, fps, width, height, duration_s,
        faces, faces_per_label, people ({label: unique people}), people_total, compliance (share of
        labelled people, or faces without tracking, wearing a mask; None if none), processing_fps,
        processing_s, line, timeline (rows every `timeline_step` s, each the counts of one frame: frame,
        time, faces, one count per label and unknown), events,
        output, stopped ('end', 'max_frames', 'stop', 'quit', 'interrupted' or 'error').
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
    total = src.frame_count if max_frames is None or src.frame_count is None else min(src.frame_count, max_frames)
    skipped = 0
    stopped = "end"
    events_file = None
    try:
        if events is not None:
            Path(events).parent.mkdir(parents=True, exist_ok=True)
            events_file = open(events, "w")  # closed in finally; lines are written as events happen
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
                    if events_file is not None:
                        events_file.write(json.dumps(event) + "\n")
                        events_file.flush()
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
    except KeyboardInterrupt:
        stopped = "interrupted"
    except BaseException:
        stopped = "error"
        raise
    finally:
        src.close()
        if events_file is not None:
            events_file.close()
        result = {
            "source": redact(src.source),
            "live": src.live,
            **proc.summary(),
            "skipped_frames": src.skipped + skipped,
            "dropped_frames": src.dropped,
            "output": None if output is None else str(output),
            "stopped": stopped,
        }
        if not proc.frames:
            result.update(width=src.width, height=src.height)
        if summary is not None:
            _write_json(Path(summary), result)
    return result
