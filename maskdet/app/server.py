"""Serving the app: its flags, `launch()` settings, models loaded before the port opens, a clean shutdown."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

import gradio as gr
from gradio.route_utils import FnIndexInferError

from maskdet._env import sigterm_as_interrupt
from maskdet.app.inputs import log
from maskdet.app.style import CSS, THEME
from maskdet.presets import LIVE

if TYPE_CHECKING:
    from maskdet.app.handlers import MaskdetApp


def parser() -> argparse.ArgumentParser:
    """Flags for `python app.py`; model and host defaults also come from env vars (for `gradio app.py`)."""
    from maskdet.cli import add_model_args

    p = argparse.ArgumentParser(prog="app.py", description="maskdet Gradio app and HTTP API.")
    add_model_args(p)  # --imgsz: photos (Image tab, /detect_image)
    p.add_argument("--live-imgsz", type=int, default=LIVE.imgsz, help="detector input size for the webcam and videos")
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
    try:
        with sigterm_as_interrupt():
            demo.launch(**launch_kwargs(args))  # blocks; Gradio closes its server on KeyboardInterrupt
    except OSError as e:  # the port is taken (another app.py?) or the host is not this machine's
        print(
            f"error: cannot serve on {args.host}:{args.port}: {e} Fix: --port N, or stop the other server",
            file=sys.stderr,
        )
        return 2
    finally:
        demo.close()
        app.cleanup()
    return 0


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
