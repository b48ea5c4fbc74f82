"""The Gradio app: its HTTP API through gradio_client against a real server, and its handlers directly."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import time
from argparse import Namespace
from pathlib import Path

import cv2
import numpy as np
import pytest
from app_server import MAX_UPLOAD_MB, MAX_VIDEO_SECONDS, ROOT, file_data, scene_frames, write_video

LABELS = {"with_mask", "without_mask", "mask_worn_incorrectly", "unknown"}


@pytest.fixture(scope="module")
def client(app_server):
    from gradio_client import Client

    return Client(app_server.url, verbose=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Generated inputs: images of two sizes, a short video, a too-long one, and broken files."""
    from maskdet.data.scenes import example_scene

    d = tmp_path_factory.mktemp("inputs")
    out = {}
    for w, h in ((160, 120), (640, 480)):
        out[f"image_{w}x{h}"] = d / f"scene_{w}x{h}.png"
        cv2.imwrite(str(out[f"image_{w}x{h}"]), example_scene(1, w, h))
    out["video"] = write_video(d / "clip.mp4", scene_frames(12, (160, 120)), fps=10)
    long_frames = [np.full((48, 64, 3), 20 + 3 * i, np.uint8) for i in range(2 * (MAX_VIDEO_SECONDS + 5))]
    out["long_video"] = write_video(d / "long.mp4", long_frames, fps=2)  # 15 s over the 10 s cap, a few KB
    out["not_image"] = d / "photo.jpg"
    out["not_image"].write_bytes(b"not a valid image")
    out["corrupt_video"] = d / "broken.mp4"
    out["corrupt_video"].write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    out["oversized"] = d / "huge.png"
    out["oversized"].write_bytes(np.random.default_rng(0).bytes(int((MAX_UPLOAD_MB + 1) * 1024 * 1024)))
    return out


def detect_image(client, path: Path, face: float = 0.3, label: float = 0.0, blur: bool = False):
    from gradio_client import handle_file

    return client.predict(handle_file(str(path)), face, label, blur, api_name="/detect_image")


def check_result(result: dict, width: int, height: int) -> None:
    """The JSON contract of /detect_image and /detect_frame."""
    assert result["num_faces"] == len(result["faces"]) == sum(result["counts"].values())
    assert {"with_mask", "without_mask", "mask_worn_incorrectly"} <= set(result["counts"])
    for face in result["faces"]:
        x1, y1, x2, y2 = face["box"]
        assert 0 <= x1 <= x2 <= width and 0 <= y1 <= y2 <= height
        assert face["label"] in LABELS
        assert 0.0 <= face["score"] <= 1.0 and 0.0 <= face["label_score"] <= 1.0
        assert sum(face["probs"].values()) == pytest.approx(1.0, abs=1e-3)
        if face["label"] != "unknown":
            assert face["label_score"] == pytest.approx(max(face["probs"].values()), abs=1e-3)
    labelled = sum(v for k, v in result["counts"].items() if k != "unknown")
    if labelled:
        assert result["compliance"] == pytest.approx(result["counts"]["with_mask"] / labelled, abs=1e-3)
    else:
        assert result["compliance"] is None


# ------------------------------------------------------------------------------------------ API: listing


def test_api_lists_each_endpoint_and_hides_the_stream(app_server):
    import httpx

    info = httpx.get(app_server.url + "/gradio_api/info", timeout=10).json()
    named = info["named_endpoints"]
    assert {"/detect_image", "/detect_frame", "/detect_video", "/model_info"} <= set(named)
    assert "/detect_frame_stream" not in named  # gradio_client cannot call streams: the twin is documented
    assert [p["parameter_name"] for p in named["/detect_image"]["parameters"]] == [
        "image",
        "face_threshold",
        "label_threshold",
        "blur",
    ]
    assert [p["parameter_name"] for p in named["/detect_video"]["parameters"]][-1] == "track"


# ------------------------------------------------------------------------------------------ API: image


