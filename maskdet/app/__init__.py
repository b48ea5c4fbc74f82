"""The Gradio app: image, live webcam, video file and about tabs, each with a stable HTTP API endpoint.

`build_demo(args)` wires the UI; the work happens in `MaskdetApp`'s handlers, plain functions that
tests call directly as well. Models load on first use, never at import, so the app starts (and shows a
clear message) when no models are available. Top-level `app.py` only parses flags and launches.

Endpoints (every one returns JSON that is useful without the picture):
    /detect_image  image + thresholds + blur -> (annotated image, result JSON)
    /detect_frame  the live tab's streaming function as a plain call (tracking state per client session)
    /detect_video  video + thresholds + blur + track -> (annotated .mp4 (H.264), summary JSON, timeline CSV, JSON file)
    /model_info    which models are loaded and their metrics
"""

from __future__ import annotations

import argparse
import atexit
import csv
import inspect
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from maskdet._env import configure_offline

configure_offline()  # before gradio: no analytics, no hub look-ups

import gradio as gr  # noqa: E402
from gradio.route_utils import FnIndexInferError  # noqa: E402

from maskdet.annotate import COLORS, draw  # noqa: E402
from maskdet.app.inputs import (  # noqa: E402
    check_uploaded,
    flag,
    hide_paths,
    input_error,
    log,
    payload_path,
    read_image,
    threshold,
)
from maskdet.detector import DEFAULT_IMGSZ, LIVE_IMGSZ, detector_metrics  # noqa: E402
from maskdet.export import face_rows, write_rows  # noqa: E402
from maskdet.imageio import bgr_to_rgb  # noqa: E402
from maskdet.results import Faces, compliance  # noqa: E402
from maskdet.tracking import Tracker  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLES_DIR = Path(__file__).parent.parent / "examples"  # CC0 photos, see the README there
MODEL_CARD_URL = "https://github.com/maskdet/maskdet/blob/main/model_card.md"
KEEP_SECONDS = 3600  # annotated videos and timelines are deleted after an hour, and all of them at exit
MAX_VIDEO_PIXELS = 3840 * 2160
STOPPED_TEXT = {
    "stop": "**stopped early**",
    "max_frames": "**stopped at this app's length limit**",
    "truncated": "**the file ended early** (cut short or corrupt): the frames before are annotated",
}
TRACK_MIN_HITS = inspect.signature(Tracker).parameters["min_hits"].default  # frames before a face gets its number
HEX_COLOURS = {label: "#{2:02x}{1:02x}{0:02x}".format(*bgr) for label, bgr in COLORS.items()}  # as the boxes

# Gradio scopes custom CSS to `.contain` inside @media blocks, so the page padding (outside it) shrinks
# with min() instead; on phones wide tables and code scroll in their own box instead of widening the page.
CSS = """
.gradio-container {max-width: 1280px !important; margin: auto;}
.main.fillable.app {padding-left: min(var(--size-8), 3vw) !important;
                    padding-right: min(var(--size-8), 3vw) !important;}
#status:empty {display: none;}
/* Output pictures: the icon buttons sit above the picture, not on it, so the count banner and the face
   labels drawn at its top stay visible (the label chips are off: show_label=False). */
#image-output .icon-button-wrapper, #webcam-output .icon-button-wrapper, #video-output .icon-button-wrapper {
  position: static !important; margin: 0 0 4px auto; width: fit-content;
}
#webcam-note:empty {display: none;}
@media (max-width: 640px) {
  .tab-container button {padding-left: 8px !important; padding-right: 8px !important;}
  #faces-table, #about pre {max-width: calc(100vw - 8vw); overflow-x: auto;}
  h1 {font-size: 1.4em;}
}
"""


# Runs in the browser when the Webcam tab opens; its return value is the note above the webcam (empty: none).
CAMERA_CHECK_JS = """
async () => {
  if (!window.isSecureContext || !navigator.mediaDevices) {
    return "**The browser offers no camera to this page**: browsers allow cameras only on https:// or " +
      "http://localhost addresses. Open the app through one of those, or use the Image or Video tab.";
  }
  let devices = [];
  try { devices = await navigator.mediaDevices.enumerateDevices(); } catch (e) { devices = []; }
  if (!devices.some(d => d.kind === "videoinput")) {
    return "**No camera found.** Connect one (or close the program using it) and reload the page, or use the " +
      "Image or Video tab.";
  }
  try {
    const state = (await navigator.permissions.query({name: "camera"})).state;
    if (state === "denied") {
      return "**Camera access is blocked for this page.** Allow it in the browser's site settings (the camera " +
        "icon in the address bar) and reload.";
    }
  } catch (e) {}
  return "";
}
"""


