"""Evaluate maskdet (logic in maskdet.evaluation / maskdet.face_eval; flags in maskdet.cli).

python evaluate.py faces --detector runs/detector/weights/best.pt --imgsz 416 640
"""

from __future__ import annotations

import sys

from maskdet.cli import evaluate_main


def main(argv: list[str] | None = None) -> int:
    return evaluate_main(argv)


if __name__ == "__main__":
    sys.exit(main())
