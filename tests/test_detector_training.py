import json
from pathlib import Path

import numpy as np
import pytest
from voc_sample import make_voc

import train
from maskdet.data.voc import load_voc, make_split, save_split
from maskdet.detector import FaceDetector


@pytest.mark.slow
def test_one_epoch_smoke_training(tmp_path):
    """yolov8n from its YAML, one epoch on a generated VOC folder: weights, ONNX exports and metrics appear."""
    voc = make_voc(tmp_path / "voc", n_images=8)
    split = save_split(make_split(load_voc(voc), val_fraction=0.25), tmp_path / "split.json")
    out = tmp_path / "det"
    argv = f"detector --data {voc} --split {split} --imgsz 64 --epochs 1 --batch 4 --output-dir {out} --export-imgsz 64"
    assert train.main(argv.split()) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"map50", "map50_95", "precision", "recall"} <= set(metrics)
    assert 0.0 <= metrics["map50"] <= 1.0
    for name in ("best.pt", "detector.onnx", "detector-int8.onnx"):
        det = FaceDetector.load(out / "weights" / name)
        faces = det.detect(np.zeros((64, 64, 3), np.uint8), conf=0.001, imgsz=64)
        assert faces.boxes.shape[1] == 4
    assert train.main([*argv.split(), "--no-resume"]) == 0  # safe to re-run over a finished run


class _Stop(Exception):
    """Raised by the stand-in YOLO once train() has its arguments, so no training runs."""


def _train_args(tmp_path, monkeypatch, extra: str = "") -> dict:
    """The keyword arguments `train.py detector ...` hands to ultralytics' YOLO.train."""
    import ultralytics

    seen = {}

    class FakeYOLO:
        def __init__(self, model, task=None):
            seen["model"] = model

        def train(self, **kwargs):
            seen.update(kwargs)
            raise _Stop

    monkeypatch.setattr(ultralytics, "YOLO", FakeYOLO)
    voc = make_voc(tmp_path / "voc", n_images=4)
    split = save_split(make_split(load_voc(voc), val_fraction=0.25), tmp_path / "split.json")
    argv = f"detector --data {voc} --split {split} --output-dir {tmp_path / 'det'} {extra}"
    with pytest.raises(_Stop):
        train.main(argv.split())
    return seen


def test_lr0_flag_picks_adamw_and_no_warmup(tmp_path, monkeypatch):
    """--lr0 must name the optimizer too: ultralytics' `auto` optimizer silently ignores lr0."""
    args = _train_args(tmp_path, monkeypatch, "--model base.pt --lr0 0.0005 --warmup-epochs 0")
    assert (args["optimizer"], args["lr0"], args["warmup_epochs"]) == ("AdamW", 0.0005, 0.0)
    assert args["model"] == "base.pt"
    default = _train_args(tmp_path / "b", monkeypatch)
    assert "optimizer" not in default and "lr0" not in default and default["warmup_epochs"] == 3.0


def test_classes_3_trains_one_class_per_mask_label(tmp_path, monkeypatch):
    """--classes 3 (issue 17's option b): the data names the three labels and ultralytics keeps them apart."""
    args = _train_args(tmp_path, monkeypatch, "--classes 3")
    assert "2: mask_worn_incorrectly" in Path(args["data"]).read_text() and args["single_cls"] is False
    default = _train_args(tmp_path / "b", monkeypatch)
    assert "0: face" in Path(default["data"]).read_text() and default["single_cls"] is True


def test_seed_flag_reaches_ultralytics(tmp_path, monkeypatch):
    """A second seed of a recipe (issue 17 selects on two seeds) must really be another run."""
    assert _train_args(tmp_path, monkeypatch, "--seed 1")["seed"] == 1
    assert _train_args(tmp_path / "b", monkeypatch)["seed"] == 0


def test_repeat_threshold_flag_oversamples_the_training_list(tmp_path, monkeypatch):
    """--repeat-threshold reaches the dataset ultralytics trains on; without it every image is listed once."""
    args = _train_args(tmp_path, monkeypatch, "--repeat-threshold 1.0")
    assert "train: train.txt" in Path(args["data"]).read_text()
    default = _train_args(tmp_path / "b", monkeypatch)
    assert "train: images/train" in Path(default["data"]).read_text()


