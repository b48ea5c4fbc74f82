"""Pretrained YOLOv8 weights from a TFLite export, read into an ultralytics detection model to fine-tune.

Why: the detector trained from scratch on ~550 images plateaued; a YOLOv8n face model trained on WIDER
FACE (32k images, tiny, profile, occluded faces) ships only as an INT8 TFLite file. This reads it back:
dequantise each convolution per output channel, reorder TFLite's (out, kh, kw, in) to PyTorch's
(out, in, kh, kw), and put the folded batch-norm bias where ultralytics' unfused `Conv` can train it.

TFLite's op order is neither PyTorch's execution nor definition order, and several layers share a shape
(the first box and class convolutions even share their input), so layers are mapped by the op graph
and the activations: the PyTorch convolutions are visited in execution order and each takes the
unmapped TFLite convolution of the same shape and stride whose input tensor equals its own input. Two
candidates reading one tensor are told apart by the branch they feed (box: 64 outputs per level, class:
`nc`). The pose model's keypoint branch and the fixed DFL convolution have no counterpart and are left.
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from maskdet._env import configure_ultralytics

IMGSZ = 640  # the export's fixed input: (1, 640, 640, 3) float RGB in [0, 1]


def _interpreter(path: str | Path, debug: bool = True):
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError("reading TFLite weights needs ai-edge-litert: pip install ai-edge-litert") from e
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no TFLite model at {str(path)!r}")
    kwargs = {"experimental_preserve_all_tensors": True, "experimental_op_resolver_type": OpResolverType.BUILTIN_REF}
    interp = Interpreter(model_path=str(path), **(kwargs if debug else {}))  # reference kernels keep intermediates
    interp.allocate_tensors()
    return interp


class TfliteGraph:
    """The convolutions of a TFLite YOLOv8 model: float weights (PyTorch layout), bias, stride, wiring."""

    def __init__(self, path: str | Path):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "preserve_all_tensors is for debugging": that is what it is for
            self.interp = _interpreter(path)
        ops = self.interp._get_ops_details()
        producer = {int(t): op for op in ops for t in op["outputs"]}
        self.consumers: dict[int, list[dict]] = {}
        for op in ops:
            for t in op["inputs"]:
                self.consumers.setdefault(int(t), []).append(op)
        details = {d["index"]: d for d in self.interp.get_tensor_details()}
        self.convs = []
        for op in ops:
            if op["op_name"] != "CONV_2D":
                continue
            x, w, b = (int(t) for t in op["inputs"][:3])
            out = int(op["outputs"][0])
            src = producer.get(x)
            x_unpadded = int(src["inputs"][0]) if src is not None and src["op_name"] == "PAD" else x
            q = self.interp.get_tensor(w)
            scales = details[w]["quantization_parameters"]["scales"]
            weight = q.astype(np.float32)
            if q.dtype == np.int8:  # per output channel, zero point 0
                weight *= np.asarray(scales, np.float32).reshape(-1, 1, 1, 1)
            in_h, out_h = details[x]["shape"][1], details[out]["shape"][1]
            kh = weight.shape[1]
            stride = 2 if (in_h - kh) // 2 + 1 == out_h and in_h != out_h else 1
            self.convs.append(
                {
                    "index": op["index"],
                    "input": x_unpadded,
                    "output": out,
                    "weight": weight.transpose(0, 3, 1, 2).copy(),  # (out, kh, kw, in) -> (out, in, kh, kw)
                    "bias": self.interp.get_tensor(b).astype(np.float32),
                    "stride": stride,
                }
            )
        self._by_output = {c["output"]: c for c in self.convs}

    def run(self, image_rgb01: np.ndarray) -> np.ndarray:
        """The model's output for one (640, 640, 3) float RGB image in [0, 1]: (N, 8400) rows."""
        inp = self.interp.get_input_details()[0]
        self.interp.set_tensor(inp["index"], image_rgb01[None].astype(np.float32))
        self.interp.invoke()
        return self.interp.get_tensor(self.interp.get_output_details()[0]["index"])[0]

    def tensor(self, index: int) -> np.ndarray:
        return self.interp.get_tensor(index)

    def tail_channels(self, conv: dict, depth: int = 3) -> set[int]:
        """Output channels of the 1x1 convolutions reached from `conv` within `depth` convolutions: the
        branch it feeds (64: box distribution, nc: class scores, 15: keypoints)."""
        found, frontier = set(), [conv]
        for _ in range(depth):
            nxt = []
            for c in frontier:
                stack, seen = [c["output"]], set()
                while stack:
                    t = stack.pop()
                    for op in self.consumers.get(t, []):
                        if op["index"] in seen:
                            continue
                        seen.add(op["index"])
                        if op["op_name"] == "CONV_2D":
                            hit = self._by_output[int(op["outputs"][0])]
                            if hit["weight"].shape[2:] == (1, 1):
                                found.add(hit["weight"].shape[0])
                            nxt.append(hit)
                        else:
                            stack.extend(int(o) for o in op["outputs"])
            frontier = nxt
        return found


