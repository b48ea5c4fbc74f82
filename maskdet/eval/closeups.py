"""Close-ups: does the pipeline find and label the one big face of a selfie, a webcam shot or a portrait?

Crowd scenes (the VOC validation split) say little about big faces, and a user's first photo is often
one. Each labelled face crop (`<folder>/<label>/*.jpg`, e.g. facemask-crops) is scored two ways:
- `whole`: the crop itself is the photo (the face fills most of the frame);
- `pasted`: the crop pasted at 25-90% of the frame height on a faceless textured 640x480 background.
"Found": at least one face at the operating threshold (for `pasted`, one whose centre lies in the
pasted crop). "Labelled right": the largest face found carries the folder's label.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from maskdet.data.voc import IMAGE_SUFFIXES
from maskdet.results import LABELS, Faces


@dataclass
class Closeup:
    """One test photo: BGR image, the true label, and where the face crop lies (xyxy) in it."""

    image: np.ndarray
    label: str
    rect: tuple[int, int, int, int]
    kind: str
    source: str


def _background(rng: np.random.Generator, h: int = 480, w: int = 640) -> np.ndarray:
    """A smooth random texture: no faces, but not a flat colour a detector finds trivially empty."""
    small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    bg = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.int16)
    bg += rng.integers(-12, 13, (h, w, 3), dtype=np.int16)
    return np.clip(bg, 0, 255).astype(np.uint8)


def closeup_cases(folder: str | Path, per_label: int = 150, seed: int = 0) -> list[Closeup]:
    """`per_label` crops of each label folder under `folder` (seeded sample), each as `whole` and `pasted`.

    Raises:
        FileNotFoundError: no `<label>/` image folders under `folder`.
    """
    folder = Path(folder)
    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    cases = []
    labels = [label for label in LABELS if (folder / label).is_dir()]
    if not labels:
        raise FileNotFoundError(f"no label folders ({', '.join(LABELS)}) under {str(folder)!r}")
    for label in labels:
        paths = sorted(p for p in (folder / label).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        for path in pick.sample(paths, min(per_label, len(paths))):
            crop = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if crop is None:
                continue
            h, w = crop.shape[:2]
            cases.append(Closeup(crop, label, (0, 0, w, h), "whole", path.name))
            bg = _background(rng)
            scale = rng.uniform(0.25, 0.9) * bg.shape[0] / h
            ph, pw = max(8, round(h * scale)), max(8, round(w * scale))
            pw = min(pw, bg.shape[1])
            y, x = int(rng.integers(0, bg.shape[0] - ph + 1)), int(rng.integers(0, bg.shape[1] - pw + 1))
            bg[y : y + ph, x : x + pw] = cv2.resize(crop, (pw, ph), interpolation=cv2.INTER_AREA)
            cases.append(Closeup(bg, label, (x, y, x + pw, y + ph), "pasted", path.name))
    return cases


def _inside(faces: Faces, rect: tuple[int, int, int, int]) -> np.ndarray:
    cx = (faces.boxes[:, 0] + faces.boxes[:, 2]) / 2
    cy = (faces.boxes[:, 1] + faces.boxes[:, 3]) / 2
    x1, y1, x2, y2 = rect
    return (cx >= x1) & (cx <= x2) & (cy >= y1) & (cy <= y2)


def evaluate_closeups(run: Callable[[np.ndarray], Faces], cases: Sequence[Closeup]) -> dict:
    """Found and labelled-right rates per kind (`whole`, `pasted`) and label, plus the misses' sources.

    Args:
        run: BGR image -> classified `Faces` at the operating threshold (e.g. a `Pipeline`).
    """
    rows: dict[str, dict] = {}
    for case in cases:
        faces = run(case.image)
        ok = _inside(faces, case.rect) if len(faces) else np.zeros(0, bool)
        found = bool(ok.any())
        right = False
        if found:
            boxes = faces.boxes[ok]
            largest = int(np.argmax((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])))
            right = faces.labels[int(np.flatnonzero(ok)[largest])] == case.label
        for key in (case.kind, f"{case.kind}/{case.label}"):
            row = rows.setdefault(key, {"n": 0, "found": 0, "labelled_right": 0, "missed": []})
            row["n"] += 1
            row["found"] += found
            row["labelled_right"] += right
            if not found and key == case.kind:
                row["missed"].append(case.source)
    for row in rows.values():
        row["found_rate"] = row["found"] / row["n"]
        row["labelled_right_rate"] = row["labelled_right"] / row["n"]
    return dict(sorted(rows.items()))


def format_closeups(reports: dict[str, dict]) -> str:
    """Markdown: one row per setting and kind."""
    lines = ["| setting | photos | a face found | largest face labelled right |", "|---|---|---|---|"]
    for name, rows in reports.items():
        for kind, row in rows.items():
            lines.append(
                f"| {name} {kind} | {row['n']} | {row['found_rate']:.3f} ({row['found']}) "
                f"| {row['labelled_right_rate']:.3f} ({row['labelled_right']}) |"
            )
    return "\n".join(lines)