@pytest.mark.parametrize(
    "flag", ["--lr0 0", "--lr0 2", "--warmup-epochs -1", "--repeat-threshold 0", "--teacher-conf 1.5"]
)
def test_bad_learning_rate_flags_are_clear_errors(flag, capsys):
    assert train.main(f"detector --output-dir unused {flag}".split()) == 2
    assert "must be" in capsys.readouterr().err


def test_teacher_faces_become_grey_ignore_regions(tmp_path, monkeypatch):
    """--teacher: a face the teacher finds and no annotation covers is filled grey in the image ultralytics
    trains on; the annotated faces, the other images and the validation images are left as they were."""
    import cv2

    import maskdet.train.teacher as teacher

    voc = make_voc(tmp_path / "voc", n_images=4)
    items = {it.stem: it for it in load_voc(voc)}
    split = make_split(list(items.values()), val_fraction=0.25)
    stem = next(s for s in split["train"] if len(items[s].boxes))
    gt = items[stem].boxes
    extra = np.array([[120.0, 70.0, 146.0, 98.0]], np.float32)  # clear of every generated face

    def fake_teacher(model, train_items, conf, iou=0.2, imgsz=640):
        assert conf == 0.6 and {it.stem for it in train_items} == set(split["train"])
        found = np.concatenate([gt[:1] + 1, extra])  # one annotated face (seen again) and one that is not
        return {stem: teacher.unlabelled(found, gt)}

    monkeypatch.setattr(teacher, "teacher_faces", fake_teacher)
    (tmp_path / "teacher.pt").write_bytes(b"stand-in")
    args = _train_args(tmp_path / "run", monkeypatch, f"--teacher {tmp_path / 'teacher.pt'} --teacher-conf 0.6")
    images = Path(args["data"]).parent / "images"
    trained = images / "train" / items[stem].path.name
    assert not trained.is_symlink()
    original, masked = cv2.imread(str(items[stem].path)), cv2.imread(str(trained))
    assert (masked[72:96, 122:144] == teacher.GREY).all()
    for x1, y1, x2, y2 in gt.astype(int):
        assert np.abs(masked[y1:y2, x1:x2].astype(int) - original[y1:y2, x1:x2]).mean() < 4  # JPEG re-encoded
    others = [p for p in (images / "train").iterdir() if p.name != trained.name] + list((images / "val").iterdir())
    assert others and all(p.is_symlink() for p in others)
    record = json.loads((tmp_path / "run" / "det" / "teacher.json").read_text())
    assert (record["images"], record["faces"], record["conf"]) == (1, 1, 0.6)


def test_mask_out_keeps_annotated_pixels_inside_an_ignore_box():
    from maskdet.train.teacher import GREY, mask_out, unlabelled

    image = np.full((40, 40, 3), 200, np.uint8)
    out = mask_out(image, np.array([[0, 0, 30, 30]]), keep=np.array([[20, 20, 40, 40]]))
    assert (out[:20, :20] == GREY).all() and (out[20:, 20:] == 200).all() and (image == 200).all()
    assert len(unlabelled(np.array([[0, 0, 10, 10], [20, 20, 40, 40]]), np.array([[21, 21, 40, 40]]))) == 1
    assert len(unlabelled(np.array([[0, 0, 10, 10]]), np.zeros((0, 4)))) == 1


def test_missing_teacher_is_a_clear_error(tmp_path, capsys):
    voc = make_voc(tmp_path / "voc", n_images=4)
    split = save_split(make_split(load_voc(voc), val_fraction=0.25), tmp_path / "split.json")
    argv = f"detector --data {voc} --split {split} --output-dir {tmp_path / 'det'} --teacher {tmp_path / 'no.pt'}"
    assert train.main(argv.split()) == 2
    assert "no.pt" in capsys.readouterr().err