@pytest.mark.parametrize("size", [(160, 120), (640, 480)])
def test_detect_image_returns_annotated_image_and_consistent_json(client, files, size):
    w, h = size
    image, result = detect_image(client, files[f"image_{w}x{h}"], face=0.3)
    check_result(result, w, h)
    assert (result["width"], result["height"]) == (w, h)
    assert result["num_faces"] > 0  # the test detector scores every box ~0.5
    annotated = cv2.imread(image)
    assert annotated.shape == (h, w, 3)
    original = cv2.imread(str(files[f"image_{w}x{h}"]))
    assert np.abs(annotated.astype(int) - original).mean() > 1.0  # boxes and banner were drawn


def test_thresholds_are_per_request(client, files):
    path = files["image_640x480"]
    _, many = detect_image(client, path, face=0.3)
    _, none = detect_image(client, path, face=0.9)
    _, again = detect_image(client, path, face=0.3)
    assert many["num_faces"] > 0 and none["num_faces"] == 0
    assert again["num_faces"] == many["num_faces"]  # the 0.9 request did not stick to the server
    _, unknown = detect_image(client, path, face=0.3, label=0.99)  # untrained classifier: never 99% sure
    assert unknown["counts"].get("unknown") == unknown["num_faces"] == many["num_faces"]
    assert unknown["compliance"] is None


def test_blur_changes_only_the_picture(client, files):
    path = files["image_640x480"]
    plain_img, plain = detect_image(client, path, blur=False)
    blur_img, blurred = detect_image(client, path, blur=True)
    assert plain["faces"] == blurred["faces"]
    diff = np.abs(cv2.imread(plain_img).astype(int) - cv2.imread(blur_img).astype(int))
    assert diff.mean() > 1.0


# ------------------------------------------------------------------------------------------ API: live twin


def test_detect_frame_keeps_tracking_state_per_client_session(app_server, files):
    from gradio_client import Client, handle_file

    path = handle_file(str(files["image_160x120"]))
    first = Client(app_server.url, verbose=False)
    results = [first.predict(path, 0.3, 0.0, False, True, api_name="/detect_frame")[1] for _ in range(4)]
    assert [r["frame"] for r in results] == [1, 2, 3, 4]
    for r in results:
        check_result(r, 160, 120)
        assert r["tracking"] is True and isinstance(r["people"], dict)
    assert results[-1]["fps"] > 0
    # A still frame: after min_hits frames the same boxes are confirmed people with track ids.
    assert all(f["track_id"] >= 1 for f in results[-1]["faces"])
    assert sum(results[-1]["people"].values()) == results[-1]["num_faces"]
    other = Client(app_server.url, verbose=False).predict(path, 0.3, 0.0, False, False, api_name="/detect_frame")[1]
    assert other["frame"] == 1 and other["tracking"] is False and other["people"] is None


# ------------------------------------------------------------------------------------------ API: video


def test_detect_video_returns_playable_annotated_video_and_timeline(client, files):
    from gradio_client import handle_file

    video, summary, csv_path, json_path = client.predict(
        handle_file(str(files["video"])), 0.3, 0.0, False, True, api_name="/detect_video"
    )
    assert Path(video).suffix == ".mp4"
    cap = cv2.VideoCapture(video)
    frames = 0
    while cap.read()[0]:
        frames += 1
    size = (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    cap.release()
    assert frames == summary["frames"] == 12
    assert size == (160, 120) == (summary["width"], summary["height"])
    assert summary["fps"] == pytest.approx(10.0)
    assert summary["faces"] == sum(summary["faces_per_label"].values()) > 0
    assert isinstance(summary["people"], dict) and summary["people_total"] == sum(summary["people"].values())
    assert "source" not in summary and "output" not in summary  # no server paths in the API answer
    assert [row["time"] for row in summary["timeline"]] == [0.0, 1.0]  # one row a second
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["frame"]) for r in rows] == [row["frame"] for row in summary["timeline"]]
    assert json.loads(Path(json_path).read_text())["frames"] == summary["frames"]


def test_stop_returns_the_video_annotated_so_far(app_server, files):
    from maskdet.app import MaskdetApp

    app = MaskdetApp(app_args(detector=str(app_server.detector), classifier=str(app_server.classifier), imgsz=320))

    def progress(value, desc=None, unit=None):  # stands in for gr.Progress; presses Stop after 3 frames
        if isinstance(value, tuple) and value[0] == 3:
            app.stop_video()

    video, summary, _, json_path = app.detect_video(str(files["video"]), 0.3, 0.0, False, False, None, progress)
    assert summary["stopped"] == "stop" and summary["frames"] == 3
    assert summary["people"] is None  # tracking off
    cap = cv2.VideoCapture(video)
    frames = 0
    while cap.read()[0]:
        frames += 1
    cap.release()
    assert frames == 3
    assert json.loads(Path(json_path).read_text())["stopped"] == "stop"


