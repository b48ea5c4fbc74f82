"""Without the public datasets and YuNet (no ../shared, or MASKDET_SHARED elsewhere) every command that
needs one fails in one line saying what is missing, where to get it and how to point at it."""

from __future__ import annotations

from pathlib import Path

import pytest
from voc_sample import make_voc

import evaluate
import train
from maskdet.assets import CROPS, SHARED_ENV, VOC, YUNET, shared_dir


@pytest.fixture
def no_shared(tmp_path, monkeypatch) -> Path:
    """MASKDET_SHARED at an empty folder: every default dataset and model path is missing."""
    empty = tmp_path / "empty-shared"
    empty.mkdir()
    monkeypatch.setenv(SHARED_ENV, str(empty))
    return empty


def one_line(text: str) -> str:
    assert text.startswith("error: ") and text.count("\n") == 1, text
    return text


def test_defaults_follow_maskdet_shared(no_shared):
    assert shared_dir() == no_shared
    assert VOC.default == no_shared / "datasets" / "facemask-voc"
    assert YUNET.default == no_shared / "weights" / "yunet" / "yunet_s_640_640.onnx"


def test_default_is_shared_beside_the_clone(monkeypatch):
    monkeypatch.delenv(SHARED_ENV, raising=False)
    assert shared_dir() == Path(__file__).resolve().parents[2] / "shared"


@pytest.mark.parametrize(
    ("argv", "asset", "flag"),
    [
        (["pipeline"], VOC, "--data"),
        (["faces", "--yunet", ""], VOC, "--data"),
    ],
)
def test_evaluate_without_the_dataset(no_shared, capsys, argv, asset, flag):
    assert evaluate.main(argv) == 2
    err = one_line(capsys.readouterr().err)
    assert asset.missing(asset.default, flag) in err and "docs/data.md" in err and SHARED_ENV in err


def test_train_on_a_voc_folder_without_yunet_names_it_and_the_way_around(no_shared, tmp_path, capsys):
    """The raw OpenCV traceback this used to end in, before any crop was cut."""
    voc = make_voc(tmp_path / "voc", n_images=4)
    out = tmp_path / "out"
    assert train.main(["--dataset", str(voc), "--output-dir", str(out), "--epochs", "1"]) == 2
    err = one_line(capsys.readouterr().err)
    assert YUNET.missing(YUNET.default, "--yunet") in err and err.rstrip().endswith("--no-synthetic")
    assert not (out / "data" / "train").exists()


def test_crops_without_the_crop_folder(no_shared, tmp_path, capsys):
    voc = make_voc(tmp_path / "voc", n_images=4)
    assert train.main(["crops", "--voc", str(voc), "--no-synthetic", "--output", str(tmp_path / "c")]) == 2
    assert CROPS.missing(CROPS.default, "--extra") in one_line(capsys.readouterr().err)
