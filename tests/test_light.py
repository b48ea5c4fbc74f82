"""The default install: every default entry point runs where torch, ultralytics and timm cannot be imported.

A `sitecustomize.py` on PYTHONPATH makes those imports fail in a subprocess exactly as they fail where
the packages are absent (ModuleNotFoundError), so this checks the light install inside the full one.
One subprocess runs every entry point in turn (each start imports Gradio and ONNX Runtime: seconds).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
from video_samples import moving_faces, write_video

from maskdet.data.scenes import example_scene

ROOT = Path(__file__).resolve().parent.parent
BLOCKED = ("torch", "torchvision", "ultralytics", "timm")
BLOCKER = f"""
import sys

BLOCKED = {BLOCKED!r}


class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the light-install test)", name=name)
        return None


sys.meta_path.insert(0, Blocker())
"""

SCRIPT = """
import contextlib, io, json, sys
from pathlib import Path

import numpy as np

import detect_video
import train
from maskdet import Pipeline, cli, load_image
from maskdet.app import MaskdetApp, parse_args

work = Path(sys.argv[1])
out = {}
try:
    import torch  # noqa: F401
    out["blocked"] = False
except ModuleNotFoundError:
    out["blocked"] = True
photo = load_image(work / "scene.png")
out["pipeline"] = len(Pipeline.from_pretrained(zoom=1024, flip=True)(photo))  # the app's photo setting
image, result = MaskdetApp(parse_args([])).detect_image(np.ascontiguousarray(photo[..., ::-1]))  # RGB in
out["app"], out["app_shape"] = result["num_faces"], list(image.shape)


def call(main, argv):
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(argv)
    return [code, stdout.getvalue(), stderr.getvalue()]


out["detect"] = call(cli.main, ["detect", str(work / "scene.png"), "--zoom", "0", "--no-flip"])
video = ["--source", str(work / "clip.mp4"), "--no-display", "--summary", str(work / "summary.json")]
out["video"] = call(detect_video.main, [*video, "--output", str(work / "out.webm")])
out["pt"] = call(cli.main, ["detect", "x.jpg", "--detector", str(work / "detector.pt")])
out["train"] = call(train.main, ["--dataset", str(work), "--output-dir", str(work / "clf")])
out["heavy"] = [m for m in BLOCKED if m in sys.modules]
print(json.dumps(out))
"""


def test_default_entry_points_run_without_torch_ultralytics_timm(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    cv2.imwrite(str(tmp_path / "scene.png"), example_scene(1, 640, 480))
    write_video(tmp_path / "clip.mp4", moving_faces(8), fps=8, size=(160, 120))
    (tmp_path / "detector.pt").write_bytes(b"weights")
    env = dict(os.environ, MASKDET_HOME=str(tmp_path / "home"))
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(ROOT), env.get("PYTHONPATH", "")])
    script = f"BLOCKED = {BLOCKED!r}\n{SCRIPT}"
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["blocked"] and out["heavy"] == []
    assert out["pipeline"] >= 1 and out["app"] == out["pipeline"] and out["app_shape"] == [480, 640, 3]
    code, stdout, _ = out["detect"]
    assert code == 0 and json.loads(stdout)["num_faces"] >= 1
    assert out["video"][0] == 0 and json.loads((tmp_path / "summary.json").read_text())["frames"] == 8
    for (code, _, stderr), package in ((out["pt"], "ultralytics"), (out["train"], "torch")):
        # one line that names the package and the extra that brings it
        assert code == 2 and stderr.count("\n") == 1 and f"needs {package}, which the default install" in stderr
        assert 'pip install -e ".[train]"' in stderr
