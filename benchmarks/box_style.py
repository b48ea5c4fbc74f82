"""How a dataset draws its face boxes, against how the detector draws them: for each annotated face that a
detection overlaps at IoU >= 0.3 (one to one, best overlap first), the annotation's width and height over
the detection's and how far its centre sits below the detection's (in detection heights), as percentiles.

    python benchmarks/box_style.py                                   # facemask-voc validation side
    python benchmarks/box_style.py --data ../shared/datasets/facemask-extra \\
        --split maskdet/splits/facemask-extra.json --side train      # the extra scenes the detector trained on

A dataset boxed like the detector reads about 1.00 / 1.00 / 0.00 at the median. One that boxes whole heads
reads above 1: its AP@0.5 then partly scores box style, and AP@0.3 (`evaluate.py pipeline`) says
whether the faces were found.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PERCENTILES = (10, 25, 50, 75, 90)


def style(items: list, detect, iou: float = 0.3):
    """(M, 3): width ratio, height ratio, centre offset down in detection heights, per paired face
    (`maskdet.train.restyle.measure`: one to one, best overlap first)."""
    from maskdet.train.restyle import measure

    return measure(items, detect, iou)[2]


def main(argv: list[str] | None = None) -> int:
    import cv2
    import numpy as np

    from maskdet.assets import VOC
    from maskdet.data.voc import BUNDLED_SPLIT, load_split, load_voc, select
    from maskdet.detector import FaceDetector
    from maskdet.presets import PHOTO

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=None, help="VOC folder (default: facemask-voc)")
    p.add_argument("--split", default=None, help="split JSON (default: the bundled one)")
    p.add_argument("--side", default="val", choices=("train", "val"))
    p.add_argument("--detector", default=None, help="default: bundled")
    p.add_argument("--imgsz", type=int, default=PHOTO.imgsz)
    a = p.parse_args(argv)
    items = select(load_voc(VOC.check(a.data or VOC.default, "--data")), load_split(a.split or BUNDLED_SPLIT)[a.side])
    det = FaceDetector.load(a.detector)
    ratios = style(
        items, lambda path: det.detect(cv2.imread(str(path)), conf=PHOTO.face_threshold, imgsz=a.imgsz).boxes
    )
    print(f"{len(ratios)} faces matched at IoU >= 0.3 on {len(items)} images ({a.side} side)\n")
    print("| annotation / detection | " + " | ".join(f"p{q}" for q in PERCENTILES) + " |")
    print("|---|" + "---|" * len(PERCENTILES))
    for name, col in zip(("width", "height", "centre lower by (heights)"), ratios.T, strict=True):
        print(f"| {name} | " + " | ".join(f"{v:.2f}" for v in np.percentile(col, PERCENTILES)) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
