"""maskdet.hub.resolve: the one model resolver (bundled, file, folder, hub repo id) for both models."""

from __future__ import annotations

import pytest

from maskdet import hub
from maskdet.hub import CLASSIFIER, DETECTOR, resolve


def test_bundled_models():
    assert resolve(DETECTOR, None) == hub.WEIGHTS_DIR / "detector-int8.onnx"
    assert resolve(CLASSIFIER, None) == hub.WEIGHTS_DIR / "classifier"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (["best.pt", "model.onnx", "best.onnx"], "best.onnx"),
        (["model.pt", "detector.pt"], "detector.pt"),
        (["detector.onnx", "detector-int8.onnx"], "detector-int8.onnx"),
        (["config.json", "model.onnx", "best.pt"], "best.pt"),  # a release's model.onnx is the classifier
    ],
)
def test_detector_folder_lookup_order(tmp_path, files, expected):
    for name in files:
        (tmp_path / name).write_bytes(b"x")
    assert resolve(DETECTOR, tmp_path) == tmp_path / expected


def test_classifier_is_a_folder(tmp_path):
    assert resolve(CLASSIFIER, tmp_path) == tmp_path
    (tmp_path / "model.onnx").write_bytes(b"x")
    with pytest.raises(ValueError, match="is a file; pass the folder"):
        resolve(CLASSIFIER, tmp_path / "model.onnx")
    with pytest.raises(FileNotFoundError, match="pass a model folder or a hub repo id"):
        resolve(CLASSIFIER, tmp_path / "missing")


@pytest.mark.parametrize(
    ("source", "expected"),
    [("someone/repo", "someone/repo"), ("hf-hub:someone/repo", "someone/repo"), ("a/b.onnx", None), (3, None)],
)
def test_repo_id(source, expected):
    assert hub.repo_id(source) == expected


def test_hub_prefix_is_a_repo_even_when_a_folder_has_that_name(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.chdir(tmp_path)
    (tmp_path / "someone" / "faces").mkdir(parents=True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(FileNotFoundError, match="no detector in folder"):
        resolve(DETECTOR, "someone/faces")  # a folder of that name wins without the prefix
    with pytest.raises(FileNotFoundError, match="'someone/faces' is not in the local hub cache"):
        resolve(DETECTOR, "hf-hub:someone/faces")
    with pytest.raises(ValueError, match="write hf-hub:user/repo"):
        resolve(DETECTOR, "hf-hub:faces")
