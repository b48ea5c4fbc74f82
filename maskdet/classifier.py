"""MaskClassifier: a timm model + its label names, stored in timm's own hub format.

The folder (config.json + model.safetensors + README.md) is what `timm.models.save_for_hf` writes,
so it loads three ways: `MaskClassifier.from_pretrained`, `timm.create_model("hf-hub:...")` /
`"local-dir:..."`, and `transformers.pipeline("image-classification", model=...)`.
Weights load from safetensors only: a downloaded model can never run code.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from maskdet import hub, ort
from maskdet._env import configure_offline, num_threads
from maskdet._errors import brief, require
from maskdet.results import LABELS

BACKENDS = ("auto", "torch", "onnx")
WEIGHTS_DIR = hub.CLASSIFIER.bundled  # model resolution lives in maskdet.hub; the name stays for existing imports
FIX = hub.CLASSIFIER.fix
_INTERP = {"bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC, "nearest": cv2.INTER_NEAREST}


def resolve_classifier(source: str | Path | None) -> Path:
    """A model folder from None (bundled), a local folder or a hub repo id (`maskdet.hub.resolve`)."""
    return hub.resolve(hub.CLASSIFIER, source)


def calibrated_label_threshold(source: str | Path | None) -> float:
    """The `unknown` cut-off stored in a classifier's config.json, read without loading the model (0.0 if none).

    For settings shown before the model loads (the app's slider); a missing or unreadable folder
    reads 0.0 here and fails with its own message when the model loads.
    """
    try:
        config = json.loads((resolve_classifier(source) / "config.json").read_text())
        return float((config.get("calibration") or {}).get("label_threshold", 0.0))
    except (OSError, ValueError, TypeError, AttributeError):
        return 0.0


class MaskClassifier:
    """Labels face crops as with_mask / without_mask / mask_worn_incorrectly.

    Args:
        model: a timm classification model with `len(label_names)` outputs (None with an ONNX session).
        label_names: class names, index-aligned with the model's outputs.
        architecture: timm model name (recorded in config.json).
        model_args: extra `timm.create_model` kwargs needed to rebuild it (e.g. ViT `img_size`).
        session: an onnxruntime InferenceSession of the same model: `classify` then runs without torch.
        pretrained_cfg: preprocessing config (input_size, mean, std); default: the model's own.
        calibration: {"temperature": T, "label_threshold": t, ...} from config.json: probabilities are
            softmax(logits / T), and a pipeline labels faces below top-class probability t `unknown`
            unless told otherwise. Default: T = 1, t = 0 (uncalibrated, nothing unknown).
    """

    def __init__(
        self,
        model: Any,
        label_names: Sequence[str] = LABELS,
        architecture: str | None = None,
        model_args: dict | None = None,
        session: Any = None,
        pretrained_cfg: dict | None = None,
        calibration: dict | None = None,
    ):
        if model is None and session is None:
            raise ValueError("MaskClassifier needs a torch model or an onnxruntime session")
        self.model = model.eval() if model is not None else None
        self.session = session
        self.label_names = tuple(label_names)
        self.architecture = architecture or getattr(model, "default_cfg", {}).get("architecture", "")
        self.model_args = dict(model_args or {})
        self.model_args.pop("num_classes", None)  # transformers' TimmWrapper rejects a repeated num_classes
        self.path: Path | None = None
        cfg = pretrained_cfg or model.pretrained_cfg
        self.input_size = tuple(int(v) for v in cfg["input_size"][1:])  # (H, W)
        self.mean = np.asarray(cfg.get("mean", (0.485, 0.456, 0.406)), np.float32)
        self.std = np.asarray(cfg.get("std", (0.229, 0.224, 0.225)), np.float32)
        self.interpolation = _INTERP.get(cfg.get("interpolation", "bilinear"), cv2.INTER_LINEAR)
        self.calibration = dict(calibration or {})
        self.temperature = float(self.calibration.get("temperature", 1.0))
        self.label_threshold = float(self.calibration.get("label_threshold", 0.0))
        if not self.temperature > 0 or not 0 <= self.label_threshold <= 1:
            raise ValueError(
                f"calibration needs temperature > 0 and label_threshold in [0, 1], but got {self.calibration}"
            )

    @classmethod
    def create(
        cls,
        architecture: str = "mobilenetv3_small_100",
        label_names: Sequence[str] = LABELS,
        img_size: int = 128,
        **model_args: Any,
    ) -> MaskClassifier:
        """A new, untrained classifier from a timm architecture name (no download: pretrained=False)."""
        timm = require("timm", "building a classifier")

        if "vit" in architecture or "deit" in architecture:
            model_args.setdefault("img_size", img_size)
        model = timm.create_model(architecture, pretrained=False, num_classes=len(label_names), **model_args)
        set_preprocessing(model, img_size)
        return cls(model, label_names, architecture, model_args)

    @classmethod
    def from_pretrained(cls, source: str | Path | None = None, backend: str = "auto") -> MaskClassifier:
        """Load from None (bundled), a folder or a hub repo id (offline from the cache with HF_HUB_OFFLINE=1).

        Args:
            source: None, a folder or a hub repo id.
            backend: "torch" (model.safetensors), "onnx" (model.onnx with onnxruntime) or "auto"
                (onnx when the folder has model.onnx, else torch).

        Raises:
            FileNotFoundError: no model there, or config.json / model.safetensors missing.
            ValueError: a corrupt config or weights file (the message names it).
        """
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, but got {backend!r}")
        configure_offline()
        folder = resolve_classifier(source)
        config_path, weights_path, onnx_path = (
            folder / "config.json",
            folder / "model.safetensors",
            folder / "model.onnx",
        )
        if backend == "auto":
            backend = "onnx" if onnx_path.is_file() else "torch"
        for p in (config_path, onnx_path if backend == "onnx" else weights_path):
            if not p.is_file():
                hint = " (pickle .bin weights are refused: re-save with save_pretrained)" if p == weights_path else ""
                raise FileNotFoundError(f"classifier file missing: {str(p)!r}{hint}. Fix: {FIX}")
        try:
            config = json.loads(config_path.read_text())
            architecture = config["architecture"]
            label_names = config.get("label_names") or list(LABELS)
            model_args = {k: v for k, v in config.get("model_args", {}).items() if k != "num_classes"}
            pcfg = dict(config["pretrained_cfg"]) if backend == "onnx" else config.get("pretrained_cfg", {})
            if backend == "onnx":
                pcfg["input_size"] = tuple(pcfg["input_size"])
            calibration = config.get("calibration") or {}
        except (json.JSONDecodeError, KeyError, UnicodeDecodeError, AttributeError, TypeError) as e:
            raise ValueError(f"corrupt classifier config {str(config_path)!r} ({e}). Fix: {FIX}") from e
        if backend == "onnx":
            clf = cls(
                None,
                label_names,
                architecture,
                model_args,
                session=ort.session(onnx_path, "classifier", fix=FIX),
                pretrained_cfg=pcfg,
                calibration=calibration,
            )
            clf.path = folder
            return clf
        timm = require("timm", f"the torch backend for {str(folder)!r} (a folder with model.onnx runs without it)")
        import torch
        from safetensors.torch import load_file

        try:
            model = timm.create_model(architecture, pretrained=False, num_classes=len(label_names), **model_args)
            model.load_state_dict(load_file(str(weights_path)))
        except Exception as e:
            raise ValueError(
                f"cannot load classifier weights {str(weights_path)!r} ({brief(e)}): the file is corrupt or does "
                f"not match config.json. Fix: {FIX}"
            ) from e
        model.pretrained_cfg = {**model.pretrained_cfg, **pcfg}
        torch.set_num_threads(num_threads())
        clf = cls(model, label_names, architecture, model_args, calibration=calibration)
        clf.path = folder
        return clf

    def save_pretrained(self, folder: str | Path, model_card: str | None = None, onnx: bool = False) -> Path:
        """Write config.json, model.safetensors and README.md (timm's hub layout) into `folder`.

        With `onnx=True` also model.onnx, which `from_pretrained` then runs with onnxruntime.
        """
        save_for_hf = require("timm.models", "saving a classifier").save_for_hf
        if self.model is None:
            raise ValueError("save_pretrained needs the torch model; load with backend='torch'")
        folder = Path(folder)
        save_for_hf(
            self.model,
            str(folder),
            model_config={"label_names": list(self.label_names)},
            model_args=self.model_args or None,
            safe_serialization=True,
        )
        config_path = folder / "config.json"
        config = json.loads(config_path.read_text())
        config.setdefault("model_args", {}).pop("num_classes", None)
        if not config["model_args"]:
            config.pop("model_args")
        config["architecture"] = self.architecture
        if self.calibration:
            config["calibration"] = self.calibration
        config_path.write_text(json.dumps(config, indent=2) + "\n")
        if model_card is None:
            from maskdet.train.card import classifier_card

            model_card = classifier_card(self)
        (folder / "README.md").write_text(model_card)
        if onnx:
            self.export_onnx(folder / "model.onnx")
        return folder

    def push_to_hub(
        self,
        repo_id: str,
        token: str | None = None,
        private: bool = False,
        model_card: str | None = None,
        save_dir: str | Path | None = None,
    ) -> str:
        """Save (with model.onnx) and upload, like `timm.models.push_to_hf_hub`: create the repo (exist_ok),
        save into a folder, `upload_folder`. Returns the repo id.

        Args:
            save_dir: where to save first; None: a temporary folder, deleted after a successful push.

        Raises:
            maskdet.hub.PushError: the push failed; the message names the saved folder (kept) and the
                command that retries the push.
        """
        from maskdet.hub import push_folder

        folder = Path(save_dir) if save_dir else Path(tempfile.mkdtemp(prefix="maskdet-classifier-"))
        self.save_pretrained(folder, model_card=model_card, onnx=True)
        repo_id = push_folder(folder, repo_id, private=private, token=token)
        if save_dir is None:
            shutil.rmtree(folder, ignore_errors=True)
        return repo_id

    def preprocess(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """BGR crops -> (N, 3, H, W) float32 normalised RGB, the model's own eval preprocessing.

        Each crop is resized to the model's input size (no centre crop: the margin is already chosen
        by the pipeline), then normalised with the config's mean and std.
        """
        h, w = self.input_size
        batch = np.empty((len(crops), h, w, 3), np.float32)
        for i, crop in enumerate(crops):
            if crop.ndim != 3 or crop.shape[2] != 3 or crop.shape[0] < 1 or crop.shape[1] < 1:
                raise ValueError(f"crop {i} must be an (H, W, 3) BGR array, but got shape {crop.shape}")
            batch[i] = cv2.resize(crop, (w, h), interpolation=self.interpolation)[..., ::-1]
        batch = (batch / 255.0 - self.mean) / self.std
        return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))

    def classify(self, crops: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Label BGR face crops in one batched forward.

        Returns:
            label_ids (N,) int64 and probs (N, C) float32, softmax(logits / temperature), C == len(label_names).
        """
        from maskdet.calibration import softmax

        probs = softmax(self.logits(crops), self.temperature)
        return probs.argmax(axis=1).astype(np.int64), probs

    def logits(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """Raw (N, C) float32 model outputs for BGR face crops, before calibration."""
        if len(crops) == 0:
            return np.zeros((0, len(self.label_names)), np.float32)
        x = self.preprocess(crops)
        if self.session is not None:
            return np.asarray(self.session.run(None, {self.session.get_inputs()[0].name: x})[0], np.float32)
        import torch

        with torch.inference_mode():
            return self.model(torch.from_numpy(x)).float().numpy()

    def export_onnx(self, path: str | Path) -> Path:
        """Write the model as ONNX (dynamic batch) for the onnxruntime backend; returns the path."""
        torch = require("torch", "ONNX export")

        if self.model is None:
            raise ValueError("export_onnx needs the torch model; load with backend='torch'")
        path = Path(path)
        h, w = self.input_size
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(
                self.model,
                torch.zeros(1, 3, h, w),
                str(path),
                input_names=["pixel_values"],
                output_names=["logits"],
                dynamic_axes={"pixel_values": {0: "batch"}, "logits": {0: "batch"}},
                opset_version=17,
                dynamo=False,
            )
        return path

    def __repr__(self) -> str:
        return f"MaskClassifier({self.architecture!r}, labels={self.label_names}, input={self.input_size})"


def set_preprocessing(model: Any, img_size: int, mean=None, std=None) -> None:
    """Record the face-sized input and normalisation in the model's pretrained_cfg (saved in config.json)."""
    cfg = dict(model.pretrained_cfg)
    cfg.update(input_size=(3, img_size, img_size), crop_pct=1.0, crop_mode="center", interpolation="bilinear")
    if mean is not None:
        cfg["mean"], cfg["std"] = tuple(mean), tuple(std)
    cfg.setdefault("mean", (0.485, 0.456, 0.406))
    cfg.setdefault("std", (0.229, 0.224, 0.225))
    cfg.pop("test_input_size", None)
    cfg.pop("test_crop_pct", None)
    model.pretrained_cfg = cfg