def example_photos() -> list[str]:
    """The bundled example photos (CC0, validation side of the split; see examples/README.md)."""
    return [str(p) for p in sorted(EXAMPLES_DIR.glob("*.jpg"))]


# --------------------------------------------------------------------------------------------- settings


def parser() -> argparse.ArgumentParser:
    """Flags for `python app.py`; model and host defaults also come from env vars (for `gradio app.py`)."""
    from maskdet.cli import add_model_args

    p = argparse.ArgumentParser(prog="app.py", description="maskdet Gradio app and HTTP API.")
    add_model_args(p)  # --imgsz: photos (Image tab, /detect_image)
    p.add_argument("--live-imgsz", type=int, default=LIVE_IMGSZ, help="detector input size for the webcam and videos")
    p.set_defaults(
        detector=os.environ.get("MASKDET_DETECTOR") or None,
        classifier=os.environ.get("MASKDET_CLASSIFIER") or None,
    )
    p.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), help="0.0.0.0 for a LAN")
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    p.add_argument("--share", action="store_true", help="ask Gradio for a public share link (off by default)")
    p.add_argument("--max-upload-mb", type=float, default=200.0, help="largest upload accepted (any file)")
    p.add_argument("--max-video-seconds", type=float, default=120.0, help="longest video accepted")
    p.add_argument("--queue-size", type=int, default=32, help="requests waiting beyond this get a 'busy' answer")
    p.add_argument("--max-webcam-sessions", type=int, default=4, help="live webcam streams at once")
    p.add_argument(
        "--max-sessions",
        type=int,
        default=256,
        help="sessions whose state is kept in memory, oldest dropped first (every API call is a session)",
    )
    p.add_argument("--webcam-time-limit", type=int, default=600, help="seconds one live stream may run")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from maskdet.classifier import calibrated_label_threshold

    args = parser().parse_args(argv)
    if args.label_threshold is None:  # the slider shows the classifier's calibrated cut-off
        args.label_threshold = calibrated_label_threshold(args.classifier)
    return args


def serve(demo: gr.Blocks, args: argparse.Namespace) -> int:
    """`python app.py`: load the models, serve until Ctrl-C or SIGTERM, then delete every temporary file.

    Returns the exit status: 2, with the reason on stderr (the file and the fix), when a model is missing
    or corrupt or the port is taken; 0 after a clean shutdown. SIGTERM (`kill`, `docker stop`) ends it
    like Ctrl-C, so that Gradio's and this app's temporary files are removed either way.
    """
    app: MaskdetApp = demo.maskdet
    try:
        app.models.load()
    except gr.Error as e:
        print(f"error: {e.__cause__ or e.message}", file=sys.stderr)
        return 2
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if main_thread else None
    try:
        demo.launch(**launch_kwargs(args))  # blocks; Gradio closes its server on KeyboardInterrupt
    except OSError as e:  # the port is taken (another app.py?) or the host is not this machine's
        print(
            f"error: cannot serve on {args.host}:{args.port}: {e} Fix: --port N, or stop the other server",
            file=sys.stderr,
        )
        return 2
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
        demo.close()
        app.cleanup()
    return 0


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def launch_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """What `demo.launch()` needs: host, port, upload cap, no share link unless asked, theme and CSS."""
    return {
        "server_name": args.host,
        "server_port": args.port,
        "share": bool(args.share),
        "max_file_size": int(args.max_upload_mb * 1024 * 1024),
        # Gradio keeps a copy of every component's config per session, ~170 KB here, for 10,000 sessions by
        # default; each HTTP API call is a new session, so a busy server grew by that much per request.
        "state_session_capacity": args.max_sessions,
        "theme": THEME,
        "css": CSS,
        "show_error": True,
        "app_kwargs": {"exception_handlers": {FnIndexInferError: _unknown_endpoint}},
    }


def _unknown_endpoint(request: Any, error: Exception) -> Any:
    """`/gradio_api/call/<name>` for a name that is not an endpoint: 404 and the list, not a 500 and a traceback."""
    from fastapi.responses import JSONResponse

    name = request.url.path.rstrip("/").split("/")[-1]
    log.warning("Unknown endpoint: %s", request.url.path)
    return JSONResponse(
        {"error": f"No endpoint named {name!r}. GET /gradio_api/info lists the endpoints and their parameters."},
        status_code=404,
    )