# ------------------------------------------------------------------------------------------ bad input


def test_bad_uploads_get_clear_errors_and_the_server_keeps_serving(app_server, client, files):
    import httpx
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=r"Cannot read this image: image file 'photo\.jpg' is not a readable image"):
        detect_image(client, files["not_image"])
    with pytest.raises(AppError, match=r"Cannot read this video: .*'broken\.mp4'"):
        client.predict(handle_file(str(files["corrupt_video"])), 0.3, 0.0, False, True, api_name="/detect_video")
    with pytest.raises(AppError, match=r"Cannot read this video"):
        client.predict(handle_file(str(files["not_image"])), 0.3, 0.0, False, True, api_name="/detect_video")
    with pytest.raises(AppError, match=rf"video .long\.mp4. is 15\.0 s long, over the limit of {MAX_VIDEO_SECONDS} s"):
        client.predict(handle_file(str(files["long_video"])), 0.3, 0.0, False, True, api_name="/detect_video")
    with pytest.raises(AppError, match=r"face_threshold must lie in \[0, 1\]"):
        detect_image(client, files["image_160x120"], face=5.0)
    with pytest.raises(AppError, match="No image"):
        client.predict(None, 0.3, 0.0, False, api_name="/detect_image")
    with files["oversized"].open("rb") as f:  # over --max-upload-mb: refused before it reaches a handler
        answer = httpx.post(app_server.url + "/gradio_api/upload", files={"files": f}, timeout=30)
    assert answer.status_code == 413 and "maximum allowed size" in answer.text

    assert app_server.alive()
    _, result = detect_image(client, files["image_160x120"])
    check_result(result, 160, 120)


def test_model_info_names_the_loaded_models(client, app_server):
    info = client.predict(api_name="/model_info")
    assert info["loaded"] is True
    assert info["detector"]["source"] == app_server.detector.name  # the name only: no server paths
    assert not re.search(r'"/[^"]*"|"[A-Za-z]:\\', json.dumps(info))  # no absolute path anywhere
    assert info["classifier"]["architecture"] == "mobilenetv3_small_050"
    assert info["classifier"]["labels"] == ["with_mask", "without_mask", "mask_worn_incorrectly"]
    assert info["limits"]["max_video_seconds"] == MAX_VIDEO_SECONDS
    assert [info["detector"][k] for k in ("imgsz", "zoom", "flip")] == [320, None, False]  # --zoom 0 --no-flip

    from maskdet.app import MaskdetApp

    about = MaskdetApp(app_args()).about_markdown
    assert "input 320 px for photos," in about(info)
    info["detector"]["zoom"] = 1024
    assert "input 320 px for photos plus a 1024 px pass for small faces," in about(info)
    info["detector"]["flip"] = True  # the default
    assert "input 320 px for photos plus a 1024 px pass for small faces (both also mirrored)," in about(info)
    info["detector"]["zoom"] = None
    assert "input 320 px for photos (also mirrored)," in about(info)
    text = about(info)
    assert len(text) < 2000 and "@" not in text  # a summary (not the whole card); "mAP@0.5" became a mailto link
    assert "[model_card.md](https://" in text and "AGPL-3.0" in text


def test_about_tab_shows_the_bundled_models_face_ap_and_no_paths():
    from maskdet.app import MaskdetApp

    app = MaskdetApp(app_args())
    info = app.model_info()
    assert info["detector"]["source"] == "detector-int8.onnx (bundled)"
    assert info["classifier"]["source"] == "classifier (bundled)"
    report = json.loads((ROOT / "maskdet" / "weights" / "face_eval.json").read_text())  # our evaluation's figures
    photo, live = (report[f"maskdet detector-int8.onnx @{s}"]["ap50"] for s in ("640+flip+1024", "320"))
    assert info["detector"]["face_ap50"]["photo"] == pytest.approx(photo, abs=0.0005) and photo > 0.9
    assert f"Face AP50 {photo:.3f} as photos run, {live:.3f} as the webcam runs" in app.about_markdown(info)
    assert str(ROOT) not in json.dumps(info) + app.about_markdown(info)


