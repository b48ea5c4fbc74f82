"""`python detect_video.py`: face-mask detection on a webcam, a video file or a stream, with tracking, counts,
events and a summary.

The work happens in `maskdet.video` (`run_video`); this module parses flags, opens the window and shows
progress. detect_video.py at the top of the clone only calls `main`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from maskdet._env import configure_offline, sigterm_as_interrupt
from maskdet.cli import add_model_args, pipeline_from_args, progress_bar
from maskdet.presets import LIVE
from maskdet.results import VideoSummary

WINDOW = "maskdet (q or Esc quits)"


def has_display() -> bool:
    """Whether a window can open: on Linux the Qt build of OpenCV aborts the process without one."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


class Window:
    """An OpenCV window fed with annotated frames; reports True (stop) on q or Esc."""

    def __init__(self, name: str = WINDOW) -> None:
        self.name = name
        self.failed = False

    def __call__(self, frame: Any, faces: Any) -> bool:
        import cv2

        if self.failed:
            return False
        try:
            cv2.imshow(self.name, frame)
            key = cv2.waitKey(1) & 0xFF
        except cv2.error as e:  # a headless OpenCV build: keep processing without a window
            reason = str(e).strip().splitlines()[-1]
            print(f"warning: cannot show a window ({reason}); going on without one", file=sys.stderr)
            self.failed = True
            return False
        return key in (ord("q"), 27)

    def close(self) -> None:
        if not self.failed:
            import cv2

            try:
                cv2.destroyWindow(self.name)
                cv2.waitKey(1)
            except cv2.error:
                pass


def parse_line(text: str) -> tuple[float, float, float, float]:
    """'x1,y1,x2,y2' in fractions of the frame -> floats (argparse type; `maskdet.video.check_line` rules)."""
    from maskdet.video import check_line

    try:
        return check_line(tuple(float(v) for v in text.split(",")))
    except ValueError as e:
        message = f"expected x1,y1,x2,y2 as fractions of the frame in [0, 1], two distinct points, got {text!r}"
        raise argparse.ArgumentTypeError(message) from e


def run(
    source: Any,
    pipeline: Any,
    output: Path | None = None,
    *,
    events: Path | None = None,
    summary: Path | None = None,
    display: bool = False,
    blur: bool = False,
    track: bool = True,
    smooth: int = 15,
    min_hits: int = 3,
    line: tuple[float, float, float, float] | None = None,
    max_frames: int | None = None,
    progress: bool = True,
) -> VideoSummary:
    """Process one source (a `VideoSource`, or anything `open_source` takes); returns the summary.

    A progress bar (stderr) for files, none for live sources; a window when `display`.
    """
    from maskdet.video import Tracker, VideoSource, open_source, run_video

    src = source if isinstance(source, VideoSource) else open_source(source)
    tracker = Tracker(window=smooth, min_hits=min_hits, fps=src.fps) if track else None
    window = Window() if display else None
    bar = progress_bar(src, max_frames) if progress and not src.live else None

    def on_progress(done: int, _total: int | None) -> None:
        if bar is not None:
            bar.update(done - bar.n)

    try:
        return run_video(
            pipeline,
            src,
            output,
            events=events,
            summary=summary,
            track=track,
            blur=blur,
            max_frames=max_frames,
            progress=on_progress,
            on_frame=window,
            tracker=tracker,
            line=line,
        )
    finally:
        if bar is not None:
            bar.close()
        if window is not None:
            window.close()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="detect_video.py",
        description="Detect faces and mask use in a webcam, video file or stream; track people and log events.",
    )
    p.add_argument("--source", default="0", help="webcam index (0), video file, or stream URL (rtsp://, http://)")
    p.add_argument(
        "--output",
        type=Path,
        default=None,
        help="annotated video: .mp4 (H.264) or .webm (VP9) play in browsers; .mkv .mov .avi",
    )
    p.add_argument("--events", type=Path, default=None, help="JSON Lines: one line per person first seen unmasked")
    p.add_argument("--summary", type=Path, default=None, help="JSON summary: people per label, compliance, speed")
    p.add_argument("--no-display", action="store_true", help="no window (automatic when there is no display)")
    p.add_argument("--blur", action="store_true", help="pixelate faces in the window and the output")
    p.add_argument("--no-track", action="store_true", help="label every frame alone: no ids, people or events")
    p.add_argument("--smooth", type=int, default=15, help="frames to smooth each person's label over")
    p.add_argument("--min-hits", type=int, default=3, help="frames before a tracked face counts as a person")
    p.add_argument("--line", type=parse_line, default=None, metavar="X1,Y1,X2,Y2", help="count people crossing")
    p.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_model_args(p, LIVE)
    return p


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 done (also after q, Esc, Ctrl-C or a lost camera), 1 when processing failed midway (a
    full disk, an error: what was written before is kept and plays), 2 when the source, a model or a flag is
    unusable, 130 when interrupted before processing starts."""
    configure_offline()
    a = build_parser().parse_args(argv)
    try:
        with sigterm_as_interrupt():  # `kill` / `docker stop` end the run like Ctrl-C: the video stays playable
            return _main(a)
    except KeyboardInterrupt:  # while the models load; during processing run_video handles it
        print("interrupted", file=sys.stderr)
        return 130


def _main(a: argparse.Namespace) -> int:
    from maskdet._errors import brief
    from maskdet.video import OutputError, open_source

    try:
        src = open_source(a.source)  # before the models load: a wrong path fails at once
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        pipeline = pipeline_from_args(a)  # a missing or corrupt model: the message names the file and the fix
        result = run(
            src,
            pipeline,
            a.output,
            events=a.events,
            summary=a.summary,
            display=not a.no_display and has_display(),
            blur=a.blur,
            track=not a.no_track,
            smooth=a.smooth,
            min_hits=a.min_hits,
            line=a.line,
            max_frames=a.max_frames,
            progress=not a.quiet,
        )
    except OutputError as e:  # a full disk, say: the message names the file; what was written is kept
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as e:  # FileNotFoundError (a model path) is an OSError
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # one line, not a traceback; the output so far is closed and plays
        print(f"error: processing stopped ({brief(e)}); the output written so far is kept", file=sys.stderr)
        return 1
    finally:
        src.close()
    for warning in warnings(result, src.frame_count):
        print(f"warning: {warning}", file=sys.stderr)
    print(json.dumps(result.brief()))
    return 0


def warnings(summary: VideoSummary, frame_count: int | None = None) -> list[str]:
    """What went wrong with the input but did not stop the run, in words (printed to stderr)."""
    out = []
    if summary.skipped_frames:
        out.append(f"skipped {summary.skipped_frames} corrupt frame(s); every other frame was processed")
    if summary.stopped == "source_lost":
        out.append("the source stopped sending frames (camera unplugged or stream down); all up to then is saved")
    if summary.stopped == "truncated":
        out.append(
            f"the file ended after {summary.frames} of the {frame_count or '?'} frames its header announces (cut "
            "short or corrupt); those frames were processed"
        )
    return out