# Local fonts only: the default theme fetches Google Fonts, which an offline browser waits for.
THEME = gr.themes.Soft(
    primary_hue="green",
    font=["system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"],
)


# ------------------------------------------------------------------------------------------------ models


def _video_engine():
    """maskdet.video when it is installed (it arrives separately from the app); None otherwise."""
    try:
        from maskdet import video
    except ModuleNotFoundError as e:
        if e.name != "maskdet.video":
            raise
        return None
    return video


class _Serialised:
    """A pipeline whose calls take a shared lock: ultralytics' predictor is not thread-safe, and two
    requests decoding and encoding in parallel while inference runs one at a time keeps both cores busy."""

    def __init__(self, pipeline: Any, lock: threading.Lock):
        self.pipeline = pipeline
        self.lock = lock

    def __call__(self, frame: np.ndarray) -> Faces:
        with self.lock:
            return self.pipeline(frame)


class Models:
    """Detector + classifier, loaded once on first use; a failed load is retried on the next request.

    Args:
        detector: file, folder or hub repo id (None: bundled).
        classifier: folder or hub repo id (None: bundled).
        imgsz: detector input size for photos.
        live_imgsz: detector input size for webcam frames and videos (the real-time one).
        zoom: a second, zoomed detector pass for photos that adds small faces (None: one pass).
        flip: photos also run on the mirrored image (`FaceDetector.detect`).
    """

    def __init__(
        self,
        detector: str | None = None,
        classifier: str | None = None,
        imgsz: int = DEFAULT_IMGSZ,
        live_imgsz: int = LIVE_IMGSZ,
        zoom: int | None = None,
        flip: bool = False,
    ):
        self.detector_source = detector
        self.classifier_source = classifier
        self.imgsz = imgsz
        self.live_imgsz = live_imgsz
        self.zoom = zoom
        self.flip = flip
        self._load_lock = threading.Lock()
        self.infer_lock = threading.Lock()
        self._models: tuple[Any, Any] | None = None

    @property
    def loaded(self) -> bool:
        return self._models is not None

    def load(self) -> tuple[Any, Any]:
        """(FaceDetector, MaskClassifier); raises gr.Error with the loader's own message and the fix."""
        with self._load_lock:
            if self._models is None:
                from maskdet.classifier import MaskClassifier
                from maskdet.detector import FaceDetector
                from maskdet.hub import release_sources

                try:
                    det_source, clf_source = release_sources(self.detector_source, self.classifier_source)
                    detector = FaceDetector.load(det_source)
                    classifier = MaskClassifier.from_pretrained(clf_source)
                except (FileNotFoundError, ValueError) as e:
                    # not logged here: serve() prints it at start, and the page's banner says it to users
                    raise gr.Error(f"No models loaded: {e}", title="Models unavailable", print_exception=False) from e
                self._models = (detector, classifier)
        return self._models

    def pipeline(self, face_threshold: float, label_threshold: float, live: bool = False) -> _Serialised:
        """A Pipeline with this request's thresholds around the shared models (thresholds are per request)."""
        from maskdet.pipeline import Pipeline

        detector, classifier = self.load()
        try:
            pipe = Pipeline(
                detector,
                classifier,
                face_threshold=float(face_threshold),
                label_threshold=float(label_threshold),
                imgsz=self.live_imgsz if live else self.imgsz,
                zoom=None if live else self.zoom,
                flip=self.flip and not live,
            )
        except (TypeError, ValueError) as e:
            raise input_error(str(e), title="Bad setting") from e
        return _Serialised(pipe, self.infer_lock)

    def problem(self) -> str | None:
        """Why no model can load, found cheaply (paths only, no weights read); None when they look fine."""
        if self.loaded:
            return None
        from maskdet.classifier import resolve_classifier
        from maskdet.detector import resolve_detector
        from maskdet.hub import release_sources

        try:
            sources = release_sources(self.detector_source, self.classifier_source)
        except (FileNotFoundError, ValueError) as e:
            return str(e)
        problems = []
        for resolve, source in zip((resolve_detector, resolve_classifier), sources, strict=True):
            try:
                resolve(source)
            except (FileNotFoundError, ValueError) as e:
                problems.append(str(e))
        return " ".join(problems) or None


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _classifier_metrics(folder: Path | None) -> dict | None:
    """metrics.json beside a classifier, without its training config (paths on the machine that trained it)."""
    metrics = _read_json(folder / "metrics.json") if folder is not None else None
    return {k: v for k, v in metrics.items() if k != "config"} if isinstance(metrics, dict) else None


