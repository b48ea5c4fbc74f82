"""The page: settings, then the Image, Webcam, Video and About tabs, each laid out and wired by one function.

Handlers run with `preprocess=False`: inputs reach them as file paths, so that our decoder gives the errors.
Every run first clears the last one's outputs, so that a failed run leaves none of them behind.
"""

from __future__ import annotations

import argparse
import inspect
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from maskdet.app.handlers import MaskdetApp
from maskdet.app.render import HEX_COLOURS, TABLE_HEADERS
from maskdet.app.server import parse_args
from maskdet.tracking import Tracker

EXAMPLES_DIR = Path(__file__).parent.parent / "examples"  # CC0 photos, see the README there
TRACK_MIN_HITS = inspect.signature(Tracker).parameters["min_hits"].default  # frames before a face gets its number

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


@dataclass
class Settings:
    """The settings accordion's inputs, shared by every tab's handlers."""

    face_threshold: gr.Slider
    label_threshold: gr.Slider
    blur: gr.Checkbox
    track: gr.Checkbox

    @property
    def common(self) -> list[gr.components.Component]:
        """Thresholds and blur: the inputs after the picture of every detect_* endpoint."""
        return [self.face_threshold, self.label_threshold, self.blur]


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
        settings = _settings(args)
        with gr.Tabs():
            with gr.Tab("Image", id="image"):
                _image_tab(app, settings)
            with gr.Tab("Webcam", id="live") as live_tab:
                _webcam_tab(app, settings, args, live_tab)
            with gr.Tab("Video", id="video"):
                _video_tab(app, settings, args)
            with gr.Tab("About", id="about") as about_tab:
                _about_tab(app, about_tab)
        demo.load(app.status, None, status, api_visibility="private", queue=False)
    demo.queue(max_size=args.queue_size, default_concurrency_limit=2)
    return demo


def _settings(args: argparse.Namespace) -> Settings:
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
    return Settings(face_thr, label_thr, blur, track)


def _image_tab(app: MaskdetApp, settings: Settings) -> None:
    """Photo in; annotated photo, counts, faces table, JSON and CSV downloads out (/detect_image)."""
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
    image_table = gr.Dataframe(headers=TABLE_HEADERS, label="Faces", interactive=False, elem_id="faces-table")
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

    image_io = {
        "fn": app.detect_image,
        "inputs": [image_in, *settings.common],
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
    image_outputs = [image_out, image_json, image_table, image_counts, image_json_file, image_csv_file]
    clear_image = {"fn": lambda: [None] * len(image_outputs), "outputs": image_outputs, "queue": False}
    gr.on([image_btn.click, image_in.upload], api_visibility="private", **clear_image).then(
        api_name="detect_image", **image_io
    ).success(**table_io)
    examples.load_input_event.then(api_visibility="private", **clear_image).then(
        api_visibility="private", **image_io
    ).success(**table_io)  # an example runs at once


def _webcam_tab(app: MaskdetApp, settings: Settings, args: argparse.Namespace, tab: gr.Tab) -> None:
    """The live stream (frames annotated as they arrive) and its callable twin /detect_frame."""
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

    tab.select(None, None, cam_note, js=CAMERA_CHECK_JS, api_visibility="private", queue=False)
    live_inputs = [cam, live_state, *settings.common, settings.track]
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


def _video_tab(app: MaskdetApp, settings: Settings, args: argparse.Namespace) -> None:
    """Video file in; annotated video, summary line, plot, timeline CSV and JSON out (/detect_video)."""
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

    video_outputs = [video_out, video_json, csv_out, json_file_out, video_plot, video_md]
    video_event = video_btn.click(
        lambda: [None] * len(video_outputs), None, video_outputs, queue=False, api_visibility="private"
    ).then(
        app.detect_video,
        [video_in, *settings.common, settings.track],
        [video_out, video_json, csv_out, json_file_out],
        api_name="detect_video",
        preprocess=False,
        concurrency_limit=1,
        concurrency_id="video",
    )
    video_event.success(app.render_video_summary, video_json, [video_plot, video_md], api_visibility="private")
    stop_btn.click(app.stop_video, None, None, api_name="stop_video", api_visibility="undocumented", queue=False)


def _about_tab(app: MaskdetApp, tab: gr.Tab) -> None:
    """The models, their figures and licences (/model_info), read when the tab opens."""
    about_md = gr.Markdown("Loading model information…", elem_id="about")
    with gr.Accordion("JSON (what /model_info returns)", open=False):
        info_json = gr.JSON(label="Models")
    info_btn = gr.Button("Refresh", size="sm")
    gr.Markdown(
        "HTTP API: see **Use via API** at the bottom of the page, or `docs/http-api.md` in the "
        "repository, for `gradio_client` and `curl` examples."
    )
    gr.on([tab.select, info_btn.click], app.model_info, None, info_json, api_name="model_info").success(
        app.about_markdown, info_json, about_md, api_visibility="private"
    )
