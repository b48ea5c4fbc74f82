"""A real `python app.py` server on 127.0.0.1 with tiny models (conftest's `app_server` fixture runs one).

The detector is an untrained one-class YOLOv8n whose class bias is zeroed, so every box scores about
0.5: a face threshold of 0.3 finds many random "faces" and 0.9 finds none, which is what the tests
need to check that per-request thresholds reach the model. The classifier is an untrained timm model.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
from video_samples import write_video  # noqa: F401 (the app tests take it from here)

ROOT = Path(__file__).resolve().parent.parent
MAX_UPLOAD_MB = 2
MAX_VIDEO_SECONDS = 10


def tiny_detector_file(path: Path) -> Path:
    """Save an untrained 1-class YOLOv8n with zero class bias (scores ~0.5) as a .pt file."""
    import torch

    from maskdet._env import configure_ultralytics

    configure_ultralytics()
    from ultralytics import YOLO
    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(0)
    yolo = YOLO("yolov8n.yaml")
    yolo.model = DetectionModel("yolov8n.yaml", nc=1, verbose=False)
    for branch in yolo.model.model[-1].cv3:
        torch.nn.init.constant_(branch[-1].bias, 0.0)
    yolo.save(str(path))
    return path


def tiny_classifier_folder(folder: Path) -> Path:
    from maskdet.classifier import MaskClassifier

    return MaskClassifier.create("mobilenetv3_small_050", img_size=64).save_pretrained(folder)


def scene_frames(n: int, size: tuple[int, int]) -> list[np.ndarray]:
    """Frames of a generated scene panning sideways (BGR)."""
    from maskdet.data.scenes import example_scene

    w, h = size
    base = example_scene(0, w, h)
    return [np.roll(base, 4 * i, axis=1) for i in range(n)]


def _server_class():
    """benchmarks/load.py's `Server`: the one way this project runs app.py in a subprocess."""
    import importlib.util

    if "maskdet_load" not in sys.modules:
        spec = importlib.util.spec_from_file_location("maskdet_load", ROOT / "benchmarks" / "load.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["maskdet_load"] = module  # dataclasses look their module up by name
        spec.loader.exec_module(module)
    return sys.modules["maskdet_load"].Server


def start_server(folder: Path, *extra_args: str, env: dict[str, str] | None = None, timeout: float = 180.0):
    """`python app.py` with tiny models saved in `folder` (its log there too); `extra_args` go to app.py.

    Returns the running `Server` (url, process, alive(), log(), stop()) with `detector` and `classifier` set.
    """
    detector = tiny_detector_file(folder / "detector.pt")
    classifier = tiny_classifier_folder(folder / "classifier")
    args = [
        *("--detector", str(detector), "--classifier", str(classifier)),
        *("--imgsz", "320", "--zoom", "0", "--no-flip"),  # one pass: the tiny untrained model finds ~random boxes
        *("--max-upload-mb", str(MAX_UPLOAD_MB), "--max-video-seconds", str(MAX_VIDEO_SECONDS)),
        *extra_args,
    ]
    env = {"MASKDET_THREADS": os.environ.get("MASKDET_THREADS", "1"), **(env or {})}
    server = _server_class()(args, timeout, env, folder).start()
    server.detector, server.classifier = detector, classifier
    return server


def stop_server(server) -> int | None:
    """SIGTERM (app.py shuts down like on Ctrl-C and deletes its temporary files); its exit status."""
    return server.stop()


def file_data(path: str) -> dict:
    """A gradio FileData payload for a path on the server (as /gradio_api/upload returns it)."""
    return {"path": path, "meta": {"_type": "gradio.FileData"}}


def upload(url: str, path: Path) -> str:
    """POST a file to /gradio_api/upload; returns the server-side path."""
    import httpx

    with path.open("rb") as f:
        answer = httpx.post(url + "/gradio_api/upload", files={"files": f}, timeout=60)
    answer.raise_for_status()
    return answer.json()[0]


def call(url: str, api: str, data: list) -> tuple[str, object]:
    """Call an endpoint over plain HTTP, as curl would: ("complete", outputs) or ("error", message).

    Raw JSON reaches the server as sent (gradio_client would refuse some bad types before sending).
    """
    import json

    import httpx

    answer = httpx.post(f"{url}/gradio_api/call/{api}", json={"data": data}, timeout=60)
    answer.raise_for_status()
    stream = httpx.get(f"{url}/gradio_api/call/{api}/{answer.json()['event_id']}", timeout=300).text
    event = data_line = None
    for line in stream.splitlines():  # heartbeats and progress events come before the result
        if line.startswith("event: "):
            event = line[7:].strip()
        elif line.startswith("data: ") and event in ("complete", "error"):
            data_line = line[6:]
            break
    payload = json.loads(data_line) if data_line not in (None, "null") else None
    if event == "error":
        return "error", (payload or {}).get("error") if isinstance(payload, dict) else payload
    return event or "none", payload
