"""`maskdet detect`: one JSON line per image, annotated copies, and clear failures that lose no result."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from maskdet.cli import detect_main


@pytest.fixture
def images(tmp_path):
    good = tmp_path / "street.png"
    cv2.imwrite(str(good), np.full((120, 160, 3), 90, np.uint8))
    broken = tmp_path / "broken.jpg"
    broken.write_text("not an image")
    return good, broken


def _lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_detect_writes_json_per_image_and_annotated_copies(images, tmp_path, capsys):
    good, broken = images
    out_dir = tmp_path / "out"
    assert detect_main([str(good), str(broken), "--output-dir", str(out_dir)]) == 1  # one image failed
    first, second = _lines(capsys.readouterr().out)
    assert first["image"] == str(good) and first["num_faces"] == 0
    assert second["image"] == str(broken) and "not a readable image" in second["error"]
    assert cv2.imread(str(out_dir / "street.jpg")).shape == (120, 160, 3)
    assert not (out_dir / "broken.jpg").exists()


def test_output_dir_that_is_a_file_is_refused_before_any_work(images, tmp_path, capsys):
    good, _ = images
    blocker = tmp_path / "taken"
    blocker.write_text("a file, not a folder")
    assert detect_main([str(good), "--output-dir", str(blocker)]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: cannot create --output-dir") and captured.out == ""


def test_a_failed_write_is_reported_and_the_result_still_printed(images, tmp_path, capsys, monkeypatch):
    """A full disk makes cv2.imwrite return False: say so, keep going, exit 1; stdout keeps every result."""
    good, _ = images
    monkeypatch.setattr(cv2, "imwrite", lambda *args, **kwargs: False)
    assert detect_main([str(good), str(good), "--output-dir", str(tmp_path / "out")]) == 1
    captured = capsys.readouterr()
    assert [r["image"] for r in _lines(captured.out)] == [str(good)] * 2
    assert captured.err.count("could not write") == 2 and "disk full" in captured.err


# ------------------------------------------------------------------ every source `yolo predict` takes


@pytest.fixture
def stub_pipeline(monkeypatch, stub_detector, stub_classifier):
    """`maskdet detect` with two fixed faces per frame, so rows and counts are known without a model."""
    from maskdet import cli
    from maskdet.pipeline import Pipeline

    pipe = Pipeline(stub_detector([[10, 10, 40, 40], [60, 20, 90, 50]]), stub_classifier, imgsz=64)
    monkeypatch.setattr(cli, "pipeline_from_args", lambda a: pipe)
    return pipe


@pytest.fixture
def media(tmp_path):
    """A folder with two PNGs, a JPEG, a 6-frame video and a text file that is neither."""
    from video_samples import moving_faces, write_video

    folder = tmp_path / "media"
    folder.mkdir()
    for name in ("a.png", "b.png", "c.jpg"):
        cv2.imwrite(str(folder / name), np.full((100, 120, 3), 90, np.uint8))
    write_video(folder / "clip.avi", moving_faces(6, (120, 100)), fps=10, size=(120, 100))
    (folder / "notes.txt").write_text("not media")
    return folder


def test_a_folder_runs_its_images_and_videos_in_order(stub_pipeline, media, tmp_path, capsys):
    assert detect_main([str(media), "--output-dir", str(tmp_path / "out"), "--quiet"]) == 0
    lines = _lines(capsys.readouterr().out)
    assert [line.get("image") or line.get("video") for line in lines] == [
        str(media / n) for n in ("a.png", "b.png", "c.jpg", "clip.avi")
    ]
    assert [line["num_faces"] for line in lines[:3]] == [2, 2, 2]
    video = lines[3]
    assert video["frames"] == 6 and video["faces"] == 12 and video["people_total"] is not None  # tracked
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.jpg", "b.jpg", "c.jpg", "clip.mp4"]


def test_a_glob_picks_only_its_matches(stub_pipeline, media, capsys):
    assert detect_main([str(media / "*.png"), "--quiet"]) == 0
    assert [line["image"] for line in _lines(capsys.readouterr().out)] == [str(media / "a.png"), str(media / "b.png")]


@pytest.mark.parametrize(
    ("source", "message"),
    [("empty_dir", "holds no image or video"), ("nothing_*.png", "matches no file")],
)
def test_a_folder_or_glob_with_nothing_in_it_says_so(stub_pipeline, tmp_path, capsys, source, message):
    (tmp_path / "empty_dir").mkdir()
    assert detect_main([str(tmp_path / source)]) == 1
    captured = capsys.readouterr()
    assert message in _lines(captured.out)[0]["error"] and message in captured.err


def test_a_video_file_gives_its_summary_rows_per_face_and_an_annotated_copy(stub_pipeline, media, tmp_path, capsys):
    from video_samples import read_video

    jsonl, table = tmp_path / "faces.jsonl", tmp_path / "faces.csv"
    args = [str(media / "clip.avi"), "--output-dir", str(tmp_path / "out"), "--save-json", str(jsonl)]
    assert detect_main([*args, "--save-csv", str(table), "--max-frames", "4"]) == 0
    captured = capsys.readouterr()
    (summary,) = _lines(captured.out)
    assert summary["video"] == str(media / "clip.avi") and summary["frames"] == 4 and summary["stopped"] == "max_frames"
    assert "frame" in captured.err  # the tqdm bar
    rows = _lines(jsonl.read_text())
    assert [r["frame"] for r in rows] == [0, 0, 1, 1, 2, 2, 3, 3]  # one row per face
    assert rows[2]["time"] == pytest.approx(0.1) and rows[0]["source"] == str(media / "clip.avi")
    assert all(r["track_id"] is not None for r in rows)
    with table.open() as f:
        csv_rows = list(__import__("csv").DictReader(f))
    assert len(csv_rows) == 8 and csv_rows[0]["label"] == rows[0]["label"]
    assert len(read_video(tmp_path / "out" / "clip.mp4")) == 4


def test_save_json_and_csv_have_one_row_per_face_of_every_image(stub_pipeline, media, tmp_path, capsys):
    import csv

    jsonl, table = tmp_path / "out" / "faces.jsonl", tmp_path / "out" / "faces.csv"
    assert detect_main([str(media / "*.png"), "--save-json", str(jsonl), "--save-csv", str(table)]) == 0
    rows = _lines(jsonl.read_text())
    assert [(r["source"], r["face"]) for r in rows] == [(str(media / n), i) for n in ("a.png", "b.png") for i in (0, 1)]
    assert rows[0]["frame"] is None and rows[0]["x1"] == 10
    with table.open() as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames[:8] == ["source", "frame", "time", "face", "track_id", "label", "label_score", "score"]
        assert [r["label"] for r in reader] == [r["label"] for r in rows]
    assert "4 face rows saved" in capsys.readouterr().err


def test_a_camera_index_without_a_camera_is_a_clear_error(stub_pipeline, capsys):
    assert detect_main(["7"]) == 1  # no /dev/video7 here (nor on CI)
    captured = capsys.readouterr()
    (line,) = _lines(captured.out)
    assert line["video"] == "7" and "no camera at that index" in line["error"]
    assert captured.err.startswith("error: 7: Cannot open video/capture source")


def test_a_missing_video_is_named_as_a_video(stub_pipeline, tmp_path, capsys):
    assert detect_main([str(tmp_path / "gone.mp4")]) == 1
    assert "video file not found" in _lines(capsys.readouterr().out)[0]["error"]


# ------------------------------------------------------------------------------------ help and usage


def test_help_lists_every_command_and_an_unknown_one_is_named(capsys):
    from maskdet.cli import COMMANDS, main

    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    names = ("detect", "train", "evaluate", "batch", "info", "push")
    assert all(f"  {name} " in out for name in names) and tuple(COMMANDS) == names
    assert main(["trian"]) == 2
    assert f"unknown command 'trian'; use one of {', '.join(names)}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "usage"),
    [
        (["train", "--help"], "usage: maskdet train "),
        (["train", "detector", "--help"], "usage: maskdet train detector "),
        (["evaluate", "--help"], "usage: maskdet evaluate "),
        (["detect", "--help"], "usage: maskdet detect "),
    ],
)
def test_subcommand_usage_names_the_maskdet_command(capsys, argv, usage):
    from maskdet.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith(usage)


def test_train_py_help_lists_its_subcommands(capsys):
    import train

    with pytest.raises(SystemExit):
        train.main(["--help"])
    out = capsys.readouterr().out
    assert out.startswith("usage: train.py ")
    assert all(f"train.py {name} ..." in out for name in ("crops", "detector", "quantize"))


def test_python_m_maskdet_beside_a_clone_explains_the_shadowing(tmp_path):
    """In the folder holding a clone named maskdet, `import maskdet` is the clone's top folder: say so."""
    import os
    import subprocess
    import sys

    from conftest import ROOT

    (tmp_path / "maskdet").symlink_to(ROOT, target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True)

    if run("-c", "import maskdet, sys; sys.exit(maskdet.__file__ is None)").returncode == 0:
        pytest.skip("this install's maskdet wins over the current folder (not an editable install)")
    answer = run("-m", "maskdet", "--help")
    assert answer.returncode == 1 and answer.stdout == ""
    (line,) = answer.stderr.strip().splitlines()
    assert "found the top folder of the maskdet clone" in line and "Fix: cd maskdet" in line
