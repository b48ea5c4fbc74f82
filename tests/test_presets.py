"""maskdet.presets: the photo and live settings, and every entry point taking its defaults from them."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from maskdet import presets
from maskdet.cli import add_model_args, evaluate_parser, pipeline_kwargs
from maskdet.presets import LIVE, PHOTO, Preset


def test_presets_hold_the_photo_and_live_numbers():
    assert (PHOTO.imgsz, PHOTO.zoom, PHOTO.flip) == (640, 1024, True)
    assert (LIVE.imgsz, LIVE.zoom, LIVE.flip) == (320, None, False)
    assert PHOTO.face_threshold == LIVE.face_threshold == 0.35
    with pytest.raises(dataclasses.FrozenInstanceError):
        PHOTO.imgsz = 320  # type: ignore[misc]


@pytest.mark.parametrize(
    ("name", "expected", "raises"),
    [("photo", PHOTO, None), ("live", LIVE, None), (LIVE, LIVE, None), ("fast", None, "unknown preset 'fast'")],
)
def test_get(name, expected, raises):
    if raises:
        with pytest.raises(ValueError, match=raises):
            presets.get(name)
    else:
        assert presets.get(name) is expected


@pytest.mark.parametrize("preset", [PHOTO, LIVE, Preset("test", imgsz=480, zoom=None, flip=True)])
def test_model_args_default_to_the_preset(preset):
    p = argparse.ArgumentParser()
    add_model_args(p, preset)
    a = p.parse_args([])
    want = {"face_threshold": preset.face_threshold, "label_threshold": None, **preset.detector_settings()}
    assert pipeline_kwargs(a) == want
    flags = {f for action in p._actions for f in action.option_strings}
    assert ("--zoom" in flags) == (preset is not LIVE)


def test_evaluate_flags_default_to_the_photo_preset():
    a = evaluate_parser().parse_args(["faces"])
    assert (a.imgsz, a.zoom, a.flip, a.threshold) == ([PHOTO.imgsz], PHOTO.zoom, PHOTO.flip, PHOTO.face_threshold)
    u = evaluate_parser().parse_args(["closeups", "--no-flip", "--zoom", "0"])
    assert (u.imgsz, u.zoom, u.flip, u.face_threshold) == ([PHOTO.imgsz, LIVE.imgsz], None, False, 0.35)