def _identity_bn(model) -> None:
    """Every BatchNorm an exact identity in eval mode (weight 1, bias 0, mean 0, var 1 - eps)."""
    import torch

    for mod in model.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.weight.data.fill_(1.0)
            mod.bias.data.zero_()
            mod.running_mean.zero_()
            mod.running_var.fill_(1.0 - mod.eps)


def _set_bias(model, name: str, conv, bias: np.ndarray) -> None:
    """A folded bias goes to the Conv's BatchNorm (the conv itself has none) or to a plain conv's bias."""
    import torch

    t = torch.from_numpy(bias)
    if conv.bias is not None:
        conv.bias.data.copy_(t)
        return
    parent = dict(model.named_modules())[name.rsplit(".", 1)[0]]
    parent.bn.bias.data.copy_(t)


def _branch(name: str) -> str | None:
    """'box' / 'cls' for a detect-head convolution of ultralytics' v8 Detect (cv2 / cv3), else None."""
    parts = name.split(".")
    if len(parts) > 2 and parts[2] in ("cv2", "cv3") and name.startswith(f"model.{parts[1]}.cv"):
        return {"cv2": "box", "cv3": "cls"}[parts[2]]
    return None


def map_weights(model, graph: TfliteGraph, probe: np.ndarray) -> dict[str, int]:
    """Load `graph`'s convolutions into `model` (BatchNorms set to identity), mapping by activations.

    One forward pass of `probe`: as each PyTorch convolution is about to run, its input (computed by
    the layers already mapped) is compared with the inputs of the unmapped TFLite convolutions of the
    same shape and stride, and the closest one's weights are loaded before it runs.

    Args:
        model: an ultralytics `DetectionModel` built from the v8 YAML with the same scale (yolov8n).
        graph: the TFLite model's convolutions.
        probe: (640, 640, 3) float RGB in [0, 1], run through both models to compare inputs.

    Returns:
        PyTorch conv name -> TFLite op index, in execution order.

    Raises:
        ValueError: a PyTorch convolution finds no TFLite convolution with its shape and input.
    """
    import torch

    model.eval()
    _identity_bn(model)
    graph.run(probe)
    nc = model.model[-1].nc
    free = list(graph.convs)
    mapping: dict[str, int] = {}

    def load(conv, inputs, name: str) -> None:
        mine = inputs[0][0].detach().numpy()
        shape, stride = tuple(conv.weight.shape), conv.stride[0]
        if nc > 1 and name.endswith(".2") and _branch(name) == "cls":
            shape = (1, *shape[1:])  # the class conv of an nc-class variant starts from the 1-class face score
        scored = []
        for cand in free:
            if cand["weight"].shape != shape or cand["stride"] != stride:
                continue
            theirs = graph.tensor(cand["input"])[0].transpose(2, 0, 1)
            if theirs.shape == mine.shape:
                scored.append((float(np.linalg.norm(theirs - mine) / (np.linalg.norm(mine) + 1e-12)), cand))
        if not scored:
            raise ValueError(f"no TFLite convolution of shape {shape}, stride {stride} for {name}")
        best_err, best = min(scored, key=lambda s: s[0])
        if best_err > 0.05:
            raise ValueError(f"{name}: the closest TFLite input differs by {best_err:.3f} (relative): not this model")
        ties = [c for _, c in scored if c["input"] == best["input"]]
        if len(ties) > 1:  # the first box and class convs of a level read the same tensor
            want = {"box": 64, "cls": 1}.get(_branch(name) or "")
            ties = [c for c in ties if want in graph.tail_channels(c)]
            if len(ties) != 1:
                raise ValueError(f"{name}: cannot tell apart the TFLite convolutions that read its input")
        cand = ties[0]
        weight, bias = cand["weight"], cand["bias"]
        if weight.shape[0] != conv.weight.shape[0]:  # nc-class variant: every class starts as "face"
            weight = np.repeat(weight, conv.weight.shape[0], axis=0)
            bias = np.repeat(bias, conv.weight.shape[0], axis=0)
        conv.weight.data.copy_(torch.from_numpy(weight))
        _set_bias(model, name, conv, bias)
        mapping[name] = cand["index"]
        free.remove(cand)

    hooks = [
        mod.register_forward_pre_hook(lambda m, inputs, name=name: load(m, inputs, name))
        for name, mod in model.named_modules()
        if isinstance(mod, torch.nn.Conv2d) and not name.endswith("dfl.conv")  # DFL: fixed, not learnt
    ]
    try:
        with torch.no_grad():
            model(torch.from_numpy(np.ascontiguousarray(probe.transpose(2, 0, 1))[None]).float())
    finally:
        for h in hooks:
            h.remove()
    return mapping


