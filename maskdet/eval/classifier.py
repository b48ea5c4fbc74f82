"""The mask classifier alone on an image folder of face crops (`<folder>/<label>/*.jpg`).

Folder names are read as the VOC files are (`data.VOC_LABEL_MAP`), so the Kaggle dataset's own
`mask_weared_incorrect` works as it is. Metrics are `evaluation.classification_metrics`, the same as at
the end of training, so the figures compare directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from maskdet.data.voc import IMAGE_SUFFIXES, VOC_LABEL_MAP
from maskdet.eval.metrics import detailed_metrics, where_labelled
from maskdet.eval.plots import markdown_matrix
from maskdet.io.images import load_image


def read_image_folder(root: str | Path, names: Sequence[str]) -> tuple[list[Path], np.ndarray]:
    """Image paths under each label folder (searched recursively) and their label index in `names`.

    Raises:
        FileNotFoundError: `root` is not a folder or holds no images.
        ValueError: a sub-folder is not a known label (the message lists the known ones).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {str(root)!r} not found; expected <folder>/<label>/*.jpg")
    paths, labels = [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        label = VOC_LABEL_MAP.get(folder.name, folder.name)
        if label not in names:
            raise ValueError(
                f"folder {str(folder)!r} is not a label; sub-folders must be named {list(names)} "
                "(or mask_weared_incorrect); pass the folder that holds them, e.g. runs/crops/validation"
            )
        found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        paths += found
        labels += [names.index(label)] * len(found)
    if not paths:
        raise FileNotFoundError(f"no images under {str(root)!r}; expected <folder>/<label>/*.jpg")
    return paths, np.asarray(labels, np.int64)


def evaluate_classifier(clf: Any, root: str | Path, batch_size: int = 64) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision / recall / F1, the confusion matrix (rows = true), accuracy
    by face size (< 16, 16-32, >= 32 px: the crop's side less the pipeline's margin) and the
    reliability of the classifier's (calibrated) confidence.

    Files that are not readable images are skipped and listed under "unreadable".
    """
    from maskdet.calibration import reliability
    from maskdet.data.crops import face_side, source_of

    paths, labels = read_image_folder(root, clf.label_names)
    y_true, y_pred, confidence, sides, sources, unreadable = [], [], [], [], [], []
    for start in range(0, len(paths), batch_size):
        crops, truth = [], []
        for path, label in zip(paths[start : start + batch_size], labels[start : start + batch_size], strict=True):
            try:
                crops.append(load_image(path))
                truth.append(label)
                sources.append(source_of(path.name))
            except (ValueError, FileNotFoundError):
                unreadable.append(str(path))
        y_true += truth
        ids, probs = clf.classify(crops)
        y_pred += ids.tolist()
        confidence += probs.max(axis=1).tolist() if len(crops) else []
        sides += [face_side(c.shape) for c in crops]
    y_true, y_pred = np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)
    metrics = detailed_metrics(y_true, y_pred, clf.label_names, np.asarray(sides), sources)
    metrics["reliability"] = reliability(np.asarray(confidence), y_true == y_pred)
    threshold = float(getattr(clf, "label_threshold", 0.0))
    known = np.asarray(confidence) >= threshold
    metrics["unknown"] = {
        "threshold": threshold,
        "share_unknown": float(1 - known.mean()) if len(known) else 0.0,
        "accuracy_of_labelled": float((y_true == y_pred)[known].mean()) if known.any() else None,
    }
    return {**metrics, "data": str(root), "unreadable": unreadable}


def format_classification(m: dict[str, Any]) -> str:
    """Markdown: accuracy and macro-F1, a row per class, the confusion matrix."""
    names = m["labels"]
    lines = [
        f"accuracy {m['accuracy']:.3f}, macro-F1 {m['macro_f1']:.3f} on {m['num_samples']} images",
        "",
        "| class | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
    ]
    for n, c in m["per_class"].items():
        lines.append(f"| {n} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} | {c['support']} |")
    if "by_size" in m:
        lines += ["", "| face side | accuracy | crops |", "|---|---|---|"]
        for name, b in m["by_size"].items():
            acc = "-" if b["accuracy"] is None else f"{b['accuracy']:.3f}"
            lines.append(f"| {name} px | {acc} | {b['count']} |")
    if len(m.get("by_source", {})) > 1:
        lines += ["", "| source | accuracy | macro-F1 | crops |", "|---|---|---|---|"]
        for name, b in m["by_source"].items():
            lines.append(f"| {name} | {b['accuracy']:.3f} | {b['macro_f1']:.3f} | {b['count']} |")
        for name in names:  # a class some source never labels: its figures where it is labelled
            c = where_labelled(m, name)
            if c and len(c["sources"]) < len(m["by_source"]):
                lines.append(
                    f"\n{name} on the sources that label it ({', '.join(c['sources'])}): "
                    f"precision {c['precision']:.3f}, recall {c['recall']:.3f}"
                )
    if "unknown" in m and m["unknown"]["threshold"] > 0:
        u = m["unknown"]
        acc = "-" if u["accuracy_of_labelled"] is None else f"{u['accuracy_of_labelled']:.3f}"
        lines += [
            "",
            f"unknown below {u['threshold']:.3f}: {u['share_unknown']:.1%} of crops; accuracy of the rest {acc}",
        ]
    lines += ["", "Confusion (rows true, columns predicted):", ""]
    lines += markdown_matrix(names, names, m["confusion_matrix"])
    if m["unreadable"]:
        lines.append(f"\n{len(m['unreadable'])} unreadable files skipped.")
    return "\n".join(lines)
