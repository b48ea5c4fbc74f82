"""Evaluate maskdet (logic in maskdet.eval: pipeline, classifier, faces; flags in maskdet.cli).

python evaluate.py pipeline --imgsz 640 416             # end to end on the validation split: AP per class, mAP
python evaluate.py classify --data runs/crops/validation  # the classifier alone on an image folder
python evaluate.py faces --detector runs/detector/weights/best.pt --imgsz 416 640
"""

from __future__ import annotations

import sys

from maskdet.cli import evaluate_main


def main(argv: list[str] | None = None) -> int:
    return evaluate_main(argv)


if __name__ == "__main__":
    sys.exit(main())
