"""Releases: both models saved into one folder in the hub layout (see `maskdet.hub`), and pushed.

Above the detector and the classifier (it exports and reads both), so `maskdet.hub` stays below them.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from maskdet._env import read_json
from maskdet.classifier import MaskClassifier
from maskdet.detector import detector_metrics
from maskdet.hub import CLASSIFIER, DETECTOR, DETECTOR_ONNX, push_folder, resolve
from maskdet.train.card import release_card


def save_release(
    out: str | Path,
    detector: str | Path | None = None,
    classifier: str | Path | None = None,
    repo_id: str = "USER/REPO",
) -> Path:
    """Write both models into `out` as a release (the layout in `maskdet.hub`'s docstring); returns `out`.

    Args:
        out: the release folder (created; files of the same names are replaced).
        detector: None (bundled), a folder holding detector ONNX files, or one .onnx file (saved as
            detector.onnx unless it is the INT8 copy). A .pt is refused: releases carry ONNX only.
        classifier: None (bundled) or a classifier folder; model.onnx is exported when missing (needs
            the train extra).
        repo_id: the repo named in the model card's examples.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    det = resolve(DETECTOR, detector)
    if det.suffix != ".onnx":
        raise ValueError(
            f"detector {str(det)!r} is not ONNX: a release carries ONNX only. Pass the .onnx that training wrote "
            "(runs/detector/weights/detector.onnx) or its folder"
        )
    names = [n for n in DETECTOR_ONNX if (det.parent / n).is_file()] if det.name in DETECTOR_ONNX else []
    for name in names or [det.name]:
        target = name if name in DETECTOR_ONNX else "detector.onnx"
        shutil.copyfile(det.parent / name, out / target)
    det_metrics = detector_metrics(det)
    if det_metrics is not None:
        (out / "detector_metrics.json").write_text(json.dumps(det_metrics, indent=2) + "\n")

    folder = resolve(CLASSIFIER, classifier)
    for name in ("config.json", "model.safetensors", "model.onnx", "metrics.json"):
        if (folder / name).is_file():
            shutil.copyfile(folder / name, out / name)
    if not (out / "model.onnx").is_file():
        MaskClassifier.from_pretrained(folder, backend="torch").export_onnx(out / "model.onnx")
    clf = MaskClassifier.from_pretrained(out, backend="onnx")
    readme = folder / "README.md"
    card = release_card(
        clf,
        readme.read_text() if readme.is_file() else None,
        read_json(out / "metrics.json"),
        det_metrics,
        sorted(p.name for p in out.glob("detector*.onnx")),
        repo_id,
    )
    (out / "README.md").write_text(card)
    return out


def push_release(
    repo_id: str,
    detector: str | Path | None = None,
    classifier: str | Path | None = None,
    save_dir: str | Path | None = None,
    private: bool = False,
    token: str | None = None,
) -> str:
    """`save_release` into `save_dir` (a new temporary folder when None), then `push_folder`.

    The folder is kept when the push fails (the PushError names it) and when `save_dir` was given.
    """
    folder = Path(save_dir) if save_dir else Path(tempfile.mkdtemp(prefix="maskdet-release-"))
    save_release(folder, detector, classifier, repo_id)
    repo = push_folder(folder, repo_id, private=private, token=token)
    if save_dir is None:
        shutil.rmtree(folder, ignore_errors=True)
    return repo
