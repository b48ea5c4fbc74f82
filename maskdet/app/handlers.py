"""The request handlers behind every tab and endpoint: image, webcam frame, video file, stop, model info.

They are plain methods of `MaskdetApp`, which tests call directly as well; the UI only wires them.
Inputs are checked in `maskdet.app.inputs`; what comes back is built in `maskdet.app.render`.
"""

from __future__ import annotations

import argparse
import atexit
import json
import re
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from maskdet.annotate import draw
from maskdet.app import render
from maskdet.app.inputs import check_uploaded, flag, hide_paths, input_error, payload_path, read_image, threshold
from maskdet.app.models import Models, _Serialised
from maskdet.io.images import bgr_to_rgb
from maskdet.video import LimitError, VideoProcessor, open_source, run_video

KEEP_SECONDS = 3600  # annotated videos and timelines are deleted after an hour, and all of them at exit
MAX_VIDEO_PIXELS = 3840 * 2160


@dataclass
class LiveState:
    """One webcam session (kept in gr.State, one per browser tab or API client session).

    Attributes:
        processor: the video engine's `VideoProcessor` (tracker, FPS, people, events) for this session.
        track: whether `processor` tracks; toggling tracking starts a new one.
    """

    processor: VideoProcessor | None = None
    track: bool = True


def _prune(folder: Path, older_than: float = KEEP_SECONDS) -> None:
    """Delete request folders older than `older_than` seconds (Gradio keeps its own copies)."""
    if not folder.is_dir():
        return
    cutoff = time.time() - older_than
    for child in folder.iterdir():
        try:
            if child.stat().st_mtime < cutoff:
                shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink()
        except OSError:
            pass


def _storage_error(error: OSError) -> gr.Error:
    return input_error(f"Cannot save results on the server: {hide_paths(error)}", title="Server storage")


