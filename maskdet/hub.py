"""Hugging Face Hub: releases (both models in one repo), offline-first downloads, and pushes that fail in one line.

Downloads are off unless `HF_HUB_OFFLINE=0` is set, the one way to allow them (docs/model-hub.md): a repo id
then resolves from the local hub cache only, at once, instead of retrying a network that may not be there.

A release repo holds the classifier at its root in timm's layout (so `timm.create_model("hf-hub:...")` and
`transformers.pipeline(...)` load it) plus `model.onnx`, the detector's ONNX files, their metrics and one
model card:
    README.md  config.json  model.safetensors  model.onnx  metrics.json
    detector-int8.onnx  detector.onnx  detector_metrics.json
Writing and pushing one is `maskdet.train.release` (it needs both models; this module sits below them).
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
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
HUB_PREFIX = "hf-hub:"  # as timm: "hf-hub:user/repo" is a hub repo whatever is on disk
WEIGHTS_DIR = Path(__file__).parent / "weights"
_RESTORE = (
    "restore the bundled {name} in your maskdet clone (git checkout -- maskdet/weights, then pip install . again "
    "if it was installed without -e), or pass {other} (--{name} on the command line, {name}= in Python)"
)


@dataclass(frozen=True)
class ModelKind:
    """Where one kind of model comes from and how its files are named: what `resolve` needs to find it.

    Attributes:
        name: "detector" or "classifier" (messages, the --flag that takes it).
        bundled: the folder of the shipped model.
        files: a model file's names inside a folder, first found wins; () when the folder is the model.
        hub_files: what a hub repo may hold of it (the model files among them are looked up in order).
        suffixes: file suffixes taken as the model itself; () when the model is a folder.
        takes: what a source may be, for the "not found" message.
        fix: how to mend a broken model file (load errors end with it).
        no_bundled: what to do when nothing is bundled.
        wrong_file: the message for a file that cannot be this model ({path}).
    """

    name: str
    bundled: Path
    files: tuple[str, ...]
    hub_files: tuple[str, ...]
    suffixes: tuple[str, ...]
    takes: str
    fix: str
    no_bundled: str
    wrong_file: str


# Looked up in this order inside a folder or hub repo; ONNX first because it cannot run code on load,
# and the INT8 copy (maskdet.train.quantize) first of all: ~3/4 of the float time at the same face AP.
# A hub repo gives ONNX files only: a download is never unpickled.
DETECTOR = ModelKind(
    name="detector",
    bundled=WEIGHTS_DIR,
    files=(
        "detector-int8.onnx",
        *(f"{stem}{ext}" for stem in ("detector", "best", "model") for ext in (".onnx", ".pt")),
    ),
    hub_files=("detector-int8.onnx", "detector.onnx", "model.onnx", "best.onnx"),
    suffixes=(".pt", ".onnx"),
    takes="a .pt/.onnx file, a folder holding detector.onnx, or a hub repo id",
    fix="the file is corrupt or not a YOLO model. Fix: " + _RESTORE.format(name="detector", other="another .onnx/.pt"),
    no_bundled="Train one with `python train.py detector ...` or pass a model: --detector path/to/best.pt",
    wrong_file="detector file {path!r} must be a .pt or .onnx file",
)
CLASSIFIER = ModelKind(
    name="classifier",
    bundled=WEIGHTS_DIR / "classifier",
    files=(),
    hub_files=("config.json", "model.safetensors", "README.md", "model.onnx"),
    suffixes=(),
    takes="a model folder or a hub repo id (user/repo)",
    fix=_RESTORE.format(name="classifier", other="a folder written by MaskClassifier.save_pretrained"),
    no_bundled="Train one with `python train.py --dataset ... --output-dir out` and pass it: --classifier out",
    wrong_file="classifier {path!r} is a file; pass the folder holding config.json and model.safetensors",
)
_METRICS = {"detector": "detector_metrics.json", "classifier": "metrics.json"}


def resolve(kind: ModelKind, source: str | Path | None) -> Path:
    """A model file (detector) or folder (classifier) from None (bundled), a file, a folder or a hub repo id
    ("user/repo" naming nothing on disk, or "hf-hub:user/repo"), as timm's `create_model` takes them.

    Raises:
        FileNotFoundError: nothing loadable there; the message says what was looked for and the fix.
        ValueError: a file that cannot be this kind of model.
    """
    if source is None:
        found = _first(kind.bundled, kind.files) if kind.files else kind.bundled
        if found is None or not (kind.files or (found / "config.json").is_file()):
            looked = f" (looked for {', '.join(kind.files[:2])})" if kind.files else ""
            raise FileNotFoundError(f"no bundled {_title(kind)} in {str(kind.bundled)!r}{looked}. {kind.no_bundled}")
        return found
    repo = repo_id(source)
    path = Path(source).expanduser()
    if repo is None and path.is_file():
        if path.suffix.lower() not in kind.suffixes:
            raise ValueError(kind.wrong_file.format(path=str(path)))
        return path
    if repo is None and path.is_dir():
        return _model_in(kind, path, kind.files, f"folder {str(path)!r}")
    if repo is not None:
        folder = snapshot(repo, [*kind.hub_files, _METRICS[kind.name]], kind.name)
        names = tuple(n for n in kind.hub_files if Path(n).suffix in kind.suffixes)
        return _model_in(kind, folder, names, f"hub repo {repo!r} (hub detectors load from ONNX only)")
    raise FileNotFoundError(f"{kind.name} {str(source)!r} not found: pass {kind.takes}")


def _title(kind: ModelKind) -> str:
    return {"detector": "face detector", "classifier": "mask classifier"}.get(kind.name, kind.name)


def _first(folder: Path, names: Sequence[str]) -> Path | None:
    return next((folder / n for n in names if (folder / n).is_file()), None)


def _model_in(kind: ModelKind, folder: Path, names: Sequence[str], where: str) -> Path:
    """The folder itself (a classifier) or the first of `names` in it; a classifier's model.onnx beside
    config.json (a release) is no detector."""
    if not kind.files:
        return folder
    if (folder / "config.json").is_file():
        names = [n for n in names if not n.startswith("model.")]
    found = _first(folder, names)
    if found is None:
        raise FileNotFoundError(f"no {kind.name} in {where}; expected one of {list(names)}")
    return found


class PushError(RuntimeError):
    """A push failed; the message says where the files are saved and the command that retries it."""


def repo_id(source: object) -> str | None:
    """The hub repo id `source` names: "hf-hub:user/repo", or "user/repo" naming no local file or folder."""
    if not isinstance(source, str):
        return None
    if source.startswith(HUB_PREFIX):
        repo = source[len(HUB_PREFIX) :]
        if not _REPO_ID.match(repo):
            raise ValueError(f"{source!r} is no hub repo id; write {HUB_PREFIX}user/repo")
        return repo
    if _REPO_ID.match(source) and not Path(source).expanduser().exists():
        return source if Path(source).suffix.lower() not in _FILE_SUFFIXES else None
    return None


def is_repo_id(source: object) -> bool:
    """Whether `source` names a hub repo (see `repo_id`)."""
    return repo_id(source) is not None


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


def release_sources(
    detector: str | Path | None, classifier: str | Path | None
) -> tuple[str | Path | None, str | Path | None]:
    """(detector, classifier) with a release expanded: a repo id or folder holding both models, passed as the
    detector with no classifier, stands for both (`Pipeline.from_pretrained("user/repo")`)."""
    if classifier is not None or detector is None:
        return detector, classifier
    repo = repo_id(detector)
    if repo is not None:
        folder = snapshot(repo, [*DETECTOR_ONNX, *CLASSIFIER_FILES, "detector_metrics.json"], "hub repo")
    elif Path(detector).expanduser().is_dir():
        folder = Path(detector).expanduser()
    else:
        return detector, classifier
    return folder, (folder if (folder / "config.json").is_file() else None)
