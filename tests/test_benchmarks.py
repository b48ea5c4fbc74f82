"""The benchmark scripts run end to end in their quick modes, on tiny models built from config."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest

from maskdet.assets import YUNET

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def _script(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def models(tiny_classifier, tiny_detector, tmp_path_factory):
    """A tiny dynamic ONNX detector and a tiny classifier folder (with metrics.json), saved to disk."""
    root = tmp_path_factory.mktemp("bench")
    det = tiny_detector.export_onnx(imgsz=320, dynamic=True, out=root / "detector.onnx")
    clf = root / "clf"
    tiny_classifier.save_pretrained(clf)
    metrics = {"accuracy": 0.5, "macro_f1": 0.4, "per_class": {"mask_worn_incorrectly": {"recall": 0.25}}}
    (clf / "metrics.json").write_text(json.dumps(metrics))
    return det, clf


@pytest.mark.skipif(not YUNET.default.is_file(), reason=YUNET.missing(YUNET.default, "--yunet"))
def test_latency_quick_against_yunet(models, tmp_path, capsys):
    det, clf = models
    out = tmp_path / "latency.json"
    argv = ["--quick", "--detectors", str(det), "--classifier", str(clf), "--imgsz", "320", "--synthetic"]
    assert _script("latency").main([*argv, "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    assert any(name.startswith("baseline") for name in results)  # YuNet ran beside ours, same frames
    ours = [r for name, r in results.items() if "detector.onnx @320" in name]
    assert ours and all(cell["median_ms"] > 0 for cell in ours[0].values())
    text = capsys.readouterr().out
    assert "ratio = median / baseline median" in text and "1.00x |" in text  # the baseline's own row


def test_latency_without_baseline_prints_no_ratios(models, tmp_path, capsys):
    """No YuNet file: every configuration is timed, no ratio is printed, and the output says why."""
    det, clf = models
    out = tmp_path / "latency.json"
    absent = tmp_path / "absent" / "yunet.onnx"
    twin = tmp_path / "run2" / det.name  # another run's file of the same name: its own rows, by path
    twin.parent.mkdir()
    twin.write_bytes(det.read_bytes())
    argv = ["--quick", "--detectors", str(det), str(twin), "--classifier", str(clf), "--imgsz", "320", "--synthetic"]
    assert _script("latency").main([*argv, "--yunet", str(absent), "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    assert sum(f"{det} @320" in name or f"{twin} @320" in name for name in results) == 2
    assert not any(name.startswith("baseline") for name in results)
    text = capsys.readouterr().out
    assert f"no baseline, so no ratios: the YuNet face model not found at {str(absent)!r}" in text
    assert "ratio =" not in text and not re.search(r"\d\.\d\dx", text)  # no "1.00x" cells


def test_classifier_comparison_quick(models, capsys):
    _, clf = models
    rows = _script("classifiers").compare([clf, clf], repeats=2)
    assert [r["incorrect_recall"] for r in rows] == [0.25, 0.25]
    assert all(r["torch_ms"][0] > 0 and r["onnx_ms"][0] > 0 for r in rows)
    text = _script("classifiers").table(rows)
    assert text.count("\n") == 3 and "1.00x" in text  # header, rule, two rows; first row is the base


def test_writers_benchmark_quick_mode_writes_every_format(capsys):
    assert _script("writers").main(["--quick"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "FPS" not in line]
    assert [row.split(" | ")[1] for row in rows] == ["libx264", "libvpx-vp9", "VP90", "mp4v", "MJPG"]


def test_classifier_folds_table(tmp_path, capsys):
    """Mean +- spread per recipe from folds.json, as training writes it (mean_spread of the fold headlines)."""
    from maskdet.train.classifier import mean_spread

    bench = _script("classifier_folds")
    for name, accs in (("A", [0.9, 0.94]), ("B", [0.96, 0.98])):
        heads = [{"accuracy": a, "macro_f1": a - 0.1, "incorrect_recall": None} for a in accs]
        run = tmp_path / name
        run.mkdir()
        calibration = {"temperature": 0.8, "label_threshold": 0.45}
        (run / "folds.json").write_text(
            json.dumps({"summary": mean_spread(heads), "calibration": calibration, "folds": heads})
        )
    assert bench.main([str(tmp_path / "A"), str(tmp_path / "B")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[2].startswith("| A | 2 | 0.920 +- 0.028 | 0.820 +- 0.028 | - |")
    assert out[3].startswith("| B | 2 | 0.970 +- 0.014 |") and out[3].endswith("| 0.8 | 0.45 |")
    assert bench.main([str(tmp_path / "missing")]) == 2


def _oof(folder: Path, names, labels, pred):
    from maskdet.results import LABELS

    folder.mkdir(parents=True, exist_ok=True)
    logits = np.eye(3)[pred] * 5.0
    np.savez(
        folder / "oof.npz",
        names=np.array(names),
        labels=np.array(labels),
        logits=logits,
        fold=np.zeros(len(labels), int),
        label_names=np.array(LABELS),
    )


def test_classifier_folds_paired(tmp_path, capsys):
    """--paired: B - A on the out-of-fold crops both runs hold, resampled by scene image."""
    bench = _script("classifier_folds")
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 120)
    names = [f"voc_img{i // 4}_{i % 4}.jpg" for i in range(120)]
    wrong = np.where(rng.random(120) < 0.3, (labels + 1) % 3, labels)
    _oof(tmp_path / "A", names, labels, wrong)
    _oof(tmp_path / "B", names[::-1], labels[::-1], labels[::-1])  # another order: matched by name
    assert bench.main([str(tmp_path / "A"), str(tmp_path / "B"), "--paired", "--resamples", "200"]) == 0
    out = capsys.readouterr().out
    assert "120 out-of-fold crops" in out
    row = next(line for line in out.splitlines() if line.startswith("| accuracy"))
    assert f"| {(wrong == labels).mean():.3f} | 1.000 |" in row and row.endswith("| B better |")
    assert "mask_worn_incorrectly recall" in out
    mixed = [n.replace("voc_", "extra_") if i % 8 < 4 else n for i, n in enumerate(names)]  # 15 of 30 scenes
    _oof(tmp_path / "D", mixed, labels, wrong)
    _oof(tmp_path / "E", mixed, labels, labels)
    argv = [str(tmp_path / "D"), str(tmp_path / "E"), "--paired", "--resamples", "50", "--only", "voc_"]
    assert bench.main(argv) == 0
    out = capsys.readouterr().out
    voc = np.array([i % 8 >= 4 for i in range(120)])
    assert "60 out-of-fold crops named voc_*\n(0 only in A, 0 only in B)" in out
    assert f"| accuracy | {(wrong == labels)[voc].mean():.3f} | 1.000 |" in out
    two = labels % 2  # facemask-extra's case: no crop labelled mask_worn_incorrectly, so no rows for it
    _oof(tmp_path / "F", mixed, two, (two + 1) % 2)
    _oof(tmp_path / "G", mixed, two, two)
    assert bench.main([str(tmp_path / "F"), str(tmp_path / "G"), "--paired", "--resamples", "20"]) == 0
    out = capsys.readouterr().out
    assert "(no mask_worn_incorrectly crop among them" in out and "incorrectly recall" not in out
    assert "| accuracy | 0.000 | 1.000 |" in out
    assert (
        bench.main([*argv[:-1], "web_"]) == 2
        and "no shared out-of-fold crop name starts with 'web_'" in capsys.readouterr().err
    )
    _oof(tmp_path / "C", names, (labels + 1) % 3, labels)  # the same crops labelled otherwise
    assert bench.main([str(tmp_path / "A"), str(tmp_path / "C"), "--paired"]) == 2
    assert "different labels" in capsys.readouterr().err
    assert bench.main([str(tmp_path / "A"), str(tmp_path / "missing"), "--paired"]) == 2


def test_classifier_folds_ensemble_averages_log_probabilities(tmp_path, capsys):
    """`A+B` is the ensemble: the runs' log-probabilities averaged per crop (matched by name; a crop one run
    lacks is left out), so two-model figures pair with one model's on the same crops."""
    bench = _script("classifier_folds")
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 40)
    names = [f"voc_img{i // 2}_{i % 2}.jpg" for i in range(40)]
    _oof(tmp_path / "A", names, labels, (labels + 1) % 3)  # always wrong
    _oof(tmp_path / "B", names[:30][::-1], labels[:30][::-1], labels[:30][::-1])  # right, 30 crops, reversed
    with np.load(tmp_path / "B" / "oof.npz") as z:  # B twice as sure, so the average follows B
        np.savez(tmp_path / "B" / "oof.npz", **{**{k: z[k] for k in z.files}, "logits": z["logits"] * 2})
    ens = bench.load_oof(Path(f"{tmp_path / 'A'}+{tmp_path / 'B'}"))
    assert list(ens["names"]) == names[:30] and (ens["labels"] == labels[:30]).all()
    a = np.eye(3)[(labels[:30] + 1) % 3] * 5.0
    b = np.eye(3)[labels[:30]] * 10.0

    def log_softmax(z):
        return z - np.log(np.exp(z).sum(1, keepdims=True))

    assert np.allclose(ens["logits"], (log_softmax(a) + log_softmax(b)) / 2, atol=1e-5)
    argv = [str(tmp_path / "A"), f"{tmp_path / 'A'}+{tmp_path / 'B'}", "--paired", "--resamples", "50"]
    assert bench.main(argv) == 0
    out = capsys.readouterr().out
    assert "A = A, B = A+B: 30 out-of-fold crops" in out and "| accuracy | 0.000 | 1.000 |" in out
    if (labels[:30] == 2).any():  # B ranks the incorrect crops first: AP 1
        assert "| mask_worn_incorrectly AP (ranked by its probability) |" in out
        assert next(x for x in out.splitlines() if "AP (ranked" in x).split(" | ")[2] == "1.000"
    assert bench.main([str(tmp_path / "A"), f"{tmp_path / 'A'}+{tmp_path / 'missing'}", "--paired"]) == 2


