"""The detector settings an evaluation or benchmark runs, and the names its reports give them.

Report keys such as "maskdet detector-int8.onnx @640+flip+1024" come from here, so every report
(evaluate.py faces / pipeline / closeups, benchmarks, the app's About tab) names a setting the same way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def run_sizes(detector: Any, asked: Sequence[int]) -> list[int]:
    """The input sizes `detector` really runs for `asked`, each once, in order (a static ONNX export has one)."""
    fixed = getattr(detector, "imgsz_fixed", None)
    return list(dict.fromkeys(fixed or n for n in asked))


def run_configs(
    detector: Any, asked: Sequence[int], zoom: int | None = None, flip: bool = False
) -> list[tuple[int, int | None, bool]]:
    """Evaluation settings as (size, zoom, flip): one pass at each of `run_sizes` (how live video runs),
    then the photo setting at each size where it adds a pass: the mirrored view with `flip`, the zoomed
    pass for sizes under `zoom` (none for a static ONNX export, which runs one size only)."""
    sizes = run_sizes(detector, asked)
    fixed = getattr(detector, "imgsz_fixed", None)
    photo = [(s, zoom if zoom and s < zoom and not fixed else None, flip) for s in sizes]
    return [(s, None, False) for s in sizes] + [c for c in photo if c[1] or c[2]]


def config_name(size: int, zoom: int | None = None, flip: bool = False) -> str:
    """How reports name a detector setting: "640", "640+1024", "640+flip+1024" (flip mirrors every pass)."""
    return f"{size}{'+flip' if flip else ''}{f'+{zoom}' if zoom else ''}"


def report_names(paths: Sequence[Path]) -> list[str]:
    """Each detector's file name, or its whole path where two share a name (two runs' detector-int8.onnx):
    reports key their rows by it, and a repeated key would drop one detector's figures."""
    counts = Counter(path.name for path in paths)
    return [path.name if counts[path.name] == 1 else str(path) for path in paths]