def calibrate_bn(model, images: Iterable[np.ndarray]) -> int:
    """Give each BatchNorm the statistics of its input, keeping the function the same in eval mode.

    Why: the converted model holds folded convolutions and identity BatchNorms; in training mode a BN
    normalises by the batch's statistics, which would rescale every activation at the first step. With
    mean mu and variance var measured here, weight sqrt(var + eps) and bias b + mu, eval mode computes
    conv + b exactly as before, and training mode starts close to it.

    Args:
        images: (640, 640, 3) float RGB in [0, 1] (a few dozen training images).

    Returns:
        How many images were used.
    """
    import torch

    bns = [mod.bn for mod in model.modules() if hasattr(mod, "bn") and hasattr(mod, "conv")]  # each Conv's BN
    sums: dict = {}

    def hook(bn, inp):
        y = inp[0].detach().double()
        s = sums.setdefault(bn, [0.0, 0.0, 0])
        s[0] = s[0] + y.sum((0, 2, 3))
        s[1] = s[1] + (y * y).sum((0, 2, 3))
        s[2] += y.numel() // y.shape[1]

    model.eval()
    hooks = [bn.register_forward_pre_hook(hook) for bn in bns]
    n = 0
    with torch.no_grad():
        for img in images:
            model(torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))[None]).float())
            n += 1
    for h in hooks:
        h.remove()
    if not n:
        raise ValueError("calibrate_bn needs at least one image")
    for bn, (s1, s2, count) in sums.items():
        mu = s1 / count
        var = (s2 / count - mu * mu).clamp_min(0)
        folded = bn.bias.data.double()  # identity BN: its bias is the folded conv bias
        bn.running_mean.copy_(mu.float())
        bn.running_var.copy_(var.float())
        bn.weight.data.copy_((var + bn.eps).sqrt().float())
        bn.bias.data.copy_((folded + mu).float())
    return n


def letterbox_rgb01(bgr: np.ndarray, size: int = IMGSZ) -> np.ndarray:
    """(size, size, 3) float RGB in [0, 1], the image scaled to fit and padded with grey (114), centred."""
    from maskdet.ort import letterbox

    blob = letterbox(bgr, size, square=True)[0]  # (1, 3, size, size) float RGB in [0, 1]
    return np.ascontiguousarray(blob[0].transpose(1, 2, 0))


def probe_image(seed: int = 0) -> np.ndarray:
    """A deterministic textured 640x640 image: varied enough that every layer's input is distinctive."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.random((20, 20, 3)).astype(np.float32)
    img = cv2.resize(small, (IMGSZ, IMGSZ), interpolation=cv2.INTER_CUBIC)
    img += 0.15 * rng.standard_normal((IMGSZ, IMGSZ, 3)).astype(np.float32)
    return np.clip(img, 0, 1)


def convert(
    tflite: str | Path,
    nc: int = 1,
    calibration: Sequence[np.ndarray] = (),
    yaml: str = "yolov8n.yaml",
):
    """A trainable ultralytics `DetectionModel` holding the TFLite model's weights.

    Args:
        tflite: a YOLOv8 detect or pose TFLite export (its keypoint branch is dropped).
        nc: classes of the model built (1: face; 3: one per mask label, each starting from the face score).
        calibration: (640, 640, 3) float RGB images for `calibrate_bn`; none keeps identity BatchNorms
            (exact in eval mode, not a good start for training).
        yaml: the ultralytics model YAML of the same architecture and scale.
    """
    configure_ultralytics()
    from ultralytics.nn.tasks import DetectionModel

    model = DetectionModel(yaml, nc=nc, verbose=False)
    map_weights(model, TfliteGraph(tflite), probe_image())
    if len(calibration):
        calibrate_bn(model, calibration)
    return model


def save_checkpoint(model, path: str | Path, names: Sequence[str] = ("face",)) -> Path:
    """Write `model` as an ultralytics checkpoint that `YOLO(path)` loads and `train()` fine-tunes."""
    import torch
    import ultralytics

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = copy.deepcopy(model).float()
    model.names = dict(enumerate(names))
    ckpt = {
        "model": model,
        "train_args": {"task": "detect", "imgsz": IMGSZ},
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "version": ultralytics.__version__,
        "license": "AGPL-3.0",
    }
    torch.save(ckpt, path)
    return path
