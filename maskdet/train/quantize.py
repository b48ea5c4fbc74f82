"""INT8 detector: static (QDQ) quantisation of the YOLOv8 ONNX export with onnxruntime's quantiser.

Why: on 2 CPU cores without VNNI the detector is most of a live frame's time, and INT8 convolutions
run it in about 3/4 of the float time with the same face AP on our validation split (model_card.md).
The box decoder (the head after each branch's two hidden convolutions: the last convolutions, DFL,
anchors, sigmoid and the box/score concat) stays float: quantised, a single uint8 range would have to
span box coordinates in pixels and scores in [0, 1], and scores collapse to zero.
"""

from __future__ import annotations

import random
import re
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np

from maskdet.ort import letterbox
from maskdet.presets import LIVE, PHOTO

INT8_NAME = "detector-int8.onnx"
# the quantised part of the head: each branch's two hidden convs (cv2.i.0/1, cv3.i.0/1) and their SiLU
_HEAD_HIDDEN = re.compile(r"cv[23]\.\d+/cv[23]\.\d+\.[01]/")
# every op of the backbone and neck (the ones measured; quantising more ops only adds QDQ pairs)
OPS = ["Conv", "Mul", "Sigmoid", "Add", "Concat", "Split", "MaxPool", "Resize"]


def head_prefix(model) -> str:
    """The node-name prefix of a YOLOv8 detect head ('/model.22/' for yolov8n), found by its DFL layer."""
    for node in model.graph.node:
        m = re.match(r"(.*/model\.\d+/)dfl/", node.name)
        if m:
            return m.group(1)
    raise ValueError("not a YOLOv8 detection export: no DFL layer (an ultralytics `/model.N/dfl/` node)")


def calibration_blobs(
    images: Iterable[str | Path | np.ndarray], sizes: Sequence[int] = (LIVE.imgsz, PHOTO.imgsz), limit: int = 64
) -> list[np.ndarray]:
    """Letterboxed input blobs, cycling through `sizes` (the sizes we serve), from up to `limit` images."""
    blobs = []
    for image in images:
        if len(blobs) >= limit:
            break
        img = image if isinstance(image, np.ndarray) else cv2.imread(str(image), cv2.IMREAD_COLOR)
        if img is None:
            continue  # unreadable: calibrate on the others
        blobs.append(letterbox(img, sizes[len(blobs) % len(sizes)])[0])
    if not blobs:
        raise ValueError("no readable calibration images")
    return blobs


def quantize_detector(
    onnx_path: str | Path,
    out_path: str | Path,
    images: Iterable[str | Path | np.ndarray],
    sizes: Sequence[int] = (LIVE.imgsz, PHOTO.imgsz),
    limit: int = 64,
) -> Path:
    """Write an INT8 copy of a float YOLOv8 detector ONNX, calibrated on `images` (BGR arrays or files).

    Calibrate on images like the ones it will see (the training split): activation ranges come from them.
    Weights are per-channel int8, activations uint8 with reduced range (the AVX2 kernels' requirement).
    """
    from maskdet._errors import require

    onnx = require("onnx", "INT8 quantisation")
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    onnx_path, out_path = Path(onnx_path), Path(out_path)
    try:
        model = onnx.load(str(onnx_path))
    except Exception as e:
        raise ValueError(f"cannot read ONNX model {str(onnx_path)!r}: {type(e).__name__}") from e
    prefix = head_prefix(model)
    keep_float = [
        n.name for n in model.graph.node if n.name.startswith(prefix) and not _HEAD_HIDDEN.match(n.name[len(prefix) :])
    ]
    input_name = model.graph.input[0].name
    blobs = calibration_blobs(images, sizes, limit)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter(blobs)

        def get_next(self):
            blob = next(self._it, None)
            return None if blob is None else {input_name: blob}

    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(onnx_path), str(pre), skip_symbolic_shape=True)  # shape inference + folding
        quantize_static(
            str(pre),
            str(out_path),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            reduce_range=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=OPS,
            nodes_to_exclude=keep_float,
        )
    return out_path


def voc_training_images(voc: str | Path, split: str | Path | None = None, seed: int = 0) -> list[Path]:
    """The training side of a split, shuffled (seeded): the detector's own calibration set."""
    from maskdet.data.voc import BUNDLED_SPLIT, load_split, load_voc, select

    paths = [item.path for item in select(load_voc(voc), load_split(split or BUNDLED_SPLIT)["train"])]
    random.Random(seed).shuffle(paths)
    return paths
