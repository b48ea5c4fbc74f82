"""ONNX Runtime sessions and the YOLOv8 ONNX fast path (letterbox -> session -> NMS), without torch.

ultralytics runs ONNX through its AutoBackend: a square input, a default session whose idle threads
spin, and torch pre/post-processing. Here the detector takes a rectangular input (640x480 frames cost
25% less than 640x640), threads come from MASKDET_THREADS and stop spinning between calls, and NMS is
OpenCV's.
The maths follow ultralytics' `LetterBox` and `scale_boxes`, so outputs agree with its .pt path.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from maskdet._env import num_threads
from maskdet._errors import brief
from maskdet.boxes import nms

PAD_VALUE = 114  # ultralytics' letterbox grey


def session(path: str | Path, what: str = "model", fix: str = ""):
    """A CPU `onnxruntime.InferenceSession` on MASKDET_THREADS threads; a corrupt file -> ValueError."""
    import onnxruntime as ort

    if hasattr(ort, "disable_telemetry_events"):
        ort.disable_telemetry_events()  # offline and quiet, like ultralytics and gradio here
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = num_threads()
    opts.inter_op_num_threads = 1
    # Threads spin while a call runs (a YOLO layer is too short to pay for a sleep and a wake-up each)
    # and stop when it returns, so they never starve the other model in the same process: on 2 cores
    # about 15% faster per frame than no spinning, while spinning that outlives the call is slower than
    # either (docs/speed.md).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1")
    opts.add_session_config_entry("session.force_spinning_stop", "1")
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as e:
        raise ValueError(f"cannot load {what} ONNX {str(path)!r} ({brief(e)}). {fix}".rstrip(". ")) from e


def letterbox(frame: np.ndarray, size: int, stride: int = 32, square: bool = False) -> tuple[np.ndarray, float, tuple]:
    """Resize the longest side to `size` and pad with grey, to a multiple of `stride` (or a square).

    Returns the (1, 3, H, W) float32 RGB blob in [0, 1], the scale and the (left, top) padding.
    """
    h, w = frame.shape[:2]
    r = min(size / h, size / w)
    new_w, new_h = round(w * r), round(h * r)
    dw, dh = size - new_w, size - new_h
    if not square:
        dw, dh = dw % stride, dh % stride
    dw, dh = dw / 2, dh / 2
    img = frame if (new_w, new_h) == (w, h) else cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    top, bottom, left, right = round(dh - 0.1), round(dh + 0.1), round(dw - 0.1), round(dw + 0.1)
    img = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    blob = cv2.dnn.blobFromImage(img, scalefactor=1 / 255.0, swapRB=True)
    return blob, r, (left, top)


class OnnxYolo:
    """A one-class YOLOv8 detection ONNX export run with onnxruntime.

    Args:
        path: the .onnx file (dynamic input, or static square).
        max_det: most boxes kept after NMS.
    """

    def __init__(self, path: str | Path, max_det: int = 300):
        self.session = session(path, "face detector")
        inp = self.session.get_inputs()[0]
        out = self.session.get_outputs()[0]
        if len(inp.shape) != 4 or len(out.shape) != 3:
            raise ValueError(f"{str(path)!r} is not a YOLOv8 detection export (input {inp.shape}, output {out.shape})")
        self.input_name = inp.name
        h, w = inp.shape[2:]
        self.fixed = int(h) if isinstance(h, int) and h == w else None  # static exports take one square size
        self.max_det = max_det
        self.names = export_names(self.session)

    def __call__(
        self, frame: np.ndarray, conf: float, iou: float, imgsz: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes (N, 4) xyxy in frame pixels, scores (N,) (the best class's) and every class's score
        (N, classes) for one BGR frame, best first. Class-agnostic NMS: one box per face."""
        blob, r, (left, top) = letterbox(frame, self.fixed or imgsz, square=self.fixed is not None)
        pred = self.session.run(None, {self.input_name: blob})[0][0]  # (4 + classes, anchors)
        scores = pred[4:].max(axis=0)
        keep = scores > conf
        if not keep.any():
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, len(pred) - 4), np.float32)
        cx, cy, bw, bh = pred[:4, keep]
        scores = scores[keep]
        classes = pred[4:, keep].T
        xywh = np.stack([cx - bw / 2, cy - bh / 2, bw, bh], axis=1)
        idx = nms(xywh, scores, conf, iou)[: self.max_det]
        boxes = xywh[idx].copy()
        boxes[:, 2:] += boxes[:, :2]
        boxes -= (left, top, left, top)
        boxes /= r
        h, w = frame.shape[:2]
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        return boxes.astype(np.float32), scores[idx].astype(np.float32), classes[idx].astype(np.float32)


def export_names(sess) -> tuple[str, ...]:
    """The class names ultralytics writes into an export's metadata ("{0: 'face'}"); () when absent."""
    import ast

    text = sess.get_modelmeta().custom_metadata_map.get("names", "")
    try:
        names = ast.literal_eval(text) if text else {}
    except (ValueError, SyntaxError):
        return ()
    return tuple(str(names[k]) for k in sorted(names)) if isinstance(names, dict) else ()