def _shown_source(path: Any, given: Any) -> str:
    """A model's source as users may see it: bundled files by name, others by file or folder name only
    (the About tab and /model_info are public: no server paths)."""
    if not path:
        return "bundled" if given is None else hide_paths(str(given))
    path = Path(path)
    weights = Path(__file__).parent.parent / "weights"
    if path.resolve().is_relative_to(weights.resolve()):
        return f"{path.resolve().relative_to(weights.resolve())} (bundled)"
    return path.name


def _face_ap(path: Path | None, imgsz: int, zoom: int | None = None, flip: bool = False) -> float | None:
    """Face AP50 of this detector file at one setting, from the face_eval.json beside it (our evaluation)."""
    from maskdet.detector import config_name

    report = _read_json(path.parent / "face_eval.json") if path is not None else None
    row = (report or {}).get(f"maskdet {path.name} @{config_name(imgsz, zoom, flip)}") if path else None
    return row.get("ap50") if isinstance(row, dict) else None


def faces_rows(result: dict) -> list[list]:
    """Table rows (one per face) from a result JSON: id, label, confidences and the box."""
    rows = []
    for i, face in enumerate(result.get("faces", []) if isinstance(result, dict) else []):
        x1, y1, x2, y2 = face["box"]
        rows.append([face.get("track_id", i + 1), face["label"], face["label_score"], face["score"], x1, y1, x2, y2])
    return rows


TABLE_HEADERS = ["#", "label", "label conf.", "face conf.", "x1", "y1", "x2", "y2"]


def counts_markdown(result: dict) -> str:
    """'**3 faces** · 🟢 2 with mask · 🔴 1 without mask · ...' with the compliance rate."""
    if not isinstance(result, dict) or "counts" not in result:
        return ""
    marks = {k: f'<span style="color:{c}">●</span>' for k, c in HEX_COLOURS.items()}
    n = result.get("num_faces", 0)
    parts = [f"**{n} face{'' if n == 1 else 's'}**"]
    parts += [f"{marks.get(k, '')} {v} {k.replace('_', ' ')}" for k, v in result["counts"].items()]
    rate = result.get("compliance")
    if rate is not None:
        parts.append(f"**{rate:.0%}** wearing a mask correctly")
    return " · ".join(parts)


# -------------------------------------------------------------------------------------------- live state


@dataclass
class LiveState:
    """One webcam session (kept in gr.State, one per browser tab or API client session).

    Attributes:
        processor: the video engine's `VideoProcessor` (tracker, FPS, people, events) for this session.
        track: whether `processor` tracks; toggling tracking starts a new one.
    """

    processor: Any = None
    track: bool = True