class MaskdetApp:
    """The app's state (models, limits, per-session stop flags, its temporary folder) and request handlers.

    Everything it writes (annotated videos, timelines, image downloads) goes in one temporary folder
    that `cleanup()` deletes; it runs at interpreter exit too.
    """

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.models = Models(args.detector, args.classifier, args.imgsz, args.live_imgsz, args.zoom, args.flip)
        self._stops: dict[str, threading.Event] = {}
        self.work_dir = Path(tempfile.mkdtemp(prefix="maskdet-app-"))
        atexit.register(self.cleanup)

    def cleanup(self) -> None:
        """Delete every file this app wrote (Gradio deletes its own copies when its server closes)."""
        shutil.rmtree(self.work_dir, ignore_errors=True)

    # ---- image
    def detect_image(
        self,
        image: Any,
        face_threshold: float | None = None,
        label_threshold: float | None = None,
        blur: bool = False,
        request: gr.Request | None = None,
    ) -> tuple[np.ndarray, dict]:
        """Image -> (annotated RGB image, result JSON: faces, counts, compliance, size, timing)."""
        blur = flag("blur", blur, False)
        frame = read_image(image, request)
        pipe = self._pipeline(face_threshold, label_threshold)
        t0 = time.perf_counter()
        faces = pipe(frame)
        ms = (time.perf_counter() - t0) * 1000
        h, w = frame.shape[:2]
        return bgr_to_rgb(draw(frame, faces, blur=blur)), render.image_result(faces, w, h, ms)

    def render_image_result(self, result: dict) -> tuple[list[list], str, str | None, str | None]:
        """Result JSON -> (table rows, counts line, the JSON and a CSV of one row per face to download)."""
        if not isinstance(result, dict) or "faces" not in result:
            return [], "", None, None
        try:
            _prune(self.work_dir / "results")
            folder = self.work_dir / "results" / uuid.uuid4().hex
            folder.mkdir(parents=True)
            rows, json_path, csv_path = render.write_image_downloads(result, folder)
        except OSError as e:
            raise _storage_error(e) from e
        return render.table_rows(rows), render.counts_markdown(result), str(json_path), str(csv_path)

    # ---- live webcam
    def detect_frame(
        self,
        frame: Any,
        state: LiveState | None = None,
        face_threshold: float | None = None,
        label_threshold: float | None = None,
        blur: bool = False,
        track: bool = True,
        request: gr.Request | None = None,
    ) -> tuple[np.ndarray, LiveState, dict]:
        """One webcam frame -> (annotated RGB frame, session state, JSON with counts, people, FPS).

        The same function serves the live stream and its `/detect_frame` twin: a client's successive
        calls share one `VideoProcessor` (its session), so track ids and smoothed labels carry over.
        """
        blur, track = flag("blur", blur, False), flag("track", track, True)
        image = read_image(frame, request)
        state = state if isinstance(state, LiveState) else LiveState()
        pipe = self._pipeline(face_threshold, label_threshold, live=True)
        t0 = time.perf_counter()
        if state.processor is None or state.track != track:
            state.processor = VideoProcessor(pipe, fps=10.0, track=track, live=True)
            state.track = track
        proc = state.processor
        proc.pipeline, proc.blur = pipe, blur  # settings may change between frames
        annotated, faces = proc.process(image)
        fps, people, events, n = proc.display_fps, proc.people(), list(proc.new_events), proc.frames
        ms = (time.perf_counter() - t0) * 1000
        return bgr_to_rgb(annotated), state, render.frame_result(faces, fps, ms, n, people, events)

    # ---- video file
    def detect_video(
        self,
        video: Any,
        face_threshold: float | None = None,
        label_threshold: float | None = None,
        blur: bool = False,
        track: bool = True,
        request: gr.Request | None = None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio injects its tracker through this default)
    ) -> tuple[str, dict, str, str]:
        """Video -> (annotated H.264 .mp4 path, summary JSON, timeline CSV path, summary JSON file path).

        The summary is `maskdet.video.run_video`'s, as JSON (frames, fps, size, faces, people, compliance,
        timeline with one row a second, events, ...) without server paths, plus `stopped`. Videos over
        the duration limit are refused from their header, before any frame is decoded.
        """
        blur, track = flag("blur", blur, False), flag("track", track, True)
        path = payload_path(video)
        if not path:
            raise input_error("No video: upload a video file first.", title="No video")
        check_uploaded(path, request)
        limit = float(self.args.max_video_seconds)
        source = self._open_video(Path(path), limit)
        fps = float(source.fps)
        try:
            pipe = self._pipeline(face_threshold, label_threshold, live=True)
            _prune(self.work_dir / "videos")
            out_dir = self.work_dir / "videos" / uuid.uuid4().hex
            out_dir.mkdir(parents=True)
        except OSError as e:
            source.close()
            raise _storage_error(e) from e
        except BaseException:
            source.close()
            raise
        stem = re.sub(r"[^\w.-]+", "_", Path(path).stem)[:60] or "video"
        output, json_path = out_dir / f"{stem}_maskdet.mp4", out_dir / f"{stem}_maskdet.json"
        session = self._session(request)
        stop = self._stops[session] = threading.Event()

        def on_progress(done: int, total: int | None) -> None:
            progress((done, total) if total else None, desc="Annotating", unit="frames")

        progress(0, desc="Annotating", unit="frames")
        try:
            summary = run_video(
                pipe,
                source,  # opened above; run_video closes it
                output,
                track=track,
                blur=blur,
                max_frames=int(limit * fps) + 1,  # files whose header gave no frame count stop here too
                progress=on_progress,
                stop=stop,
            )
        except (ValueError, FileNotFoundError, OSError) as e:
            raise input_error(f"Cannot process this video: {hide_paths(e)}", title="Video failed") from e
        finally:
            self._stops.pop(session, None)
        if not summary.frames or not output.is_file():
            raise input_error("No frame of this video could be decoded; it is empty or corrupt.", title="Video failed")
        text = render.video_json(summary)
        csv_path = out_dir / f"{stem}_timeline.csv"
        try:
            render.write_video_downloads(text, summary.to_csv_rows(), csv_path, json_path)
        except OSError as e:
            raise _storage_error(e) from e
        # the answer is the file's JSON read back: numpy values plain, exactly what the download holds
        return str(output), json.loads(text), str(csv_path), str(json_path)

    def _open_video(self, path: Path, max_seconds: float) -> Any:
        """The video's frame source, or a gr.Error: over the app's limits (from the header) or unreadable."""
        try:
            return open_source(path, live=False, max_seconds=max_seconds, max_pixels=MAX_VIDEO_PIXELS)
        except LimitError as e:
            raise input_error(
                f"This {hide_paths(e)}. Trim or resize it, or run `python detect_video.py` on your own machine: it "
                "has no such limits.",
                title="Video too long or too large",
            ) from e
        except (ValueError, FileNotFoundError, OSError) as e:
            raise input_error(f"Cannot read this video: {hide_paths(e)}", title="Not a usable video") from e

    def stop_video(self, request: gr.Request | None = None) -> None:
        """Stop this session's running video at the next frame; what is done so far comes back."""
        event = self._stops.get(self._session(request))
        if event is not None:
            event.set()
            gr.Info("Stopping after the current frame…")

    def render_video_summary(self, summary: dict) -> tuple[Any, str]:
        """Summary JSON -> (% of faces per label, one row a second, for the plot; a one-line summary)."""
        import pandas as pd

        if not isinstance(summary, dict) or "frames" not in summary:
            return None, ""
        plot = pd.DataFrame(render.video_plot_rows(summary), columns=["time (s)", "label", "% of faces"])
        return plot, render.video_markdown(summary)

    # ---- about
    def model_info(self) -> dict:
        """Loaded models, where they came from, their metrics and the app's settings and limits."""
        info = self.models.info()
        if info["loaded"]:
            info["limits"] = {
                "max_upload_mb": self.args.max_upload_mb,
                "max_video_seconds": self.args.max_video_seconds,
                "queue_size": self.args.queue_size,
            }
        return info

    def about_markdown(self, info: dict) -> str:
        """A short summary: the two models, how they run, one headline figure each, licences, the full card."""
        return render.about_markdown(info)

    def status(self) -> str:
        """A warning shown above the tabs when no model can load (empty when all is well)."""
        problem = self.models.problem()
        return f"⚠️ **No models available.** {hide_paths(problem)}" if problem else ""  # the page is public

    # ---- helpers
    def _pipeline(self, face_threshold: float | None, label_threshold: float | None, live: bool = False) -> _Serialised:
        face = threshold("face_threshold", face_threshold, self.args.face_threshold)
        label = threshold("label_threshold", label_threshold, self.args.label_threshold)
        return self.models.pipeline(face, label, live=live)

    @staticmethod
    def _session(request: gr.Request | None) -> str:
        return getattr(request, "session_hash", None) or "local"