def test_an_unknown_endpoint_is_a_404_that_points_to_the_list(app_server):
    import httpx

    answer = httpx.post(app_server.url + "/gradio_api/call/detect_imag", json={"data": []}, timeout=10)
    assert answer.status_code == 404
    assert answer.json()["error"].startswith("No endpoint named 'detect_imag'. GET /gradio_api/info")


def test_a_bad_input_is_one_line_in_the_server_log_not_a_traceback(app_server, files):
    from app_server import call, upload

    before = len(app_server.log(10**7))
    path = upload(app_server.url, files["not_image"])
    status, message = call(app_server.url, "detect_image", [file_data(path), 0.3, 0.0, False])
    assert status == "error" and "Cannot read this image" in message
    time.sleep(0.5)
    new = app_server.log(10**7)[before:]
    assert "Not a usable image: Cannot read this image: image file 'photo.jpg'" in new
    assert "Traceback" not in new


def test_image_results_download_as_json_and_csv(tmp_path):
    from maskdet.app import MaskdetApp

    result = {
        "num_faces": 2,
        "counts": {"with_mask": 1, "without_mask": 1, "mask_worn_incorrectly": 0},
        "faces": [
            {
                "box": [1, 2, 30, 40],
                "score": 0.9,
                "label": "with_mask",
                "label_score": 0.8,
                "probs": {"with_mask": 0.8},
            },
            {"box": [50, 2, 80, 40], "score": 0.7, "label": "without_mask", "label_score": 0.6, "probs": {}},
        ],
    }
    rows, counts, json_path, csv_path = MaskdetApp(app_args()).render_image_result(result)
    assert len(rows) == 2 and "2 faces" in counts
    assert json.loads(Path(json_path).read_text()) == result
    with open(csv_path, newline="") as f:
        table = list(csv.DictReader(f))
    assert [(r["label"], r["x1"], r["y2"]) for r in table] == [("with_mask", "1", "40"), ("without_mask", "50", "40")]
    assert MaskdetApp(app_args()).render_image_result(None) == ([], "", None, None)  # a failed run: nothing


def test_examples_are_the_bundled_cc0_photos():
    from maskdet.app import EXAMPLES_DIR, example_photos

    photos = example_photos()
    assert len(photos) == 3 and all(Path(p).stat().st_size < 100_000 for p in photos)
    readme = (EXAMPLES_DIR / "README.md").read_text()
    assert "CC0" in readme and all(Path(p).name in readme for p in photos)


# ------------------------------------------------------------------------------------------ in process


def app_args(**overrides) -> Namespace:
    from maskdet.app import parse_args

    args = parse_args([])
    for k, v in overrides.items():
        setattr(args, k, v)
    return args


def test_missing_models_give_a_clear_error_not_a_crash(tmp_path):
    import gradio as gr

    from maskdet.app import MaskdetApp

    app = MaskdetApp(app_args(detector=str(tmp_path / "none.pt"), classifier=str(tmp_path)))
    assert "none.pt" in app.status()
    with pytest.raises(gr.Error, match=r"No models loaded: detector .*none\.pt.* not found"):
        app.detect_image(np.zeros((32, 32, 3), np.uint8))
    info = app.model_info()
    assert info["loaded"] is False and "none.pt" in info["error"]
    assert "Models not loaded" in app.about_markdown(info)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (None, "No image"),
        ({"path": "/nonexistent/x.png"}, r"Cannot read this image: .*x\.png"),
        (np.zeros((4, 4, 3), np.uint8), r"at least 8x8"),
        ("data", "Cannot read this image"),
    ],
)
def test_read_image_refuses_bad_input_with_a_reason(payload, message):
    import gradio as gr

    from maskdet.app import read_image

    with pytest.raises(gr.Error, match=message):
        read_image(payload)


