import json

import numpy as np
import pytest
from voc_sample import make_voc

import train
from maskdet.data import load_voc, make_split, save_split
from maskdet.detector import FaceDetector


@pytest.mark.slow
def test_one_epoch_smoke_training(tmp_path):
    """yolov8n from its YAML, one epoch on a generated VOC folder: weights, ONNX export and metrics appear."""
    voc = make_voc(tmp_path / "voc", n_images=8)
    split = save_split(make_split(load_voc(voc), val_fraction=0.25), tmp_path / "split.json")
    out = tmp_path / "det"
    argv = f"detector --data {voc} --split {split} --imgsz 64 --epochs 1 --batch 4 --output-dir {out} --export-imgsz 64"
    assert train.main(argv.split()) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"map50", "map50_95", "precision", "recall"} <= set(metrics)
    assert 0.0 <= metrics["map50"] <= 1.0
    for name in ("best.pt", "detector.onnx"):
        det = FaceDetector.load(out / "weights" / name)
        faces = det.detect(np.zeros((64, 64, 3), np.uint8), conf=0.001, imgsz=64)
        assert faces.boxes.shape[1] == 4
    assert train.main([*argv.split(), "--no-resume"]) == 0  # safe to re-run over a finished run
