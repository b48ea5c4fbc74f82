"""Missing or corrupt model files: the library, detect_video.py and app.py name the file and the fix.

The CLIs exit with status 2 and one line on stderr, never a traceback; app.py does so before it serves.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from video_samples import flat_frames, write_video

import detect_video
from maskdet.pipeline import Pipeline

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def model_files(tmp_path_factory, tiny_classifier):
    """Good tiny models to break one file at a time: a classifier folder and an ONNX-exportable detector."""
    from app_server import tiny_detector_file

    folder = tmp_path_factory.mktemp("models")
    tiny_classifier.save_pretrained(folder / "clf")
    return {"detector": tiny_detector_file(folder / "det.pt"), "classifier": folder / "clf"}


def break_models(case: str, good: dict, tmp_path) -> tuple[dict, str]:
    """(detector/classifier kwargs with one file broken, the file name the message must give)."""
    clf = shutil.copytree(good["classifier"], tmp_path / "clf")
    det = good["detector"]
    if case == "truncated safetensors":
        data = (clf / "model.safetensors").read_bytes()
        (clf / "model.safetensors").write_bytes(data[: len(data) // 3])
        return {"detector": det, "classifier": clf}, "model.safetensors"
    if case == "missing config.json":
        (clf / "config.json").unlink()
        return {"detector": det, "classifier": clf}, "config.json"
    if case == "missing model.safetensors":
        (clf / "model.safetensors").unlink()
        return {"detector": det, "classifier": clf}, "model.safetensors"
    if case == "garbage detector.onnx":
        (tmp_path / "detector.onnx").write_bytes(np.random.default_rng(0).bytes(4096))
        return {"detector": tmp_path / "detector.onnx", "classifier": clf}, "detector.onnx"
    if case == "garbage detector.pt":
        (tmp_path / "detector.pt").write_bytes(b"PK\x03\x04 not a torch file")
        return {"detector": tmp_path / "detector.pt", "classifier": clf}, "detector.pt"
    if case == "missing detector":
        return {"detector": tmp_path / "nope" / "detector.onnx", "classifier": clf}, "detector.onnx"
    raise AssertionError(case)


MODEL_CASES = [
    "truncated safetensors",
    "missing config.json",
    "missing model.safetensors",
    "garbage detector.onnx",
    "garbage detector.pt",
    "missing detector",
]


@pytest.mark.parametrize("case", MODEL_CASES)
def test_broken_model_files_name_the_file_and_the_fix(case, model_files, tmp_path, capsys):
    kwargs, name = break_models(case, model_files, tmp_path)
    with pytest.raises((ValueError, FileNotFoundError)) as e:
        Pipeline.from_pretrained(kwargs["detector"], kwargs["classifier"])
    message = str(e.value)
    assert name in message
    assert "--detector" in message or "--classifier" in message or "pass a" in message

    src = write_video(tmp_path / "in.avi", flat_frames(3))
    argv = ["--source", str(src), "--detector", str(kwargs["detector"]), "--classifier", str(kwargs["classifier"])]
    assert detect_video.main([*argv, "--no-display", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and name in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("case", ["truncated safetensors", "garbage detector.onnx"])
def test_app_refuses_to_start_on_a_broken_model(case, model_files, tmp_path):
    """`python app.py` loads the models before it serves: exit 2 and the file's name, no traceback."""
    kwargs, name = break_models(case, model_files, tmp_path)
    cmd = [sys.executable, "app.py", "--detector", str(kwargs["detector"]), "--classifier", str(kwargs["classifier"])]
    out = subprocess.run(
        [*cmd, "--port", "9"], cwd=ROOT, capture_output=True, text=True, timeout=300, env=_env(tmp_path)
    )
    assert out.returncode == 2, out.stderr[-2000:]
    assert out.stderr.startswith("error: ") and name in out.stderr and "Traceback" not in out.stderr
    assert list((tmp_path / "tmp").iterdir()) == []  # its temporary folders are gone too


def _env(tmp_path) -> dict[str, str]:
    (tmp_path / "tmp").mkdir()
    env = {k: v for k, v in os.environ.items() if k != "GRADIO_TEMP_DIR"}
    return {**env, "TMPDIR": str(tmp_path / "tmp"), "MASKDET_THREADS": "1"}


def test_serve_returns_2_without_launching(tmp_path, capsys):
    from maskdet.app import build_demo, parse_args, serve

    args = parse_args(["--detector", str(tmp_path / "none.onnx")])
    demo = build_demo(args)
    demo.launch = lambda **kw: pytest.fail("launched with no model")
    assert serve(demo, args) == 2
    assert "none.onnx" in capsys.readouterr().err


@pytest.mark.server
def test_serve_says_when_the_port_is_taken(tmp_path, capsys):
    """A second `python app.py` on a busy port ends with status 2 and the fix, not a Gradio traceback."""
    import socket

    from app_server import tiny_classifier_folder, tiny_detector_file

    from maskdet.app import build_demo, parse_args, serve

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        det, clf = tiny_detector_file(tmp_path / "det.pt"), tiny_classifier_folder(tmp_path / "clf")
        args = parse_args(["--detector", str(det), "--classifier", str(clf), "--port", str(port)])
        assert serve(build_demo(args), args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot serve on 127.0.0.1:{port}") and "--port" in err
