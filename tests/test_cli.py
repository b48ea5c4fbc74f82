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
