"""The default install: every default entry point runs where torch, ultralytics and timm cannot be imported.

A `sitecustomize.py` on PYTHONPATH makes those imports fail in a subprocess exactly as they fail where
the packages are absent (ModuleNotFoundError), so this checks the light install inside the full one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from video_samples import moving_faces, write_video

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


@pytest.fixture(scope="module")
def light_env(tmp_path_factory) -> dict[str, str]:
    """Environment for a subprocess in which the heavy packages cannot be imported."""
    folder = tmp_path_factory.mktemp("blocker")
    (folder / "sitecustomize.py").write_text(BLOCKER)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(folder), str(ROOT), env.get("PYTHONPATH", "")])
    env["MASKDET_HOME"] = str(folder / "home")
    return env


def run(env: dict[str, str], *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_blocker_blocks(light_env):
    done = run(light_env, sys.executable, "-c", "import torch")
    assert done.returncode == 1 and "blocked by the light-install test" in done.stderr


def test_pipeline_and_app_handler_without_torch(light_env, tmp_path):
    """Pipeline.from_pretrained() and the app's image handler run on a generated photo; no heavy import."""
    from maskdet.scenes import example_scene

    photo = tmp_path / "scene.png"
    cv2.imwrite(str(photo), example_scene(1, 640, 480))
    code = f"""
import json, sys
import numpy as np
from maskdet import Pipeline, load_image
from maskdet.app import MaskdetApp, parse_args

faces = Pipeline.from_pretrained(zoom=1024, flip=True)(load_image({str(photo)!r}))  # the app's photo setting
image, result = MaskdetApp(parse_args([])).detect_image(np.ascontiguousarray(load_image({str(photo)!r})[..., ::-1]))
print(json.dumps({{"pipeline": faces.to_dict()["num_faces"], "app": result["num_faces"], "shape": list(image.shape),
                  "heavy": [m for m in {BLOCKED!r} if m in sys.modules]}}))
"""
    done = run(light_env, sys.executable, "-c", code)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["heavy"] == [] and out["shape"] == [480, 640, 3]
    assert out["pipeline"] >= 1 and out["app"] == out["pipeline"]  # the scene's face is found both ways


def test_cli_and_detect_video_without_torch(light_env, tmp_path):
    photo = tmp_path / "scene.png"
    cv2.imwrite(str(photo), np.full((120, 160, 3), 128, np.uint8))
    done = run(light_env, sys.executable, "-m", "maskdet", "detect", str(photo), "--zoom", "0", "--no-flip")
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["image"] == str(photo)

    video = write_video(tmp_path / "clip.mp4", moving_faces(8), fps=8, size=(160, 120))
    summary = tmp_path / "summary.json"
    args = ["--source", str(video), "--no-display", "--summary", str(summary), "--output", str(tmp_path / "o.webm")]
    done = run(light_env, sys.executable, str(ROOT / "detect_video.py"), *args)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(summary.read_text())["frames"] == 8


def test_features_needing_the_train_extra_say_which(light_env, tmp_path):
    """A .pt detector and training fail in one line that names the package and the extra to install."""
    pt = tmp_path / "detector.pt"
    pt.write_bytes(b"weights")
    done = run(light_env, sys.executable, "-m", "maskdet", "detect", "x.jpg", "--detector", str(pt))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "needs ultralytics" in done.stderr and '".[train]"' in done.stderr
    done = run(light_env, sys.executable, str(ROOT / "train.py"), "--dataset", str(tmp_path), "--output-dir", "o")
    assert done.returncode == 2 and "needs torch" in done.stderr and '".[train]"' in done.stderr
