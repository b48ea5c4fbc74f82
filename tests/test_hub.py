"""Releases on the hub: save -> hub cache layout -> load by repo id offline, and pushes that fail in one line."""

from __future__ import annotations

import json
import shlex
import socket
import time
from unittest import mock

import numpy as np
import pytest
from test_classifier import make_hub_cache

from maskdet import cli
from maskdet.data.scenes import example_scene
from maskdet.detector import WEIGHTS_DIR
from maskdet.hub import UPLOAD_FILES, downloads_allowed
from maskdet.pipeline import Pipeline
from maskdet.train.release import save_release

REPO = "someone/maskdet"
RELEASE_FILES = {
    "README.md",
    "config.json",
    "model.safetensors",
    "model.onnx",
    "metrics.json",
    "detector-int8.onnx",
    "detector.onnx",
    "detector_metrics.json",
}


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """The bundled models saved as a release (no torch needed: both are ONNX already)."""
    return save_release(tmp_path_factory.mktemp("release") / "out", repo_id=REPO)


@pytest.fixture
def hub_cache(release, tmp_path, monkeypatch):
    """The release as the hub cache holds a downloaded repo; huggingface_hub pointed at it, offline."""
    from huggingface_hub import constants

    make_hub_cache(tmp_path / "hub", REPO, release)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return tmp_path / "hub"


def test_release_holds_both_models_and_a_card_with_metrics(release):
    assert {p.name for p in release.iterdir()} == RELEASE_FILES
    assert RELEASE_FILES <= set(UPLOAD_FILES)
    card = (release / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: timm") and f'Pipeline.from_pretrained("{REPO}")' in card
    detector_map = json.loads((WEIGHTS_DIR / "detector_metrics.json").read_text())["map50"]
    assert f"| mAP@0.5 | {detector_map:.3f} |" in card  # the bundled detector's metrics
    assert "maskdet/mask-classifier" not in card and "value: 0.977" in card  # the classifier's, in model-index


def test_repo_id_loads_offline_with_the_same_outputs(hub_cache):
    frame = example_scene(1, 640, 480)
    pulled = Pipeline.from_pretrained(REPO, face_threshold=0.2)
    assert str(pulled.detector.path).startswith(str(hub_cache)) and pulled.detector.path.name == "detector-int8.onnx"
    assert str(pulled.classifier.path).startswith(str(hub_cache)) and pulled.classifier.session is not None
    got, want = pulled(frame), Pipeline.from_pretrained(face_threshold=0.2)(frame)
    assert len(want) >= 1
    np.testing.assert_array_equal(got.boxes, want.boxes)
    np.testing.assert_array_equal(got.probs, want.probs)


def test_cli_and_app_take_the_repo_id(hub_cache, tmp_path, capsys):
    import cv2

    from maskdet.app import MaskdetApp, parse_args

    photo = tmp_path / "scene.png"
    cv2.imwrite(str(photo), example_scene(1, 640, 480))
    flags = ["--zoom", "0", "--no-flip"]
    assert cli.main(["detect", str(photo), *flags]) == 0
    bundled = json.loads(capsys.readouterr().out)
    assert cli.main(["detect", str(photo), "--detector", REPO, "--classifier", REPO, *flags]) == 0
    assert json.loads(capsys.readouterr().out) == bundled
    app = MaskdetApp(parse_args(["--detector", REPO]))
    assert app.models.problem() is None
    detector, classifier = app.models.load()
    assert str(detector.path).startswith(str(hub_cache)) and str(classifier.path).startswith(str(hub_cache))


def test_uncached_repo_fails_at_once_without_touching_the_network(tmp_path, monkeypatch):
    """Even where huggingface_hub was imported before the offline default was set (the 94 s retry)."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    tried = []
    monkeypatch.setattr(socket.socket, "connect", lambda self, address: tried.append(address))
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError) as info:
        Pipeline.from_pretrained("someone/absent")
    assert time.perf_counter() - start < 5 and tried == []
    assert str(info.value) == (
        "hub repo 'someone/absent' is not in the local hub cache and downloads are off: "
        "allow them with HF_HUB_OFFLINE=0 (docs/model-hub.md)"
    )


@pytest.mark.parametrize(("value", "allowed"), [(None, False), ("1", False), ("0", True), ("false", True)])
def test_downloads_are_allowed_only_by_hf_hub_offline_0(monkeypatch, value, allowed):
    if value is None:
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    else:
        monkeypatch.setenv("HF_HUB_OFFLINE", value)
    assert downloads_allowed() is allowed


class Unauthorized(Exception):
    response = mock.Mock(status_code=401)


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (ConnectionError("[Errno -3] Temporary failure in name resolution"), "name resolution"),
        (Unauthorized("401 Client Error: Unauthorized"), "hf auth login"),
    ],
)
def test_failed_push_is_one_line_keeps_the_folder_and_its_retry_works(tmp_path, capsys, error, words):
    from huggingface_hub import HfApi

    saved = tmp_path / "my release"
    with mock.patch.object(HfApi, "create_repo", side_effect=error):
        assert cli.main(["push", REPO, "--save-dir", str(saved)]) == 2
    out, err = capsys.readouterr()
    assert out == f"saved to {saved}\n" and err.count("\n") == 1 and words in err
    assert str(saved) in err and {p.name for p in saved.iterdir()} == RELEASE_FILES
    retry = shlex.split(err.split("retry with: ")[1])
    assert retry[:2] == ["maskdet", "push"]
    uploaded = {}

    def upload(self, *, repo_id, folder_path, allow_patterns, **kwargs):
        uploaded[repo_id] = sorted(p.name for p in saved.iterdir() if p.name in allow_patterns)

    with (
        mock.patch.object(HfApi, "create_repo", return_value=mock.Mock(repo_id=REPO)),
        mock.patch.object(HfApi, "upload_folder", upload),
    ):
        assert cli.main(retry[1:]) == 0
    assert uploaded == {REPO: sorted(RELEASE_FILES)}
    assert capsys.readouterr().out == f"pushed to https://huggingface.co/{REPO}\n"
