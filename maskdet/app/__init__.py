"""The Gradio app: image, live webcam, video file and about tabs, each with a stable HTTP API endpoint.

`build_demo(args)` wires the UI (`ui`); the work happens in `MaskdetApp`'s handlers (`handlers`), plain
methods that tests call directly as well; `render` turns results into JSON, text and downloads, `inputs`
checks what arrives over HTTP, `models` loads the two models, `server` parses flags and serves. Models
load on first use, never at import, so the app starts (and shows a clear message) when no models are
available. Top-level `app.py` only parses flags and launches.

Endpoints (every one returns JSON that is useful without the picture):
    /detect_image  image + thresholds + blur -> (annotated image, result JSON)
    /detect_frame  the live tab's streaming function as a plain call (tracking state per client session)
    /detect_video  video + thresholds + blur + track -> (annotated .mp4 (H.264), summary JSON, timeline CSV, JSON file)
    /model_info    which models are loaded and their metrics
"""

from __future__ import annotations

from maskdet._env import configure_offline

configure_offline()  # before gradio: no analytics, no hub look-ups

from maskdet.app.handlers import KEEP_SECONDS, MAX_VIDEO_PIXELS, LiveState, MaskdetApp  # noqa: E402
from maskdet.app.inputs import read_image  # noqa: E402
from maskdet.app.models import Models  # noqa: E402
from maskdet.app.render import STOPPED_TEXT, TABLE_HEADERS, counts_markdown  # noqa: E402
from maskdet.app.server import launch_kwargs, parse_args, parser, serve  # noqa: E402
from maskdet.app.style import CSS, THEME  # noqa: E402
from maskdet.app.ui import EXAMPLES_DIR, build_demo, example_photos  # noqa: E402
from maskdet.results import compliance  # noqa: E402

__all__ = [
    "CSS",
    "EXAMPLES_DIR",
    "KEEP_SECONDS",
    "MAX_VIDEO_PIXELS",
    "STOPPED_TEXT",
    "TABLE_HEADERS",
    "THEME",
    "LiveState",
    "MaskdetApp",
    "Models",
    "build_demo",
    "compliance",
    "counts_markdown",
    "example_photos",
    "launch_kwargs",
    "parse_args",
    "parser",
    "read_image",
    "serve",
]
