"""The README's examples run: its Python blocks (on generated files named as the examples name them), its
`maskdet detect` lines parse, its set-up commands are the supported ones, and its links point at files."""

from __future__ import annotations

import re
import shlex

import cv2
import pytest
from conftest import ROOT

README = (ROOT / "README.md").read_text()
SKIP = "<!-- not run by tests/test_readme.py"


def code_blocks(language: str) -> list[str]:
    """Fenced blocks of one language, without those right after a SKIP comment."""
    blocks = []
    for match in re.finditer(rf"(?P<before>[^\n]*)\n```{language}\n(?P<code>.*?)\n```", README, re.S):
        if not match["before"].startswith(SKIP):
            blocks.append(match["code"])
    return blocks


@pytest.fixture
def example_files(tmp_path, monkeypatch):
    """The files the examples open, generated, in the folder they run in."""
    from video_samples import write_video

    from maskdet.data.scenes import example_scene

    cv2.imwrite(str(tmp_path / "crowd.jpg"), example_scene(0, 640, 480, 3))
    write_video(tmp_path / "street.mp4", [example_scene(i % 2, 320, 240, 2) for i in range(6)], fps=5)
    monkeypatch.chdir(tmp_path)
    return tmp_path


PYTHON = code_blocks("python")


def test_the_readme_has_python_examples_to_run():
    assert len(PYTHON) >= 2 and any("preset=" in block for block in PYTHON)


@pytest.mark.parametrize("code", PYTHON, ids=[f"block{i}" for i in range(len(PYTHON))])
def test_python_block_runs(code, example_files, capsys):
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    assert capsys.readouterr().out.strip()  # every example prints what it found


def test_maskdet_detect_lines_parse():
    from maskdet.cli import detect_parser

    lines = [line.split("#")[0] for block in code_blocks("bash") for line in block.splitlines()]
    commands = [shlex.split(line)[2:] for line in lines if line.startswith("maskdet detect ")]
    assert len(commands) >= 4
    for argv in commands:
        detect_parser().parse_args(argv)  # exits (fails the test) on an unknown flag


def test_set_up_commands_are_the_supported_ones():
    assert "python3 -m venv .venv && . .venv/bin/activate && pip install -e . && python app.py" in README
    assert 'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[test]" && python -m pytest' in README


def test_relative_links_and_the_screenshot_exist():
    targets = re.findall(r"\]\(((?!https?://)[^)#]+)\)", README)
    assert "docs/screenshot.png" in targets
    missing = [t for t in targets if not (ROOT / t).exists()]
    assert not missing
