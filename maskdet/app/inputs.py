"""What arrives over HTTP, checked before any work: files, thresholds and flags -> values or a `gr.Error`.

The app's handlers run with `preprocess=False`, so they see the raw JSON a client sent. Gradio checks
well-formed file payloads against its upload folder, but lets `{"path": ...}` without its `meta` field
through, and leaves types to the handler: this module closes both gaps, in one place.
"""

from __future__ import annotations

import base64
import binascii
import logging
import math
import os
import re
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from maskdet.io.images import MAX_BYTES, load_image, rgb_to_bgr

log = logging.getLogger("maskdet.app")


def input_error(message: str, title: str = "Error") -> gr.Error:
    """A gr.Error for a request the sender can fix: one line in the server's log, not Gradio's traceback."""
    log.warning("%s: %s", title, message)
    return gr.Error(message, title=title, print_exception=False)


def payload_path(payload: Any) -> str | None:
    """The file path inside whatever Gradio hands over without preprocessing (FileData dict, str, Path)."""
    if payload is None:
        return None
    if isinstance(payload, (str, os.PathLike)):
        return str(payload)
    if isinstance(payload, dict):
        if "video" in payload and isinstance(payload["video"], dict):  # Video's {"video": FileData, ...}
            payload = payload["video"]
        path = payload.get("path")
        return path if isinstance(path, str) and path else None
    path = getattr(payload, "path", None)
    return str(path) if path else None


def check_uploaded(path: str, request: gr.Request | None) -> None:
    """Refuse a path that came over HTTP unless it lies in Gradio's upload folder.

    Without this, `{"path": "/home/me/photo.jpg"}` (no `meta`) would make the server read, annotate and
    send back any image or video it can open. A direct Python call (request None) owns its paths.
    """
    if request is None:
        return
    from gradio.utils import get_upload_folder

    folder = Path(get_upload_folder()).resolve()
    if not Path(path).resolve().is_relative_to(folder):
        raise input_error(
            "This file was not uploaded to this app: upload it first (POST /gradio_api/upload) and pass the "
            "path that returns.",
            title="Not an upload",
        )


def hide_paths(error: Exception | str) -> str:
    """The error's message with server-side paths cut down to the file name the user chose."""
    return re.sub(r"/[^\s'\"<>]*/([^/\s'\"<>]+)", r"\1", str(error))


def _data_url_bytes(url: str) -> bytes:
    """The bytes of a base64 `data:` URL (clipboard pastes); size-capped before decoding."""
    _, sep, encoded = url.partition(",")
    if not sep:
        raise ValueError("the data: URL has no ',' before its data")
    if len(encoded) * 3 // 4 > MAX_BYTES:
        raise ValueError(f"the data: URL holds more than {MAX_BYTES:,} bytes")
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error as e:
        raise ValueError(f"the data: URL is not valid base64 ({e})") from e


def read_image(image: Any, request: gr.Request | None = None) -> np.ndarray:
    """Any image input -> (H, W, 3) uint8 BGR, or a gr.Error that says what was wrong with it.

    Gradio's own decoding is skipped (`preprocess=False`) so that every upload goes through
    `maskdet.load_image`: EXIF rotation, HEIC, 16-bit, alpha and decompression bombs are handled the
    same way as in the library, and a file that is not an image gets a message instead of a traceback.
    A numpy array is taken to be RGB, as Gradio gives it.
    """
    if image is None:
        raise input_error("No image: upload a photo, paste one or take a webcam snapshot.", title="No image")
    path = None if isinstance(image, np.ndarray) else payload_path(image)
    if path is not None:
        check_uploaded(path, request)
    try:
        if isinstance(image, np.ndarray):
            if image.ndim == 3 and image.shape[2] == 3:
                return load_image(rgb_to_bgr(image))
            return load_image(image)
        if isinstance(image, dict) and str(image.get("url") or "").startswith("data:") and not image.get("path"):
            return load_image(_data_url_bytes(image["url"]))
        return load_image(image if path is None else path)
    except (ValueError, FileNotFoundError, OSError) as e:
        raise input_error(f"Cannot read this image: {hide_paths(e)}", title="Not a usable image") from e


def threshold(name: str, value: Any, default: float) -> float:
    """A threshold from JSON: a number (None: the server's default); the range is the Pipeline's to check."""
    if value is None:
        return float(default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise input_error(f"{name} must be a number in [0, 1], but got {value!r}", title="Bad setting")
    return float(value)


def flag(name: str, value: Any, default: bool) -> bool:
    """A true/false setting from JSON (None: the default); 'no' or 1 are refused, not taken as truthy."""
    if value is None:
        return default
    if not isinstance(value, (bool, np.bool_)):
        raise input_error(f"{name} must be true or false, but got {value!r}", title="Bad setting")
    return bool(value)