def test_read_image_takes_gradio_payloads_and_rgb_arrays(tmp_path):
    from maskdet.app import read_image

    bgr = np.zeros((20, 30, 3), np.uint8)
    bgr[..., 0] = 200  # blue in BGR
    path = tmp_path / "blue.png"
    cv2.imwrite(str(path), bgr)
    import base64

    data_url = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()
    for payload in (str(path), {"path": str(path), "meta": {"_type": "gradio.FileData"}}, {"url": data_url}):
        np.testing.assert_array_equal(read_image(payload), bgr)
    np.testing.assert_array_equal(read_image(bgr[..., ::-1].copy()), bgr)  # arrays are RGB, as Gradio gives


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ({"with_mask": 3, "without_mask": 1, "mask_worn_incorrectly": 0}, 0.75),
        ({"with_mask": 1, "without_mask": 0, "mask_worn_incorrectly": 1, "unknown": 5}, 0.5),
        ({"with_mask": 0, "without_mask": 0, "mask_worn_incorrectly": 0}, None),
        ({"with_mask": 0, "unknown": 2}, None),
    ],
)
def test_compliance_counts_only_labelled_faces(counts, expected):
    from maskdet.app import compliance

    assert compliance(counts) == expected


def test_video_summary_renders_plot_rows_per_label_and_second():
    from maskdet.app import MaskdetApp

    summary = {
        "frames": 20,
        "fps": 10.0,
        "duration_s": 2.0,
        "faces": 6,
        "faces_per_label": {"with_mask": 4, "without_mask": 2, "mask_worn_incorrectly": 0},
        "people": {"with_mask": 1, "without_mask": 1, "mask_worn_incorrectly": 0},
        "compliance": 0.5,
        "compliance_basis": "people",
        "timeline": [
            {"frame": 0, "time": 0.0, "faces": 2, "with_mask": 1, "without_mask": 1, "mask_worn_incorrectly": 0},
            {"frame": 10, "time": 1.0, "faces": 0, "with_mask": 0, "without_mask": 0, "mask_worn_incorrectly": 0},
        ],
        "stopped": "stop",
    }
    plot, text = MaskdetApp(app_args()).render_video_summary(summary)
    assert list(plot["label"]) == ["with_mask", "without_mask", "mask_worn_incorrectly"]  # empty second left out
    assert list(plot["% of faces"]) == [50.0, 50.0, 0.0]
    assert "**20 frames**" in text and "**2 people**" in text and "50%" in text and "stopped early" in text
    _, text = MaskdetApp(app_args()).render_video_summary({**summary, "stopped": "truncated", "skipped_frames": 2})
    assert "the file ended early" in text and "2 corrupt frames skipped" in text


def test_a_full_disk_while_annotating_is_an_error_not_a_crash(app_server, files, monkeypatch):
    import gradio as gr
    from test_faults import FullDiskWriter

    from maskdet.app import MaskdetApp
    from maskdet.io import video as videoio

    app = MaskdetApp(app_args(detector=str(app_server.detector), classifier=str(app_server.classifier), imgsz=320))
    monkeypatch.setattr(videoio.cv2, "VideoWriter", FullDiskWriter)
    monkeypatch.setattr(videoio._AVWriter, "open", classmethod(lambda cls, *args: None))  # OpenCV writes
    with pytest.raises(gr.Error, match=r"Cannot process this video: cannot write '.*\.mp4': the disk is full"):
        app.detect_video(str(files["video"]), 0.3, 0.0, False, False, None, lambda *a, **k: None)


def test_launch_settings_no_share_link_and_an_upload_cap():
    from maskdet.app import build_demo, launch_kwargs

    args = app_args(queue_size=3, max_upload_mb=5)
    kwargs = launch_kwargs(args)
    assert kwargs["share"] is False and kwargs["max_file_size"] == 5 * 1024 * 1024
    assert kwargs["state_session_capacity"] == 256  # every API call is a session: Gradio keeps 10,000 by default
    assert kwargs["server_name"] == "127.0.0.1"
    demo = build_demo(args)
    assert demo._queue.max_size == 3
    assert demo.analytics_enabled is False


def test_importing_app_loads_no_model_and_exposes_demo():
    code = (
        "import sys, app, gradio as gr; assert isinstance(app.demo, gr.Blocks); "
        "loaded = [m for m in ('ultralytics', 'timm', 'torch') if m in sys.modules]; "
        "assert not loaded, loaded; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]
