"""The app's two models: loaded once on first use, shared by every request, described for the About tab."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from maskdet._env import read_json
from maskdet.app.inputs import hide_paths, input_error
from maskdet.detector import detector_metrics
from maskdet.presets import LIVE, PHOTO
from maskdet.results import Faces

BUNDLED_DIR = Path(__file__).resolve().parent.parent / "weights"  # the models that ship with maskdet


class _Serialised:
    """A pipeline whose calls take a shared lock: ultralytics' predictor is not thread-safe, and two
    requests decoding and encoding in parallel while inference runs one at a time keeps both cores busy."""

    def __init__(self, pipeline: Any, lock: threading.Lock):
        self.pipeline = pipeline
        self.lock = lock

    def __call__(self, frame: np.ndarray) -> Faces:
        with self.lock:
            return self.pipeline(frame)


class Models:
    """Detector + classifier, loaded once on first use; a failed load is retried on the next request.

    Args:
        detector: file, folder or hub repo id (None: bundled).
        classifier: folder or hub repo id (None: bundled).
        imgsz: detector input size for photos.
        live_imgsz: detector input size for webcam frames and videos (the real-time one).
        zoom: a second, zoomed detector pass for photos that adds small faces (None: one pass).
        flip: photos also run on the mirrored image (`FaceDetector.detect`).
    """

    def __init__(
        self,
        detector: str | None = None,
        classifier: str | None = None,
        imgsz: int = PHOTO.imgsz,
        live_imgsz: int = LIVE.imgsz,
        zoom: int | None = None,
        flip: bool = False,
    ):
        self.detector_source = detector
        self.classifier_source = classifier
        self.imgsz = imgsz
        self.live_imgsz = live_imgsz
        self.zoom = zoom
        self.flip = flip
        self._load_lock = threading.Lock()
        self.infer_lock = threading.Lock()
        self._models: tuple[Any, Any] | None = None

    @property
    def loaded(self) -> bool:
        return self._models is not None

    def load(self) -> tuple[Any, Any]:
        """(FaceDetector, MaskClassifier); raises gr.Error with the loader's own message and the fix."""
        with self._load_lock:
            if self._models is None:
                from maskdet.classifier import MaskClassifier
                from maskdet.detector import FaceDetector
                from maskdet.hub import release_sources

                try:
                    det_source, clf_source = release_sources(self.detector_source, self.classifier_source)
                    detector = FaceDetector.load(det_source)
                    classifier = MaskClassifier.from_pretrained(clf_source)
                except (FileNotFoundError, ValueError) as e:
                    # not logged here: serve() prints it at start, and the page's banner says it to users
                    raise gr.Error(f"No models loaded: {e}", title="Models unavailable", print_exception=False) from e
                self._models = (detector, classifier)
        return self._models

    def pipeline(self, face_threshold: float, label_threshold: float, live: bool = False) -> _Serialised:
        """A Pipeline with this request's thresholds around the shared models (thresholds are per request)."""
        from maskdet.pipeline import Pipeline

        detector, classifier = self.load()
        try:
            pipe = Pipeline(
                detector,
                classifier,
                face_threshold=float(face_threshold),
                label_threshold=float(label_threshold),
                imgsz=self.live_imgsz if live else self.imgsz,
                zoom=None if live else self.zoom,
                flip=self.flip and not live,
            )
        except (TypeError, ValueError) as e:
            raise input_error(str(e), title="Bad setting") from e
        return _Serialised(pipe, self.infer_lock)

    def problem(self) -> str | None:
        """Why no model can load, found cheaply (paths only, no weights read); None when they look fine."""
        if self.loaded:
            return None
        from maskdet.classifier import resolve_classifier
        from maskdet.detector import resolve_detector
        from maskdet.hub import release_sources

        try:
            sources = release_sources(self.detector_source, self.classifier_source)
        except (FileNotFoundError, ValueError) as e:
            return str(e)
        problems = []
        for resolve, source in zip((resolve_detector, resolve_classifier), sources, strict=True):
            try:
                resolve(source)
            except (FileNotFoundError, ValueError) as e:
                problems.append(str(e))
        return " ".join(problems) or None

    def info(self) -> dict[str, Any]:
        """/model_info without the app's limits: the models, where they came from, how they run, metrics.

        Loads the models; when that fails, {"loaded": False, "error": the reason without server paths}.
        """
        from maskdet import __version__

        try:
            detector, classifier = self.load()
        except gr.Error as e:
            return {"loaded": False, "error": hide_paths(e.message)}
        det_path = getattr(detector, "path", None)
        cls_path = getattr(classifier, "path", None)
        det_file = Path(det_path) if det_path else None
        face_ap = {
            "photo": _face_ap(det_file, self.imgsz, self.zoom, self.flip),
            "live": _face_ap(det_file, self.live_imgsz),
        }
        return {
            "loaded": True,
            "version": __version__,
            "detector": {
                "source": _shown_source(det_path, self.detector_source),
                "imgsz": self.imgsz,
                "zoom": self.zoom,
                "flip": self.flip,
                "live_imgsz": self.live_imgsz,
                "metrics": detector_metrics(det_file),
                "face_ap50": face_ap,
            },
            "classifier": {
                "source": _shown_source(cls_path, self.classifier_source),
                "architecture": classifier.architecture,
                "labels": list(classifier.label_names),
                "input_size": list(classifier.input_size),
                "metrics": _classifier_metrics(Path(cls_path) if cls_path else None),
            },
        }


def _classifier_metrics(folder: Path | None) -> dict | None:
    """metrics.json beside a classifier, without its training config (paths on the machine that trained it)."""
    metrics = read_json(folder / "metrics.json") if folder is not None else None
    return {k: v for k, v in metrics.items() if k != "config"} if isinstance(metrics, dict) else None


def _shown_source(path: Any, given: Any) -> str:
    """A model's source as users may see it: bundled files by name, others by file or folder name only
    (the About tab and /model_info are public: no server paths)."""
    if not path:
        return "bundled" if given is None else hide_paths(str(given))
    path = Path(path)
    if path.resolve().is_relative_to(BUNDLED_DIR):
        return f"{path.resolve().relative_to(BUNDLED_DIR)} (bundled)"
    return path.name


def _face_ap(path: Path | None, imgsz: int, zoom: int | None = None, flip: bool = False) -> float | None:
    """Face AP50 of this detector file at one setting, from the face_eval.json beside it (our evaluation)."""
    from maskdet.eval.runs import config_name

    report = read_json(path.parent / "face_eval.json") if path is not None else None
    row = (report or {}).get(f"maskdet {path.name} @{config_name(imgsz, zoom, flip)}") if path else None
    return row.get("ap50") if isinstance(row, dict) else None
