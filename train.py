"""Train maskdet's models (logic in maskdet.train.classifier / maskdet.train.detector; flags in maskdet.cli).

    python train.py --dataset DATA --model mobilenetv2_100 --epochs 8 --output-dir out [--push-to-hub user/repo]
    python train.py crops --voc ../shared/datasets/facemask-voc --output runs/crops   # build the crop folder
    python train.py calibrate --data runs/crops/validation --output-dir runs/calibrated   # T + `unknown` cut-off
    python train.py detector --data ../shared/datasets/facemask-voc --output-dir runs/detector
    python train.py quantize --detector runs/detector/weights/detector.onnx --output detector-int8.onnx

DATA is an image folder (train/ + validation/ of label folders), a VOC folder or a hub dataset id.
"""

from __future__ import annotations

import sys

from maskdet.cli import train_main


def main(argv: list[str] | None = None) -> int:
    return train_main(argv)


if __name__ == "__main__":
    sys.exit(main())