# ---------------------------------------------------------------------------------------------- handlers


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
        result = faces.to_dict()
        h, w = frame.shape[:2]
        result.update(
            {"compliance": compliance(result["counts"]), "width": w, "height": h, "inference_ms": round(ms, 1)}
        )
        return bgr_to_rgb(draw(frame, faces, blur=blur)), result

    def render_image_result(self, result: dict) -> tuple[list[list], str, str | None, str | None]:
        """Result JSON -> (table rows, counts line, the JSON and a CSV of one row per face to download)."""
        if not isinstance(result, dict) or "faces" not in result:
            return [], "", None, None
        try:
            _prune(self.work_dir / "results")
            folder = self.work_dir / "results" / uuid.uuid4().hex
            folder.mkdir(parents=True)
            json_path, csv_path = folder / "maskdet_result.json", folder / "maskdet_faces.csv"
            json_path.write_text(json.dumps(result, indent=1) + "\n")
            write_rows(face_rows(result, source="upload"), csv_path=csv_path)
        except OSError as e:
            raise input_error(f"Cannot save results on the server: {hide_paths(e)}", title="Server storage") from e
        return faces_rows(result), counts_markdown(result), str(json_path), str(csv_path)

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
        engine = _video_engine()
        t0 = time.perf_counter()
        if engine is None:  # no video engine: label each frame alone
            faces = pipe(image)
            annotated, fps, people, events, n = draw(image, faces, blur=blur), 0.0, None, [], 1
        else:
            if state.processor is None or state.track != track:
                state.processor = engine.VideoProcessor(pipe, fps=10.0, track=track, live=True)
                state.track = track
            proc = state.processor
            proc.pipeline, proc.blur = pipe, blur  # settings may change between frames
            annotated, faces = proc.process(image)
            fps, people, events, n = proc.display_fps, proc.people(), list(proc.new_events), proc.frames
        ms = (time.perf_counter() - t0) * 1000
        result = faces.to_dict()
        result.update(
            {
                "compliance": compliance(result["counts"]),
                "fps": round(fps, 2),
                "latency_ms": round(ms, 1),
                "frame": n,
                "tracking": people is not None,
                "people": people,
                "events": events,
            }
        )
        return bgr_to_rgb(annotated), state, result

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

        The summary is `maskdet.video.process_video`'s (frames, fps, size, faces, people, compliance,
        timeline with one row a second, events, ...) without server paths, plus `stopped`. Videos over
        the duration limit are refused from their header, before any frame is decoded.
        """
        engine = _video_engine()
        if engine is None:
            raise input_error("Video processing is not available in this install (maskdet.video is missing).")
        blur, track = flag("blur", blur, False), flag("track", track, True)
        path = payload_path(video)
        if not path:
            raise input_error("No video: upload a video file first.", title="No video")
        check_uploaded(path, request)
        limit = float(self.args.max_video_seconds)
        try:
            source = engine.open_source(Path(path), live=False, max_seconds=limit, max_pixels=MAX_VIDEO_PIXELS)
        except engine.LimitError as e:
            raise input_error(
                f"This {hide_paths(e)}. Trim or resize it, or run `python detect_video.py` on your own machine: it "
                "has no such limits.",
                title="Video too long or too large",
            ) from e
        except (ValueError, FileNotFoundError, OSError) as e:
            raise input_error(f"Cannot read this video: {hide_paths(e)}", title="Not a usable video") from e
        fps = float(source.fps)
        try:
            pipe = self._pipeline(face_threshold, label_threshold, live=True)
            _prune(self.work_dir / "videos")
            out_dir = self.work_dir / "videos" / uuid.uuid4().hex
            out_dir.mkdir(parents=True)
        except OSError as e:
            source.close()
            raise input_error(f"Cannot save results on the server: {hide_paths(e)}", title="Server storage") from e
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
            summary = engine.process_video(
                pipe,
                source,  # opened above; process_video closes it
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
        if not summary.get("frames") or not output.is_file():
            raise input_error("No frame of this video could be decoded; it is empty or corrupt.", title="Video failed")
        timeline = summary.get("timeline") or []
        csv_path = out_dir / f"{stem}_timeline.csv"
        api = {k: v for k, v in summary.items() if k not in ("source", "output")}  # no server paths
        text = json.dumps(api, indent=1, default=_jsonable)
        try:
            with csv_path.open("w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for row in timeline for k in row)))
                writer.writeheader()
                writer.writerows(timeline)
            json_path.write_text(text + "\n")
        except OSError as e:
            raise input_error(f"Cannot save results on the server: {hide_paths(e)}", title="Server storage") from e
        return str(output), json.loads(text), str(csv_path), str(json_path)

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
        labels = list(summary.get("faces_per_label") or {})
        rows = []
        for row in summary.get("timeline") or []:
            total = sum(row.get(k, 0) for k in labels)
            if total > 0:
                rows += [
                    {"time (s)": row["time"], "label": k, "% of faces": round(100 * row.get(k, 0) / total, 1)}
                    for k in labels
                ]
        plot = pd.DataFrame(rows, columns=["time (s)", "label", "% of faces"])
        text = [
            f"**{summary['frames']} frames** ({summary.get('duration_s', 0):.1f} s at {summary.get('fps', 0):.0f} FPS)",
            f"{summary.get('faces', 0)} face detections",
        ]
        people = summary.get("people")
        if isinstance(people, dict):
            text.append(
                f"**{sum(people.values())} people**"
                + "".join(f", {v} {k.replace('_', ' ')}" for k, v in people.items())
            )
        rate = summary.get("compliance")
        if isinstance(rate, (int, float)):
            text.append(f"**{rate:.0%}** of {summary.get('compliance_basis', 'faces')} wearing a mask correctly")
        if summary.get("events"):
            text.append(f"{len(summary['events'])} violation events")
        if summary.get("processing_fps"):
            text.append(f"processed at {summary['processing_fps']:.1f} FPS")
        stopped = summary.get("stopped")
        if stopped in STOPPED_TEXT:
            text.append(STOPPED_TEXT[stopped])
        if summary.get("skipped_frames"):
            text.append(f"{summary['skipped_frames']} corrupt frames skipped")
        return plot, " · ".join(text)

    # ---- about
    def model_info(self) -> dict:
        """Loaded models, where they came from, their metrics and the app's settings and limits."""
        try:
            detector, classifier = self.models.load()
        except gr.Error as e:
            return {"loaded": False, "error": hide_paths(e.message)}
        det_path = getattr(detector, "path", None)
        cls_path = getattr(classifier, "path", None)
        det_file = Path(det_path) if det_path else None
        face_ap = {
            "photo": _face_ap(det_file, self.models.imgsz, self.models.zoom, self.models.flip),
            "live": _face_ap(det_file, self.models.live_imgsz),
        }
        return {
            "loaded": True,
            "version": __import__("maskdet").__version__,
            "detector": {
                "source": _shown_source(det_path, self.models.detector_source),
                "imgsz": self.models.imgsz,
                "zoom": self.models.zoom,
                "flip": self.models.flip,
                "live_imgsz": self.models.live_imgsz,
                "metrics": detector_metrics(det_file),
                "face_ap50": face_ap,
            },
            "classifier": {
                "source": _shown_source(cls_path, self.models.classifier_source),
                "architecture": classifier.architecture,
                "labels": list(classifier.label_names),
                "input_size": list(classifier.input_size),
                "metrics": _classifier_metrics(Path(cls_path) if cls_path else None),
            },
            "limits": {
                "max_upload_mb": self.args.max_upload_mb,
                "max_video_seconds": self.args.max_video_seconds,
                "queue_size": self.args.queue_size,
            },
        }

    def about_markdown(self, info: dict) -> str:
        """A short summary: the two models, how they run, one headline figure each, licences, the full card."""
        if not info.get("loaded"):
            return f"### Models not loaded\n\n{info.get('error', '')}"
        det, clf = info["detector"], info["classifier"]
        zoom = f" plus a {det['zoom']} px pass for small faces" if det.get("zoom") else ""
        mirrored = (" (both also mirrored)" if zoom else " (also mirrored)") if det.get("flip") else ""
        lines = [
            f"### maskdet {info['version']}",
            "",
            f"- **Face detector** (YOLOv8n): `{det['source']}`, input {det['imgsz']} px for photos{zoom}{mirrored}, "
            f"{det.get('live_imgsz')} px for the webcam and videos.",
        ]
        ap, m = det.get("face_ap50") or {}, det.get("metrics") or {}
        if ap.get("photo") is not None:
            live = f", {ap['live']:.3f} as the webcam runs" if ap.get("live") is not None else ""
            lines.append(f"  Face AP50 {ap['photo']:.3f} as photos run{live} (validation split, 138 photos).")
        elif m.get("map50") is not None:
            lines.append(
                f"  Validation mAP50 {float(m['map50']):.3f} for the class face (ultralytics' own validation at "
                f"{m.get('imgsz', 640)} px, one pass: lower than the photo setting's face AP)."
            )
        else:
            lines.append("  No metrics file beside this model.")
        lines.append(
            f"- **Mask classifier** (`{clf['architecture']}`): `{clf['source']}`, input "
            f"{clf['input_size'][1]}x{clf['input_size'][0]}, labels {', '.join(clf['labels'])}."
        )
        if m := clf.get("metrics"):
            lines.append(
                f"  Accuracy {m.get('accuracy', 0):.3f}, macro-F1 {m.get('macro_f1', 0):.3f} on the validation "
                "face crops."
            )
        else:
            lines.append("  No metrics file beside this model.")
        lines += [
            "",
            "Both bundled models are trained by this project on CPU. Code and models: AGPL-3.0 (ultralytics). "
            "Training photos: Face Mask Detection (CC0) and Face-Mask-Detection crops (MIT, research use). "
            "Example photos: CC0, from the validation split.",
            "",
            f"Data, training commands, every figure and the limitations: [model_card.md]({MODEL_CARD_URL}).",
        ]
        return "\n".join(lines)

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


