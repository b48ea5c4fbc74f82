import json
from unittest import mock

import numpy as np
import pytest

from maskdet.classifier import MaskClassifier
from maskdet.results import LABELS

HUB_FILES = {"config.json", "model.safetensors", "README.md"}


@pytest.fixture
def crops():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for h, w in ((40, 30), (64, 64), (17, 90))]


@pytest.fixture
def saved(tiny_classifier, tmp_path):
    return tiny_classifier.save_pretrained(tmp_path / "clf")


def test_classify_shapes_and_probabilities(tiny_classifier, crops):
    ids, probs = tiny_classifier.classify(crops)
    assert ids.shape == (3,) and probs.shape == (3, 3)
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-5)
    assert (ids == probs.argmax(1)).all()
    ids, probs = tiny_classifier.classify([])
    assert ids.shape == (0,) and probs.shape == (0, 3)


def test_preprocess_follows_config(tiny_classifier, crops):
    x = tiny_classifier.preprocess(crops)
    assert x.shape == (3, 3, 64, 64) and x.dtype == np.float32
    white = tiny_classifier.preprocess([np.full((10, 10, 3), 255, np.uint8)])
    expected = (1.0 - tiny_classifier.mean) / tiny_classifier.std
    np.testing.assert_allclose(white[0, :, 0, 0], expected, rtol=1e-5)
    with pytest.raises(ValueError, match="crop 0"):
        tiny_classifier.preprocess([np.zeros((10, 10), np.uint8)])


def test_save_writes_hub_layout(saved):
    assert {p.name for p in saved.iterdir()} == HUB_FILES
    config = json.loads((saved / "config.json").read_text())
    assert config["architecture"] == "mobilenetv3_small_050"
    assert config["label_names"] == list(LABELS)
    assert "num_classes" not in config.get("model_args", {})
    assert config["pretrained_cfg"]["input_size"] == [3, 64, 64]
    card = (saved / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: timm\n") and "image-classification" in card


def test_round_trip_identical_outputs(tiny_classifier, saved, crops):
    loaded = MaskClassifier.from_pretrained(saved)
    assert loaded.label_names == LABELS and loaded.input_size == (64, 64)
    np.testing.assert_array_equal(loaded.classify(crops)[1], tiny_classifier.classify(crops)[1])


def test_folder_loads_with_timm_and_transformers(tiny_classifier, saved, crops):
    import timm
    import torch
    from PIL import Image
    from transformers import pipeline

    model = timm.create_model(f"local-dir:{saved}", pretrained=True).eval()
    x = torch.from_numpy(tiny_classifier.preprocess(crops))
    with torch.inference_mode():
        np.testing.assert_allclose(model(x).softmax(1).numpy(), tiny_classifier.classify(crops)[1], atol=1e-5)

    clf = pipeline("image-classification", model=str(saved))
    square = crops[1]  # square: transformers' resize + centre crop equals our resize
    top = clf(Image.fromarray(square[..., ::-1]))[0]["label"]
    assert top == LABELS[tiny_classifier.classify([square])[0][0]]


def make_hub_cache(cache, repo_id, folder):
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    commit = "0123456789abcdef0123456789abcdef01234567"
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    for f in folder.iterdir():
        (snap / f.name).write_bytes(f.read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)


def test_repo_id_resolves_offline_from_hub_cache(tiny_classifier, saved, crops, tmp_path, monkeypatch):
    from huggingface_hub import constants

    make_hub_cache(tmp_path / "hub", "someone/mask-clf", saved)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    loaded = MaskClassifier.from_pretrained("someone/mask-clf")
    np.testing.assert_array_equal(loaded.classify(crops)[1], tiny_classifier.classify(crops)[1])
    with pytest.raises(FileNotFoundError, match="someone/absent"):
        MaskClassifier.from_pretrained("someone/absent")


def test_push_to_hub_hands_repo_and_files_to_upload(tiny_classifier):
    from huggingface_hub import HfApi

    seen = {}

    def fake_upload(self, *, repo_id, folder_path, **kwargs):
        from pathlib import Path

        seen["repo_id"] = repo_id
        seen["files"] = {p.name for p in Path(folder_path).iterdir()}
        seen["config"] = json.loads((Path(folder_path) / "config.json").read_text())

    with (
        mock.patch.object(HfApi, "create_repo", return_value=mock.Mock(repo_id="me/masks")) as create,
        mock.patch.object(HfApi, "upload_folder", fake_upload),
    ):
        assert tiny_classifier.push_to_hub("me/masks", private=True) == "me/masks"
    assert create.call_args.args == ("me/masks",)
    assert create.call_args.kwargs["private"] is True and create.call_args.kwargs["exist_ok"] is True
    assert seen["repo_id"] == "me/masks" and seen["files"] == HUB_FILES | {"model.onnx"}  # runs without torch
    assert seen["config"]["label_names"] == list(LABELS)
    from huggingface_hub import constants

    assert constants.HF_HUB_OFFLINE  # offline again after the push


def test_missing_and_corrupt_files(saved, tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        MaskClassifier.from_pretrained(tmp_path / "nowhere" / "deeper" / "x y")
    (saved / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"model\.safetensors"):
        MaskClassifier.from_pretrained(saved)
    (saved / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"config\.json"):
        MaskClassifier.from_pretrained(saved)
    (saved / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"model\.safetensors"):
        MaskClassifier.from_pretrained(saved)


def test_pickle_weights_are_refused(saved):
    (saved / "model.safetensors").rename(saved / "pytorch_model.bin")
    with pytest.raises(FileNotFoundError, match="pickle"):
        MaskClassifier.from_pretrained(saved)


def test_vit_option_round_trips(tmp_path):
    vit = MaskClassifier.create("vit_tiny_patch16_224", img_size=64)
    crop = [np.full((50, 40, 3), 90, np.uint8)]
    loaded = MaskClassifier.from_pretrained(vit.save_pretrained(tmp_path / "vit"))
    assert loaded.model_args["img_size"] in (64, [64, 64]) and loaded.input_size == (64, 64)
    np.testing.assert_allclose(loaded.classify(crop)[1], vit.classify(crop)[1], atol=1e-6)


def test_onnx_backend_agrees_with_torch(tiny_classifier, tmp_path, crops):
    folder = tiny_classifier.save_pretrained(tmp_path / "clf", onnx=True)
    assert (folder / "model.onnx").is_file()
    auto = MaskClassifier.from_pretrained(folder)  # auto: ONNX when model.onnx is there
    assert auto.session is not None and auto.model is None
    torch_clf = MaskClassifier.from_pretrained(folder, backend="torch")
    assert torch_clf.session is None
    np.testing.assert_allclose(auto.classify(crops)[1], torch_clf.classify(crops)[1], atol=1e-4)
    assert auto.classify([])[1].shape == (0, 3)
    with pytest.raises(ValueError, match="torch model"):
        auto.save_pretrained(tmp_path / "again")
    (folder / "model.onnx").write_bytes(b"broken")
    with pytest.raises(ValueError, match=r"model\.onnx"):
        MaskClassifier.from_pretrained(folder, backend="onnx")
    with pytest.raises(ValueError, match="backend"):
        MaskClassifier.from_pretrained(folder, backend="tensorrt")
