"""The two detector settings maskdet runs, photo and live: the single home of their numbers.

A caller names the product it wants (`Pipeline.from_pretrained(preset="photo")`, `add_model_args(p, LIVE)`)
instead of repeating sizes and thresholds.

- Input size (longest side). Photos: 640, which finds the tiny faces of crowd scenes (face AP@0.5 0.864 vs
  0.703 at 320 on our validation split). Live video (webcam, streams, video files): 320, real time on 2 CPU
  cores (~32 ms per 640x480 frame with 5 faces) at the cost of faces under ~16 px. docs/speed.md.
- Zoom. Photos add a second, 1024 pass for the faces the main pass sees small (`FaceDetector.detect`):
  face AP@0.5 0.909 vs 0.864 at 640 alone, about 2.8x the time per photo (docs/accuracy.md). With it come
  two cheap coarse passes (320, 160) that add the faces filling most of the frame, which the 640 pass misses
  (selfies, portraits: `detector.BIG_FACE`).
- Flip. Photos also run both passes on the mirrored image and fuse each pair of views (`fuse_views`): face
  AP@0.5 0.919 vs 0.909 on all faces, AP@0.5:0.95 0.612 vs 0.598, end-to-end mAP@0.5 0.836, for ~2x the
  photo time (model_card.md). Live video never flips.
- Face threshold 0.35 and NMS IoU 0.5 in both.

Without a preset, `Pipeline` runs one 640 pass (`PHOTO.imgsz`, no zoom, no flip): between the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Preset:
    """Detector settings and thresholds of one use.

    Attributes:
        name: "photo" or "live" (what callers pass as `preset=`).
        imgsz: detector input size, longest side in pixels.
        zoom: the size of a second pass that adds small faces; None: one pass.
        flip: also detect on the mirrored image and fuse the two views.
        face_threshold: minimum face confidence.
        iou: NMS IoU threshold.
    """

    name: str
    imgsz: int
    zoom: int | None
    flip: bool
    face_threshold: float = 0.35
    iou: float = 0.5

    def detector_settings(self) -> dict[str, Any]:
        """{"imgsz", "zoom", "flip"}: what a preset sets on a `Pipeline` (thresholds stay the caller's)."""
        return {"imgsz": self.imgsz, "zoom": self.zoom, "flip": self.flip}


PHOTO = Preset("photo", imgsz=640, zoom=1024, flip=True)
LIVE = Preset("live", imgsz=320, zoom=None, flip=False)
PRESETS: dict[str, Preset] = {p.name: p for p in (PHOTO, LIVE)}


def get(preset: str | Preset) -> Preset:
    """The preset of that name (a `Preset` is returned as it is); an unknown name lists the known ones."""
    if isinstance(preset, Preset):
        return preset
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; use one of {', '.join(map(repr, PRESETS))} (or None)")
    return PRESETS[preset]
