"""Offline, quiet, both-cores settings for ultralytics, Hugging Face and Gradio.

Called at the edges (before importing ultralytics / huggingface_hub / gradio) so that nothing waits
on a network that is not there: no update checks, no analytics, no font downloads.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_DONE = False


def config_dir() -> Path:
    return Path(os.environ.get("MASKDET_HOME", Path.home() / ".cache" / "maskdet"))


def configure_offline() -> None:
    """Set env defaults once; a user's own settings win (setdefault: HF_HUB_OFFLINE=0 reaches the hub).

    Offline is the default because a missing network otherwise costs a timeout per lookup; an
    explicit push lifts it for its own duration (`hub_online`).
    """
    global _DONE
    if _DONE:
        return
    yolo_dir = config_dir() / "ultralytics"
    font = yolo_dir / "Ultralytics" / "Arial.ttf"
    if not font.exists():  # ultralytics downloads Arial.ttf on every train/plot unless it is there
        try:
            import matplotlib

            src = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
            font.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, font)
            shutil.copyfile(src, font.with_name("Arial.Unicode.ttf"))
        except Exception:  # plots only lose their font; detection still works
            pass
    for key, value in {
        "YOLO_OFFLINE": "1",
        "YOLO_AUTOINSTALL": "False",
        "YOLO_VERBOSE": "False",
        "YOLO_CONFIG_DIR": str(yolo_dir),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "TORCH_HOME": str(config_dir() / "torch"),
    }.items():
        os.environ.setdefault(key, value)
    _DONE = True


@contextlib.contextmanager
def hub_online():
    """Let huggingface_hub reach the network for an explicit push, then restore offline mode.

    huggingface_hub reads HF_HUB_OFFLINE once, at import, so the env var alone cannot lift it.
    """
    from huggingface_hub import constants

    before = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = False
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = before


def configure_ultralytics(feature: str = "ultralytics YOLO models (.pt detectors, detector training)") -> None:
    """Settings file with sync off, and torch on every core (ultralytics picks cpu_count - 1 = 1 here).

    Raises:
        MissingExtra: ultralytics is not installed; the message names `feature` and the extra.
    """
    configure_offline()
    from maskdet._errors import require

    require("ultralytics", feature)
    import torch
    from ultralytics.utils import SETTINGS, torch_utils

    if SETTINGS.get("sync", True):
        SETTINGS.update({"sync": False})
    threads = num_threads()
    torch_utils.NUM_THREADS = threads
    torch.set_num_threads(threads)


def num_threads() -> int:
    """Threads for torch / onnxruntime: MASKDET_THREADS or every core."""
    env = os.environ.get("MASKDET_THREADS")
    return max(1, int(env)) if env else max(1, os.cpu_count() or 1)


def private_gradio_dir() -> Path | None:
    """Give this process its own Gradio cache folder, deleted at exit, unless GRADIO_TEMP_DIR is set.

    Gradio removes the uploads and outputs it tracks when its server closes, but leaves example copies,
    empty folders and its own history folder in the shared /tmp/gradio; a folder of our own goes whole.
    Call it before gradio is imported (its routes fix the folder then). Returns the folder, or None.
    """
    if os.environ.get("GRADIO_TEMP_DIR"):
        return None
    import atexit
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="maskdet-gradio-"))
    os.environ["GRADIO_TEMP_DIR"] = str(folder)
    # everything else this process writes to temp goes there too, e.g. the `.ses` file that onnxruntime's
    # bundled telemetry SDK writes into TMPDIR at import (no network here, but a file left behind)
    os.environ["TMPDIR"] = str(folder)
    tempfile.tempdir = str(folder)
    atexit.register(shutil.rmtree, folder, True)
    return folder


def read_json(path: Path) -> Any:
    """A JSON file's content, or None when it is missing or unreadable (optional metadata, never an error)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Inside: SIGTERM (`kill`, `docker stop`) raises KeyboardInterrupt like Ctrl-C, so a run ends the way
    Ctrl-C ends it (its output video closed and playable); the previous handler comes back after. Handlers
    can be set in the main thread only: elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
