"""Model cards (README.md with hub metadata) for the classifier folders we save and push."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np


class CardModel(Protocol):
    """What a card reads of a `MaskClassifier` (a protocol, so that card.py does not import classifier.py,
    which imports card.py to write its README)."""

    architecture: str
    label_names: Sequence[str]
    input_size: tuple[int, ...]
    mean: np.ndarray
    std: np.ndarray


DATA_LICENCES = {
    "facemask-voc": "Kaggle 'Face Mask Detection' (andrewmvd), CC0 1.0 Public Domain",
    "facemask-crops": "chandrikadeb7/Face-Mask-Detection dataset/ (repository MIT; photos from Bing, Kaggle, "
    "RMFD: research use)",
    "facemask-extra": "adityap27/face-mask-detector dataset/ (repository MIT; photos from Google, Bing and Kaggle: "
    "research use)",
}


def _yaml_list(key: str, values: list[str]) -> str:
    return f"{key}:\n" + "".join(f"- {v}\n" for v in values) if values else ""


def classifier_card(
    clf: CardModel,
    metrics: dict[str, Any] | None = None,
    datasets: list[str] | None = None,
    base_model: str | None = None,
    command: str | None = None,
    repo_id: str = "maskdet/mask-classifier",
) -> str:
    """A README.md with YAML front matter (library, tags, datasets, base model, model-index metrics).

    Args:
        clf: the classifier (architecture, labels, input size go into the card).
        metrics: metrics.json content from training (accuracy, macro_f1, per_class ...), if any.
        datasets: dataset names or hub ids used for training.
        base_model: where the initial weights came from (None: trained from scratch).
        command: the exact command that produced the model.
    """
    datasets = datasets or []
    front = "---\nlibrary_name: timm\nlicense: agpl-3.0\npipeline_tag: image-classification\n"
    front += _yaml_list("tags", ["image-classification", "timm", "maskdet", "face-mask-detection"])
    front += _yaml_list("datasets", datasets)
    if base_model:
        front += f"base_model: {base_model}\n"
    if metrics:
        results = [("accuracy", "accuracy", metrics.get("accuracy")), ("f1", "macro-F1", metrics.get("macro_f1"))]
        for name, stats in metrics.get("per_class", {}).items():
            results.append(("recall", f"recall {name}", stats.get("recall")))
        front += (
            "model-index:\n"
            f"- name: {repo_id}\n"
            "  results:\n"
            "  - task:\n      type: image-classification\n      name: Face mask classification\n"
            "    dataset:\n      type: facemask-voc\n"
            "      name: facemask-voc + facemask-extra validation splits (face crops)\n"
            "    metrics:\n"
            + "".join(
                f"    - type: {t}\n      name: {n}\n      value: {round(float(v), 4)}\n"
                for t, n, v in results
                if v is not None
            )
        )
    front += "---\n"
    h, w = clf.input_size
    body = [
        f"# maskdet mask classifier ({clf.architecture})",
        "",
        "Labels a face crop as " + ", ".join(f"`{n}`" for n in clf.label_names) + ". It is the second stage of "
        "[maskdet](https://github.com/maskdet/maskdet): a YOLOv8 face detector finds faces, this model labels "
        "each crop (box grown by 15% on each side).",
        "",
        "## Use",
        "```python",
        "from maskdet import MaskClassifier",
        "",
        f'clf = MaskClassifier.from_pretrained("{repo_id}")',
        "label_ids, probs = clf.classify([face_crop_bgr])",
        "```",
        f'Also loads with `timm.create_model("hf-hub:{repo_id}", pretrained=True)` and '
        f'`transformers.pipeline("image-classification", model="{repo_id}")`.',
        "",
        f"Input: {w}x{h} RGB, resized without cropping, mean {[round(float(v), 4) for v in clf.mean]}, "
        f"std {[round(float(v), 4) for v in clf.std]}.",
    ]
    if metrics:
        body += [
            "",
            "## Validation results",
            "",
            "| class | precision | recall | F1 | support |",
            "|---|---|---|---|---|",
        ]
        for name, s in metrics.get("per_class", {}).items():
            body.append(f"| {name} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | {s['support']} |")
        body += ["", f"Accuracy {metrics.get('accuracy', 0):.4f}, macro-F1 {metrics.get('macro_f1', 0):.4f}."]
        if metrics.get("by_size"):
            body.append(
                "By face side: "
                + ", ".join(
                    f"{name} px {b['accuracy']:.3f} ({b['count']})"
                    for name, b in metrics["by_size"].items()
                    if b["accuracy"] is not None
                )
                + "."
            )
        if metrics.get("calibration"):
            c = metrics["calibration"]
            body.append(
                f"Calibrated ({c['fitted_on']}): temperature {c['temperature']}, expected calibration error "
                f"{c['ece_before']} -> {c['ece_after']}; faces whose top probability is under {c['label_threshold']} "
                "are labelled `unknown` by the maskdet pipeline (below it the model was wrong more often than right)."
            )
        if "confusion_matrix" in metrics:
            body += [
                "",
                "Confusion matrix (rows true, columns predicted, order as the labels):",
                "",
                "```",
                json.dumps(metrics["confusion_matrix"]),
                "```",
            ]
    if command:
        body += ["", "## Training", "", "```bash", command, "```"]
    body += [
        "",
        "## Intended use and limitations",
        "",
        "For counting mask use in public spaces and for demos; not for decisions about individuals. Trained on "
        "street and indoor photos with mostly frontal faces; very small faces (< 16 px), strong profile views, "
        "scarves and hands over the face are less reliable. `mask_worn_incorrectly` has few real training "
        "examples and is partly learnt from synthetic masks drawn at YuNet landmarks.",
        "",
        "## Data licences",
        "",
        *[f"- {name}: {lic}" for name, lic in DATA_LICENCES.items() if not datasets or name in " ".join(datasets)],
        "",
        "Model licence: AGPL-3.0, as maskdet (ultralytics is AGPL-3.0).",
        "",
    ]
    return front + "\n".join(body)


def release_card(
    clf: CardModel,
    classifier_readme: str | None,
    classifier_metrics: dict[str, Any] | None,
    detector_metrics: dict[str, Any] | None,
    detector_files: list[str],
    repo_id: str,
) -> str:
    """The README.md of a release (both models in one repo): the classifier's own card, its example repo id
    replaced by `repo_id`, then a section on the face detector with its metrics and how to run both."""
    card = classifier_readme or classifier_card(clf, classifier_metrics, repo_id=repo_id)
    card = card.replace("maskdet/mask-classifier", repo_id).rstrip() + "\n"
    lines = [
        "",
        "## Face detector and the whole pipeline",
        "",
        f"This repo also holds maskdet's YOLOv8 face detector as ONNX ({', '.join(f'`{f}`' for f in detector_files)}; "
        "the INT8 copy is used first). Both models run on ONNX Runtime, without torch:",
        "",
        "```python",
        "from maskdet import Pipeline, load_image",
        "",
        f'pipe = Pipeline.from_pretrained("{repo_id}")  # downloads only with HF_HUB_OFFLINE=0',
        'faces = pipe(load_image("photo.jpg"))',
        "```",
        "",
        f"Command line: `HF_HUB_OFFLINE=0 maskdet detect photo.jpg --detector {repo_id}`.",
    ]
    if detector_metrics:
        keys = [("map50", "mAP@0.5"), ("map50_95", "mAP@0.5:0.95"), ("precision", "precision"), ("recall", "recall")]
        rows = [(name, detector_metrics[key]) for key, name in keys if isinstance(detector_metrics.get(key), float)]
        if rows:
            size = detector_metrics.get("imgsz")
            lines += ["", f"Face detection, validation split{f' at {size} px' if size else ''}:", ""]
            lines += ["| metric | value |", "|---|---|", *(f"| {name} | {value:.3f} |" for name, value in rows)]
    return card + "\n".join(lines) + "\n"