def _close(obj: Any) -> None:
    """Release a video source whatever its closing method is called."""
    for name in ("close", "release"):
        closer = getattr(obj, name, None)
        if callable(closer):
            closer()
            return


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return str(value)


# ------------------------------------------------------------------------------------------------ the UI


def build_demo(args: argparse.Namespace | None = None) -> gr.Blocks:
    """The Blocks app for these flags. Loads no model: that happens on the first request."""
    args = args if args is not None else parse_args([])
    app = MaskdetApp(args)
    with gr.Blocks(title="maskdet: face-mask detection", analytics_enabled=False, delete_cache=(1800, 3600)) as demo:
        demo.maskdet = app  # tests and embedding code reach the handlers through the Blocks
        gr.Markdown(
            "# maskdet\nFinds every face and tells whether it wears a mask: `with_mask`, `without_mask` or "
            "`mask_worn_incorrectly`. Runs on CPU, offline; nothing you upload leaves this server."
        )
        status = gr.Markdown(elem_id="status")
        with gr.Accordion("Settings", open=False, elem_id="settings"):
            with gr.Row():
                face_thr = gr.Slider(
                    0.01,
                    0.99,
                    value=args.face_threshold,
                    step=0.01,
                    label="Face threshold",
                    info="lower finds more (and falser) faces",
                    elem_id="face-threshold",
                )
                label_thr = gr.Slider(
                    0.0,
                    0.99,
                    value=args.label_threshold,
                    step=0.01,
                    label="Label threshold",
                    info="below this a face is 'unknown'",
                    elem_id="label-threshold",
                )
            with gr.Row():
                blur = gr.Checkbox(False, label="Blur faces in outputs (privacy)", elem_id="blur")
                track = gr.Checkbox(True, label="Track people in video and webcam (steady labels)", elem_id="track")

        with gr.Tabs():
            with gr.Tab("Image", id="image"):
                with gr.Row(equal_height=False):
                    with gr.Column(min_width=300):
                        image_in = gr.Image(
                            sources=["upload", "clipboard", "webcam"],
                            type="filepath",
                            image_mode=None,
                            label="Photo",
                            elem_id="image-input",
                            height=400,
                        )
                        image_btn = gr.Button("Detect masks", variant="primary", elem_id="image-button")
                    with gr.Column(min_width=300):
                        image_out = gr.Image(
                            label="Result",
                            show_label=False,
                            format="jpeg",
                            elem_id="image-output",
                            height=400,
                            interactive=False,
                        )
                        image_counts = gr.Markdown(elem_id="image-counts")
                image_table = gr.Dataframe(
                    headers=TABLE_HEADERS, label="Faces", interactive=False, elem_id="faces-table"
                )
                with gr.Row():
                    image_json_file = gr.File(label="Result (JSON)", elem_id="image-json-file")
                    image_csv_file = gr.File(label="Faces (CSV, one row per face)", elem_id="image-csv-file")
                with gr.Accordion("JSON (what /detect_image returns)", open=False):
                    image_json = gr.JSON(label="Result", elem_id="image-json")
                examples = gr.Examples(
                    example_photos(),
                    inputs=[image_in],
                    label="Examples: photos from the Face Mask Detection dataset (CC0), not used in training",
                )

            with gr.Tab("Webcam", id="live") as live_tab:
                gr.Markdown(
                    "Press the record button to start; frames are annotated as they arrive. With tracking on, a "
                    f"face gets its number (#1, #2, ...) once it has been seen in {TRACK_MIN_HITS} frames, so that "
                    "a detection in a single frame never counts as a person."
                )
                cam_note = gr.Markdown(elem_id="webcam-note")
                with gr.Row(equal_height=False):
                    with gr.Column(min_width=300):
                        cam = gr.Image(
                            sources=["webcam"],
                            streaming=True,
                            type="filepath",
                            label="Webcam",
                            elem_id="webcam",
                            # not mirrored: the server sees the scene as it is, so text in it reads the right way
                            webcam_options=gr.WebcamOptions(
                                mirror=False, constraints={"video": {"width": {"ideal": 640}, "height": {"ideal": 480}}}
                            ),
                        )
                    with gr.Column(min_width=300):
                        cam_out = gr.Image(
                            label="Annotated",
                            show_label=False,
                            format="jpeg",
                            elem_id="webcam-output",
                            interactive=False,
                        )
                with gr.Accordion("Frame JSON (what /detect_frame returns)", open=False):
                    cam_json = gr.JSON(label="Frame", elem_id="webcam-json")
                live_state = gr.State(None, time_to_live=900)  # freed 15 min after a tab closes
                frame_btn = gr.Button("Analyse frame", visible=False)  # the API twin of the stream

            with gr.Tab("Video", id="video"):
                gr.Markdown(
                    f"Upload a video of up to {args.max_video_seconds:g} s and {args.max_upload_mb:g} MB; "
                    "the annotated video plays here; its timeline (a row a second) and events download as CSV and JSON."
                )
                with gr.Row(equal_height=False):
                    with gr.Column(min_width=300):
                        video_in = gr.Video(sources=["upload"], label="Video", elem_id="video-input", height=360)
                        with gr.Row():
                            video_btn = gr.Button("Annotate video", variant="primary", elem_id="video-button")
                            stop_btn = gr.Button("Stop", variant="stop", elem_id="video-stop")
                    with gr.Column(min_width=300):
                        video_out = gr.Video(
                            label="Annotated video",
                            show_label=False,
                            elem_id="video-output",
                            height=360,
                            interactive=False,
                        )
                        video_md = gr.Markdown(elem_id="video-summary")
                video_plot = gr.LinePlot(
                    x="time (s)",
                    y="% of faces",
                    color="label",
                    color_map=HEX_COLOURS,
                    y_lim=[0, 100],
                    label="Faces per label over time",
                    elem_id="video-plot",
                )
                with gr.Row():
                    csv_out = gr.File(label="Timeline (CSV, one row a second)", elem_id="video-csv")
                    json_file_out = gr.File(label="Summary + timeline (JSON)", elem_id="video-json-file")
                with gr.Accordion("JSON (what /detect_video returns)", open=False):
                    video_json = gr.JSON(label="Summary", elem_id="video-json")

            with gr.Tab("About", id="about") as about_tab:
                about_md = gr.Markdown("Loading model information…", elem_id="about")
                with gr.Accordion("JSON (what /model_info returns)", open=False):
                    info_json = gr.JSON(label="Models")
                info_btn = gr.Button("Refresh", size="sm")
                gr.Markdown(
                    "HTTP API: see **Use via API** at the bottom of the page, or `docs/http-api.md` in the "
                    "repository, for `gradio_client` and `curl` examples."
                )

        # Events. preprocess=False: inputs reach the handlers as file paths, so our decoder gives the errors.
        settings = [face_thr, label_thr, blur]
        image_io = {
            "fn": app.detect_image,
            "inputs": [image_in, *settings],
            "outputs": [image_out, image_json],
            "preprocess": False,
            "concurrency_limit": 2,
            "concurrency_id": "image",
        }
        table_io = {
            "fn": app.render_image_result,
            "inputs": image_json,
            "outputs": [image_table, image_counts, image_json_file, image_csv_file],
            "api_visibility": "private",
        }
        # Every run first clears the last one's outputs, so that a failed run leaves none of them behind.
        image_outputs = [image_out, image_json, image_table, image_counts, image_json_file, image_csv_file]
        clear_image = {"fn": lambda: [None] * len(image_outputs), "outputs": image_outputs, "queue": False}
        gr.on([image_btn.click, image_in.upload], api_visibility="private", **clear_image).then(
            api_name="detect_image", **image_io
        ).success(**table_io)
        examples.load_input_event.then(api_visibility="private", **clear_image).then(
            api_visibility="private", **image_io
        ).success(**table_io)  # an example runs at once
        live_tab.select(None, None, cam_note, js=CAMERA_CHECK_JS, api_visibility="private", queue=False)

        live_inputs = [cam, live_state, *settings, track]
        live_outputs = [cam_out, live_state, cam_json]
        cam.stream(
            app.detect_frame,
            live_inputs,
            live_outputs,
            api_name="detect_frame_stream",
            api_visibility="private",  # gradio_client cannot call stream events; /detect_frame is the twin
            preprocess=False,
            stream_every=0.15,
            time_limit=args.webcam_time_limit,
            concurrency_limit=args.max_webcam_sessions,
            concurrency_id="live",
            show_progress="hidden",
        )
        frame_btn.click(
            app.detect_frame,
            live_inputs,
            live_outputs,
            api_name="detect_frame",
            preprocess=False,
            concurrency_limit=2,
            concurrency_id="image",
        )

        video_outputs = [video_out, video_json, csv_out, json_file_out, video_plot, video_md]
        video_event = video_btn.click(
            lambda: [None] * len(video_outputs), None, video_outputs, queue=False, api_visibility="private"
        ).then(
            app.detect_video,
            [video_in, *settings, track],
            [video_out, video_json, csv_out, json_file_out],
            api_name="detect_video",
            preprocess=False,
            concurrency_limit=1,
            concurrency_id="video",
        )
        video_event.success(app.render_video_summary, video_json, [video_plot, video_md], api_visibility="private")
        stop_btn.click(app.stop_video, None, None, api_name="stop_video", api_visibility="undocumented", queue=False)

        gr.on([about_tab.select, info_btn.click], app.model_info, None, info_json, api_name="model_info").success(
            app.about_markdown, info_json, about_md, api_visibility="private"
        )
        demo.load(app.status, None, status, api_visibility="private", queue=False)
    demo.queue(max_size=args.queue_size, default_concurrency_limit=2)
    return demo
