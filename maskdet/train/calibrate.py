"""Calibrate a trained classifier on labelled crops it never trained on: temperature and `unknown` cut-off.

A fold run (`train.py --folds K`) fits both on its out-of-fold predictions. A classifier trained without
folds, or pulled from the hub, is calibrated here on a held-out crop folder (`<data>/<label>/*.jpg`,
e.g. the validation side `train.py crops` writes). Only the `calibration` block of config.json changes:
the weights are copied byte for byte, so the model's labels stay what they were.

T is one number, but its ECE measured on the crops it was fitted on flatters it, so the reported
`ece_after` is cross-fitted: T fitted on half of the scene images and measured on the other half, and the
other way round (a scene's crops share its light and blur, so images, not crops, are split).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from maskdet.io.images import load_image

RELIABILITY = "reliability.png"


def labelled_crops(data: str | Path, label_names: tuple[str, ...]) -> tuple[list[Path], np.ndarray]:
    """Real crops of `<data>/<label>/` (synthetic `synth_*` left out) and their label ids into `label_names`."""
    from maskdet.data.crops import SYNTH_PREFIX
    from maskdet.eval.classifier import read_image_folder

    paths, labels = read_image_folder(data, label_names)
    real = [i for i, path in enumerate(paths) if not path.name.startswith(SYNTH_PREFIX)]
    if not real:
        raise ValueError(f"no labelled crops in {str(data)!r}: only synthetic {SYNTH_PREFIX}* images")
    return [paths[i] for i in real], labels[real]


def cross_fitted(logits: np.ndarray, labels: np.ndarray, groups: list[str], seed: int = 0) -> np.ndarray:
    """Calibrated probabilities where each crop's T was fitted on the other half of the groups."""
    from maskdet.calibration import fit_temperature, softmax

    ids = np.unique(groups)
    half = set(np.random.default_rng(seed).permutation(ids)[: len(ids) // 2])
    first = np.array([g in half for g in groups])
    probs = np.empty(logits.shape, np.float32)
    for part in (first, ~first):
        fit_on = ~part if (~part).any() else part  # one group only: nothing to hold out
        probs[part] = softmax(logits[part], fit_temperature(logits[fit_on], labels[fit_on]))
    return probs


def calibrate(
    classifier: str | Path | None, data: str | Path, output_dir: str | Path, batch_size: int = 64, seed: int = 0
) -> dict[str, Any]:
    """Fit T and the `unknown` cut-off on `data`, write the classifier with them to `output_dir`.

    Returns the calibration block written to config.json. `output_dir` may be the classifier's own folder.
    """
    from maskdet.calibration import fit as fit_calibration
    from maskdet.calibration import reliability, softmax
    from maskdet.classifier import MaskClassifier, resolve_classifier
    from maskdet.data.crops import scene_of
    from maskdet.eval.plots import save_reliability

    source = resolve_classifier(classifier)
    clf = MaskClassifier.from_pretrained(source)
    paths, labels = labelled_crops(data, clf.label_names)
    logits = []
    for i in range(0, len(paths), batch_size):  # an unreadable crop stops here, before anything is written
        logits.append(clf.logits([load_image(p) for p in paths[i : i + batch_size]]))
    logits = np.concatenate(logits)
    groups = [scene_of(p.name) or p.name for p in paths]
    temperature, threshold = fit_calibration(logits, labels)
    raw, held = softmax(logits), cross_fitted(logits, labels, groups, seed)
    rel_raw = reliability(raw.max(1), raw.argmax(1) == labels)
    rel_held = reliability(held.max(1), held.argmax(1) == labels)
    calibration = {
        "temperature": round(temperature, 4),
        "label_threshold": round(threshold, 4),
        "fitted_on": f"{len(labels)} labelled crops in {data} that the model did not train on",
        "ece_before": round(rel_raw["ece"], 4),
        "ece_after": round(rel_held["ece"], 4),
        "ece_after_note": "cross-fitted: T fitted on half of the scene images, measured on the other half",
    }
    out = Path(output_dir)
    if out.resolve() != source.resolve():
        out.mkdir(parents=True, exist_ok=True)
        for f in source.iterdir():
            if f.is_file():
                shutil.copy2(f, out / f.name)
    config_path = out / "config.json"
    config = json.loads(config_path.read_text())
    config["calibration"] = calibration
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    save_reliability(
        out / RELIABILITY,
        {"raw": rel_raw, f"T={temperature:.2f} (cross-fitted)": rel_held},
        threshold,
    )
    card = out / "README.md"
    if card.is_file():
        card.write_text(with_section(card.read_text(), "Calibration", _card_text(calibration)))
    return calibration


def _card_text(c: dict) -> str:
    unknown = (
        f"faces whose top-class probability is under {c['label_threshold']} are labelled `unknown`: below it "
        "the classifier is wrong more often than right"
        if c["label_threshold"] > 0
        else "no `unknown` cut-off: at no confidence with 5 or more crops below it is the classifier wrong more "
        "often than right"
    )
    return (
        f"Temperature T = {c['temperature']} (probabilities are softmax(logits / T)); {unknown}. Fitted on "
        f"{c['fitted_on']}. Expected calibration error {c['ece_before']} before, {c['ece_after']} after "
        f"({c['ece_after_note']}).\n\n![reliability diagram]({RELIABILITY})\n"
    )


def with_section(markdown: str, title: str, body: str) -> str:
    """`markdown` with its `## title` section replaced by `body` (appended when there is none)."""
    lines = markdown.rstrip("\n").split("\n")
    head = f"## {title}"
    if head not in lines:
        return "\n".join(lines) + f"\n\n{head}\n\n{body}"
    start = lines.index(head)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    rest = "\n".join(lines[end:])
    return "\n".join(lines[:start]) + f"\n{head}\n\n{body}" + (f"\n{rest}\n" if rest else "")
