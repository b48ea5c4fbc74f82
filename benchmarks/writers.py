"""Video writing speed per format and encoder, alone and end to end, on one generated clip.

    python benchmarks/writers.py                 # 640x480, 150 frames; writer alone, then process_video
    python benchmarks/writers.py --quick         # 30 frames, writer alone (smoke)

"writer" is `VideoWriter.write` alone (frames already annotated); "end to end" is `process_video` with
the bundled models at the live setting, which is what the app's Video tab and detect_video.py run.
PyAV rows are the defaults; "OpenCV" rows are the fallback used without PyAV (and always for .avi).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CASES = [  # (label, extension, through PyAV)
    ("H.264 .mp4 (PyAV, default)", ".mp4", True),
    ("VP9 .webm (PyAV, default)", ".webm", True),
    ("VP9 .webm (OpenCV fallback)", ".webm", False),
    ("mp4v .mp4 (OpenCV fallback; no browser plays it)", ".mp4", False),
    ("MJPG .avi (OpenCV)", ".avi", False),
]


def clip(n: int, size: tuple[int, int] = (640, 480)) -> list[np.ndarray]:
    """A generated scene panning sideways, BGR."""
    from maskdet.data.scenes import example_scene

    base = example_scene(0, *size)
    return [np.roll(base, 4 * i, axis=1) for i in range(n)]


@contextlib.contextmanager
def backend(pyav: bool):
    """Force OpenCV's writer when `pyav` is False (as if PyAV were not installed)."""
    from maskdet.io import video as videoio

    real = videoio._AVWriter.open
    if not pyav:
        videoio._AVWriter.open = classmethod(lambda cls, *args: None)
    try:
        yield
    finally:
        videoio._AVWriter.open = real


def writer_fps(frames: list[np.ndarray], ext: str, pyav: bool, folder: Path) -> tuple[float, str, int]:
    from maskdet.io.video import VideoWriter

    path = folder / f"w{int(pyav)}{ext}"
    with backend(pyav):
        start = time.perf_counter()
        with VideoWriter(path, fps=30) as writer:
            for frame in frames:
                writer.write(frame)
        seconds = time.perf_counter() - start
    return len(frames) / seconds, writer.codec, path.stat().st_size


def end_to_end_fps(frames: list[np.ndarray], ext: str, pyav: bool, folder: Path, pipe) -> float:
    from maskdet.io.video import VideoWriter
    from maskdet.video import process_video

    source = folder / "in.avi"
    if not source.exists():
        with backend(False), VideoWriter(source, fps=30) as writer:
            for frame in frames:
                writer.write(frame)
    with backend(pyav):
        start = time.perf_counter()
        summary = process_video(pipe, source, folder / f"e{int(pyav)}{ext}")
        seconds = time.perf_counter() - start
    return summary["frames"] / seconds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="benchmarks/writers.py", description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=150)
    p.add_argument("--quick", action="store_true", help="30 frames, writer alone")
    a = p.parse_args(argv)
    frames = clip(30 if a.quick else a.frames)
    pipe = None
    if not a.quick:
        from maskdet.pipeline import Pipeline

        pipe = Pipeline.from_pretrained(preset="live")
    print(f"{len(frames)} frames of 640x480\n")
    print("| format | encoder | writer alone, FPS | end to end, FPS | KB |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for label, ext, pyav in CASES:
            fps, codec, size = writer_fps(frames, ext, pyav, Path(tmp))
            e2e = "-" if pipe is None else f"{end_to_end_fps(frames, ext, pyav, Path(tmp), pipe):.1f}"
            print(f"| {label} | {codec} | {fps:.1f} | {e2e} | {size // 1024} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
