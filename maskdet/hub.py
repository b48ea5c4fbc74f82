"""Hugging Face Hub: releases (both models in one repo), offline-first downloads, and pushes that fail in one line.

Downloads are off unless `HF_HUB_OFFLINE=0` is set, the one way to allow them (docs/model-hub.md): a repo id
then resolves from the local hub cache only, at once, instead of retrying a network that may not be there.

A release repo holds the classifier at its root in timm's layout (so `timm.create_model("hf-hub:...")` and
`transformers.pipeline(...)` load it) plus `model.onnx`, the detector's ONNX files, their metrics and one
model card:
    README.md  config.json  model.safetensors  model.onnx  metrics.json
    detector-int8.onnx  detector.onnx  detector_metrics.json
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from maskdet._env import configure_offline, hub_online
from maskdet._errors import brief

ALLOW_DOWNLOADS = "HF_HUB_OFFLINE=0"
CLASSIFIER_FILES = ("config.json", "model.safetensors", "model.onnx", "README.md")
DETECTOR_ONNX = ("detector-int8.onnx", "detector.onnx")
# Uploaded from a saved folder, nothing else: a training folder also holds its crops (data/) and checkpoints.
UPLOAD_FILES = (
    *CLASSIFIER_FILES,
    *DETECTOR_ONNX,
    "detector_metrics.json",
    "metrics.json",
    "history.json",
    "plot.png",
    "confusion.png",
)
_REPO_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
_FILE_SUFFIXES = {".pt", ".onnx", ".json", ".safetensors"}


class PushError(RuntimeError):
    """A push failed; the message says where the files are saved and the command that retries it."""


def is_repo_id(source: object) -> bool:
    """Whether `source` reads as "user/repo" and names no local file or folder."""
    return (
        isinstance(source, str)
        and bool(_REPO_ID.match(source))
        and not Path(source).expanduser().exists()
        and Path(source).suffix.lower() not in _FILE_SUFFIXES
    )


def downloads_allowed() -> bool:
    """True only where HF_HUB_OFFLINE is set to 0 (or false/no/off): offline is the default everywhere."""
    return os.environ.get("HF_HUB_OFFLINE", "1").strip().lower() in ("0", "false", "no", "off")


def snapshot(repo_id: str, patterns: Sequence[str], what: str) -> Path:
    """The files of `repo_id` matching `patterns`: from the local cache, or downloaded where allowed.

    Raises:
        FileNotFoundError: one line: not cached with downloads off (and how to allow them), or the download failed.
    """
    configure_offline()
    from huggingface_hub import snapshot_download

    online = downloads_allowed()
    try:
        return Path(snapshot_download(repo_id, allow_patterns=list(patterns), local_files_only=not online))
    except Exception as e:
        if not online:
            raise FileNotFoundError(
                f"{what} {repo_id!r} is not in the local hub cache and downloads are off: "
                f"allow them with {ALLOW_DOWNLOADS} (docs/model-hub.md)"
            ) from e
        raise FileNotFoundError(
            f"cannot download {what} {repo_id!r} ({brief(e, 160)}): check the repo id and the network "
            "(a private repo also needs HF_TOKEN or `hf auth login`)"
        ) from e


def push_folder(folder: str | Path, repo_id: str, private: bool = False, token: str | None = None) -> str:
    """Create `repo_id` (exist_ok) and upload the release files of `folder` (`UPLOAD_FILES`); returns the repo id.

    Raises:
        PushError: network or login failure, in one line naming the saved folder and the retry command;
            `folder` is left as it was.
    """
    configure_offline()
    from huggingface_hub import HfApi

    folder = Path(folder)
    api = HfApi(token=token, library_name="maskdet")
    try:
        with hub_online():
            url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
            repo_id = getattr(url, "repo_id", None) or repo_id
            api.upload_folder(
                repo_id=repo_id,
                folder_path=str(folder),
                allow_patterns=list(UPLOAD_FILES),
                commit_message="Upload maskdet models",
                repo_type="model",
            )
    except Exception as e:
        status = getattr(getattr(e, "response", None), "status_code", None)
        login = status in (401, 403) or "token" in type(e).__name__.lower()
        hint = "; log in with `hf auth login` or set HF_TOKEN" if login else ""
        retry = shlex.join(["maskdet", "push", repo_id, "--folder", str(folder)]) + (" --private" if private else "")
        raise PushError(
            f"push to {repo_id!r} failed ({brief(e, 120)}{hint}). The files are saved in {str(folder)!r}; "
            f"retry with: {retry}"
        ) from e
    return repo_id


def save_release(
    out: str | Path,
    detector: str | Path | None = None,
    classifier: str | Path | None = None,
    repo_id: str = "USER/REPO",
) -> Path:
    """Write both models into `out` as a release (see the module docstring); returns `out`.

    Args:
        out: the release folder (created; files of the same names are replaced).
        detector: None (bundled), a folder holding detector ONNX files, or one .onnx file (saved as
            detector.onnx unless it is the INT8 copy). A .pt is refused: releases carry ONNX only.
        classifier: None (bundled) or a classifier folder; model.onnx is exported when missing (needs
            the train extra).
        repo_id: the repo named in the model card's examples.
    """
    from maskdet.card import release_card
    from maskdet.classifier import MaskClassifier, resolve_classifier
    from maskdet.detector import detector_metrics, resolve_detector

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    det = resolve_detector(detector)
    if det.suffix != ".onnx":
        raise ValueError(
            f"detector {str(det)!r} is not ONNX: a release carries ONNX only. Pass the .onnx that training wrote "
            "(runs/detector/weights/detector.onnx) or its folder"
        )
    names = [n for n in DETECTOR_ONNX if (det.parent / n).is_file()] if det.name in DETECTOR_ONNX else []
    for name in names or [det.name]:
        target = name if name in DETECTOR_ONNX else "detector.onnx"
        shutil.copyfile(det.parent / name, out / target)
    det_metrics = detector_metrics(det)
    if det_metrics is not None:
        (out / "detector_metrics.json").write_text(json.dumps(det_metrics, indent=2) + "\n")

    folder = resolve_classifier(classifier)
    for name in ("config.json", "model.safetensors", "model.onnx", "metrics.json"):
        if (folder / name).is_file():
            shutil.copyfile(folder / name, out / name)
    if not (out / "model.onnx").is_file():
        MaskClassifier.from_pretrained(folder, backend="torch").export_onnx(out / "model.onnx")
    clf = MaskClassifier.from_pretrained(out, backend="onnx")
    readme = folder / "README.md"
    card = release_card(
        clf,
        readme.read_text() if readme.is_file() else None,
        _read_json(out / "metrics.json"),
        det_metrics,
        sorted(p.name for p in out.glob("detector*.onnx")),
        repo_id,
    )
    (out / "README.md").write_text(card)
    return out


def push_release(
    repo_id: str,
    detector: str | Path | None = None,
    classifier: str | Path | None = None,
    save_dir: str | Path | None = None,
    private: bool = False,
    token: str | None = None,
) -> str:
    """`save_release` into `save_dir` (a new temporary folder when None), then `push_folder`.

    The folder is kept when the push fails (the PushError names it) and when `save_dir` was given.
    """
    folder = Path(save_dir) if save_dir else Path(tempfile.mkdtemp(prefix="maskdet-release-"))
    save_release(folder, detector, classifier, repo_id)
    repo = push_folder(folder, repo_id, private=private, token=token)
    if save_dir is None:
        shutil.rmtree(folder, ignore_errors=True)
    return repo


def release_sources(
    detector: str | Path | None, classifier: str | Path | None
) -> tuple[str | Path | None, str | Path | None]:
    """(detector, classifier) with a release expanded: a repo id or folder holding both models, passed as the
    detector with no classifier, stands for both (`Pipeline.from_pretrained("user/repo")`)."""
    if classifier is not None or detector is None:
        return detector, classifier
    if is_repo_id(detector):
        folder = snapshot(str(detector), [*DETECTOR_ONNX, *CLASSIFIER_FILES, "detector_metrics.json"], "hub repo")
    elif Path(detector).expanduser().is_dir():
        folder = Path(detector).expanduser()
    else:
        return detector, classifier
    return folder, (folder if (folder / "config.json").is_file() else None)


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
