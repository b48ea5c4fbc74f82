"""Video in and out: BGR frames from a webcam, a file or a stream, and a writer that always closes its file.

`open_source` gives frames from a webcam index, a file or a stream URL (live sources are read by a
background thread that keeps only the newest frame, so latency does not grow when inference is slower
than the camera); a file that cannot give frames gets an error that says why (no video stream, no
frames, truncated). `VideoWriter` opens lazily and always closes its file, so the output plays even
after an error, Ctrl-C or a full disk. The engine that runs the pipeline over frames is `maskdet.video`.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from maskdet.io.images import MIN_SIDE

__all__ = [
    "CODECS",
    "DEFAULT_FPS",
    "LimitError",
    "OutputError",
    "VideoSource",
    "VideoWriter",
    "frames",
    "open_source",
    "redact",
]

CODECS = {".webm": "VP90", ".mkv": "VP90", ".mp4": "mp4v", ".mov": "mp4v", ".avi": "MJPG"}  # what OpenCV can write
# Preferred encoders through PyAV (FFmpeg's libraries, installed with supervision): they play in browsers and
# keep up with live inference. Measured on one generated 640x480 clip, 2 cores (docs/speed.md): OpenCV's VP9
# 3.9-5.7 FPS; PyAV H.264 (x264 ultrafast) 83 FPS, VP9 realtime 38 FPS; OpenCV mp4v 101 FPS (does not play in
# browsers). OpenCV writes when PyAV or the encoder is missing, and always for .avi.
AV_CODECS = {
    ".mp4": ("libx264", {"preset": "ultrafast", "crf": "23"}),
    ".mov": ("libx264", {"preset": "ultrafast", "crf": "23"}),
    ".webm": ("libvpx-vp9", {"deadline": "realtime", "cpu-used": "8", "row-mt": "1", "crf": "32", "b": "0"}),
    ".mkv": ("libvpx-vp9", {"deadline": "realtime", "cpu-used": "8", "row-mt": "1", "crf": "32", "b": "0"}),
}
DEFAULT_FPS = 30.0
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_HTTP = ("http://", "https://")
MAX_BAD_FRAMES = 30  # consecutive undecodable frames in a file before it counts as ended
_USERINFO = re.compile(r"(?<=://)[^/@]+@")
MIN_FREE_BYTES = 32 * 1024 * 1024  # the writer stops short of a full disk: OpenCV's writer fails silently there


class LimitError(ValueError):
    """A video over a duration or size limit (refused from its header, before any frame is processed)."""


class OutputError(OSError):
    """An output could not be written (disk full, no permission, ...). Everything written before it is
    closed and kept: the video plays up to the last frame written."""


def output_error(error: OSError, path: str | Path, kept: str = "") -> OutputError:
    """`error` while writing `path` -> an `OutputError` that names the file, the reason and the fix."""
    reason = error.strerror or str(error)
    if error.errno == errno.ENOSPC:
        reason = f"the disk is full ({reason})"
    out = OutputError(
        f"cannot write {str(path)!r}: {reason}{'; ' + kept if kept else ''}. Free some space or write elsewhere"
    )
    out.errno = error.errno
    return out


def redact(source: object) -> str:
    """The source as text without the user:password of a stream URL (for messages and summaries)."""
    return _USERINFO.sub("***@", str(source))


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
        read: frames handed out so far.
        lost: a live source stopped sending frames (camera unplugged, stream down) for longer than its timeout.
        truncated: a file ended well before the frame count its header announces (cut short or corrupt).
    """

    read = 0
    lost = False
    truncated = False

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
        self.read = 0
        self.lost = False
        self.truncated = False
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
        for frame in self._iter_live() if self.live else self._iter_file():
            self.read += 1
            yield frame

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
                # OpenCV's count is an estimate from the duration: only a clear shortfall means a cut file
                self.truncated = self.frame_count is not None and self.read < 0.9 * self.frame_count - 1
                return

    def _grab(self) -> None:
        """Background reader for live sources: keep only the newest frame."""
        last_good = time.monotonic()
        with self._cond:
            self._latest, self._first = self._first, None
        try:
            while not self._closed.is_set():
                try:
                    ok, frame = self._cap.read()
                except cv2.error:  # some backends raise when the device vanishes
                    ok, frame = False, None
                if not ok or frame is None:
                    if time.monotonic() - last_good > self._stall:  # camera unplugged, stream over
                        self.lost = self._stall > 0 and not self._closed.is_set()
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
        # A read that blocks (a driver waiting on a vanished device) never reaches the reader's own timeout:
        # the consumer gives up too, a little later.
        patience = self._stall + 2.0 if self._stall > 0 else math.inf
        while True:
            with self._cond:
                waited = time.monotonic()
                while self._latest is None and not self._ended and not self._closed.is_set():
                    if time.monotonic() - waited > patience:
                        self.lost = True
                        return
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
    # FFmpeg's own log ("moov atom not found", ...) is read once, before the first capture opens; our
    # errors say what it would in one line (`_why_no_frames`). A user's own setting wins.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
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


