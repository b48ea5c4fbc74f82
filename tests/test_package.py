import subprocess
import sys

import cv2
import numpy as np

from maskdet import cli


def test_import_is_cheap_and_offline():
    code = (
        "import sys, socket\n"
        "def no_net(*a, **k): raise AssertionError('network touched')\n"
        "socket.socket.connect = no_net\n"
        "import maskdet\n"
        "heavy = [m for m in ('torch', 'ultralytics', 'timm', 'gradio', 'huggingface_hub') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "assert maskdet.Faces.__name__ == 'Faces'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cli_detect_with_local_models(tiny_detector, tiny_classifier, tmp_path, capsys):
    det = tmp_path / "det.pt"
    tiny_detector.model.save(str(det))
    clf = tiny_classifier.save_pretrained(tmp_path / "clf")
    good = tmp_path / "a.jpg"
    cv2.imwrite(str(good), np.full((120, 160, 3), 128, np.uint8))
    bad = tmp_path / "b.jpg"
    bad.write_text("not an image")
    code = cli.main(
        [
            "detect",
            str(good),
            str(bad),
            "--detector",
            str(det),
            "--classifier",
            str(clf),
            "--output-dir",
            str(tmp_path / "out"),
            "--imgsz",
            "320",
        ]
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 1  # one image failed, the other was still processed
    assert '"num_faces"' in lines[0] and '"error"' in lines[1]
    assert (tmp_path / "out" / "a.jpg").is_file()


def test_cli_missing_model_is_a_clear_error(tmp_path, capsys):
    assert cli.main(["detect", "x.jpg", "--detector", str(tmp_path / "nope.pt")]) == 2
    assert "nope.pt" in capsys.readouterr().err
    assert cli.main([]) == 2


def test_version_is_one_number_everywhere(capsys):
    import importlib.metadata

    import maskdet

    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"maskdet {maskdet.__version__}\n"
    assert importlib.metadata.version("maskdet") == maskdet.__version__  # pyproject reads it from the package