def test_coarse_passes_benchmark_quick(capsys):
    """Both settings run on every photo, and the coarse passes are switched back on afterwards."""
    import maskdet.detector as d

    before = d.coarse_sizes
    assert _script("coarse_passes").main(["--quick"]) == 0
    assert d.coarse_sizes is before and d.coarse_sizes(640) == [320, 160]
    out = capsys.readouterr().out
    assert "median per-photo ratio" in out and "3 pairs" in out


def test_box_style_reads_how_much_looser_the_annotations_are():
    """Annotations 1.5x wide and 1.2x tall around the detection, centre 0.1 of its height higher; a face no
    detection reaches at IoU 0.3 is left out."""
    from types import SimpleNamespace

    det = np.array([[100, 100, 140, 150], [300, 300, 320, 320]], np.float64)  # 40 x 50, and a far one
    w, h = 40 * 1.5, 50 * 1.2
    cx, cy = 120, 125 - 0.1 * 50
    loose = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
    item = SimpleNamespace(path="scene.jpg", stem="scene", boxes=np.array([loose, [0, 0, 10, 10]], np.float64))
    ratios = _script("box_style").style([item], lambda path: det)
    assert ratios.shape == (1, 3)
    assert ratios[0] == pytest.approx([1.5, 1.2, -0.1])