@contextlib.contextmanager
def _silent_stderr() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for a moment: OpenCV's FFmpeg backend prints there directly."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _why_no_frames(path: str) -> str:
    """Why FFmpeg gives no frame from a file, in words; PyAV (a supervision dependency) probes the container."""
    if os.path.getsize(path) == 0:
        return "the file is empty: 0 bytes"
    try:
        import av
    except ImportError:
        return "not a video file OpenCV/FFmpeg can decode"
    try:
        with av.open(path) as container:
            kinds = sorted({stream.type for stream in container.streams})
            has_video = bool(container.streams.video)
    except Exception as e:  # av.error.InvalidDataError, EOFError, ...: FFmpeg cannot parse the container
        return f"not a video, or cut short or corrupt: FFmpeg says {getattr(e, 'strerror', None) or e!s}"
    if not has_video:
        return f"no video stream, only {' and '.join(kinds)}" if kinds else "no video stream: the file holds no frames"
    return "its video stream has no frame that decodes: empty, cut short or corrupt"


def open_source(
    source: str | int | Path,
    *,
    live: bool | None = None,
    timeout: float = 10.0,
    max_seconds: float | None = None,
    max_pixels: int | None = None,
) -> VideoSource:
    """Open a webcam index (0 or "0"), a video file or a stream URL (rtsp://, http(s)://, ...).

    Args:
        source: what to read.
        live: force live (background reader, newest frame only) or file (every frame) reading; default:
            webcams and streams are live, files and http(s) URLs with a known length are not.
        timeout: seconds to wait for a stream to answer when opening and reading, and without a frame
            before a stream counts as ended (3 s for a camera).
        max_seconds: refuse a file whose header says it is longer (a service's limit; None: any length).
        max_pixels: refuse frames larger than this many pixels (None: any size).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: it cannot be opened or gives no frame; the message names the source and says why.
        LimitError: (a ValueError) over `max_seconds` or `max_pixels`.
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
    shown = target if kind == "camera" else redact(target)
    if not cap.isOpened():
        cap.release()
        why = {
            "camera": "no camera at that index, or another program is using it",
            "url": "check the URL and credentials, and that the stream is up and reachable",
        }.get(kind) or _why_no_frames(target)
        raise ValueError(f"Cannot open video/capture source: {shown!r} ({why})")
    if kind == "camera":
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # fewer stale frames queued in the driver, where supported
    ok, first = cap.read()
    if not ok or first is None:
        cap.release()
        why = _why_no_frames(target) if kind == "file" else "no signal, or the stream sent nothing that decodes"
        raise ValueError(f"Cannot read a frame from video/capture source: {shown!r} ({why})")
    if live is None:
        live = kind == "camera" or (
            kind == "url" and (not target.lower().startswith(_HTTP) or cap.get(cv2.CAP_PROP_FRAME_COUNT) <= 0)
        )
    stall = {"url": timeout, "camera": 3.0, "file": 0.0}[kind]  # a file read live ends at its end
    h, w = first.shape[:2]
    if w < MIN_SIDE or h < MIN_SIDE:
        cap.release()
        raise ValueError(f"video/capture source {shown!r} has {w}x{h} frames; at least {MIN_SIDE}x{MIN_SIDE} needed")
    src = VideoSource(cap, target, first, live=live, stall=stall)
    seconds = None if src.frame_count is None else src.frame_count / src.fps
    if max_seconds is not None and seconds is not None and seconds > max_seconds:
        src.close()
        raise LimitError(f"video {shown!r} is {seconds:.1f} s long, over the limit of {max_seconds:g} s")
    if max_pixels is not None and src.width * src.height > max_pixels:
        src.close()
        raise LimitError(f"video {shown!r} is {src.width}x{src.height}, over the limit of {max_pixels:,} pixels")
    return src


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

    OpenCV's writer drops frames silently on a full disk, so free space is checked about once a second
    of video: below `MIN_FREE_BYTES` (or when a write fails) `write` raises `OutputError` and the frames
    written so far still close into a playable file.

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
        try:
            if self.frames % max(1, round(self.fps)) == 0:
                self._check_space()
            self._writer.write(np.ascontiguousarray(frame, dtype=np.uint8))
        except OSError as e:
            raise output_error(e, self.path, f"the {self.frames} frames before are kept and play") from e
        self.frames += 1

    def _check_space(self) -> None:
        free = shutil.disk_usage(self.path.parent).free
        if free < MIN_FREE_BYTES:
            raise OSError(errno.ENOSPC, f"only {free / 2**20:.0f} MB free")

    def _open(self, frame: np.ndarray) -> None:
        if self.size is None:
            self.size = (frame.shape[1], frame.shape[0])
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise output_error(e, self.path) from e
        writer = _AVWriter.open(self.path, self.fps, self.size)
        if writer is not None:
            self.size, self.codec = writer.size, writer.codec  # H.264 and VP9 want even sides
        else:  # OpenCV prints a line on every VP9 .webm open ("tag ... is not supported"): noise, not news
            with _quiet_opencv(), _silent_stderr():
                writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*self.codec), self.fps, self.size)
        if not writer.isOpened():
            raise OutputError(
                f"cannot open a video writer for {str(self.path)!r} (codec {self.codec}, size {self.size}): check "
                "that the folder is writable and the disk not full"
            )
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


class _AVWriter:
    """An FFmpeg encoder through PyAV with cv2.VideoWriter's three methods (write, isOpened, release)."""

    def __init__(self, container, stream, size: tuple[int, int], codec: str) -> None:
        self._container = container
        self._stream = stream
        self.size = size
        self.codec = codec

    @classmethod
    def open(cls, path: Path, fps: float, size: tuple[int, int]) -> _AVWriter | None:
        """A writer for `path`'s extension, or None when PyAV or its encoder is not installed."""
        if path.suffix.lower() not in AV_CODECS:
            return None
        try:
            import av
        except ImportError:
            return None
        from fractions import Fraction

        name, options = AV_CODECS[path.suffix.lower()]
        try:
            av.codec.Codec(name, "w")
        except Exception:  # this FFmpeg build has no such encoder
            return None
        even = (max(2, size[0] // 2 * 2), max(2, size[1] // 2 * 2))
        container_options = {"movflags": "+faststart"} if name == "libx264" else {}  # plays while it loads
        try:
            container = av.open(str(path), "w", options=container_options)
        except OSError as e:
            raise output_error(e, path) from e
        stream = container.add_stream(name, rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height = even
        stream.pix_fmt = "yuv420p"  # what browsers decode
        stream.options = dict(options)
        return cls(container, stream, even, name)

    def isOpened(self) -> bool:  # cv2.VideoWriter's name
        return self._container is not None

    def write(self, frame: np.ndarray) -> None:
        import av

        for packet in self._stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
            self._container.mux(packet)

    def release(self) -> None:
        if self._container is None:
            return
        container, self._container = self._container, None
        try:
            for packet in self._stream.encode():  # flush the encoder's buffered frames
                container.mux(packet)
        finally:
            container.close()
