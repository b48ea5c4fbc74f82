from pathlib import Path

import numpy as np
import pytest

from maskdet.detector import FaceDetector, coarse_sizes, resolve_detector
from maskdet.results import Faces


def test_detect_returns_faces_in_frame_pixels(tiny_detector, frame):
    faces = tiny_detector.detect(frame, conf=0.0, imgsz=320)
    assert isinstance(faces, Faces)
    assert len(faces) > 0  # conf 0: an untrained detector's every candidate passes, so the checks below run
    assert (faces.label_ids == -1).all()
    assert faces.boxes[:, [0, 2]].max() <= 640 and faces.boxes[:, [1, 3]].max() <= 480
    assert faces.boxes.min() >= 0 and (faces.boxes[:, 2:] > faces.boxes[:, :2]).all()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("size", "spots"),
    [((640, 480), [(40, 250, 2), (420, 40, 2)]), ((480, 640), [(20, 40, 2), (250, 400, 2)])],
    ids=["landscape", "portrait"],
)
def test_bundled_detector_boxes_land_on_the_faces(size, spots):
    """Real faces at known places, a non-square frame at a smaller input size: the letterbox is undone."""
    from face_samples import pasted_faces

    from maskdet.detector import WEIGHTS_DIR

    frame, expected = pasted_faces(*size, spots)
    faces = FaceDetector.load(WEIGHTS_DIR / "detector.onnx").detect(frame, imgsz=320)
    assert len(faces) == len(expected)
    got = faces.boxes[np.argsort(faces.boxes[:, 0])]
    np.testing.assert_allclose(got, expected[np.argsort(expected[:, 0])], atol=16)  # faces ~120 px wide


def test_high_threshold_gives_empty(tiny_detector, frame):
    assert len(tiny_detector.detect(frame, conf=0.999, imgsz=320)) == 0


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda d: d / "missing.pt", FileNotFoundError, "not found"),
        (lambda d: d, FileNotFoundError, "no detector in folder"),
        (lambda d: (d / "weights.txt").write_text("x") and d / "weights.txt", ValueError, ".pt or .onnx"),
    ],
)
def test_resolve_errors(tmp_path, make, error, message):
    with pytest.raises(error, match=message):
        resolve_detector(make(tmp_path))


def test_folder_prefers_onnx(tmp_path):
    (tmp_path / "detector.pt").write_bytes(b"x")
    (tmp_path / "detector.onnx").write_bytes(b"x")
    assert resolve_detector(tmp_path).name == "detector.onnx"


def test_hub_repo_not_cached_offline_is_a_clear_error(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(
        FileNotFoundError, match=r"'someone/face-detector' is not in the local hub cache.*HF_HUB_OFFLINE=0"
    ):
        resolve_detector("someone/face-detector")


@pytest.mark.parametrize("name", ["corrupt.pt", "corrupt.onnx"])
def test_corrupt_model_file_names_the_file(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"this is not a model")
    with pytest.raises(ValueError, match=name):
        FaceDetector.load(path)


@pytest.mark.parametrize("dynamic", [False, True])
def test_onnx_export_agrees_with_torch(tiny_detector, tmp_path, frame, dynamic):
    """Same frame through .pt weights and their ONNX export (run by onnxruntime directly, rectangular
    input when dynamic): boxes within 1 px, scores within 1e-3."""
    pt = tmp_path / "tiny.pt"
    tiny_detector.model.save(str(pt))
    torch_det = FaceDetector.load(pt)
    onnx_det = FaceDetector.load(torch_det.export_onnx(imgsz=320, dynamic=dynamic, out=tmp_path / "tiny.onnx"))
    assert onnx_det.imgsz_fixed == (None if dynamic else 320)
    a = torch_det.detect(frame, conf=0.01, imgsz=320)
    b = onnx_det.detect(frame, conf=0.01, imgsz=320)
    assert len(a) == len(b)
    order_a, order_b = np.argsort(-a.scores), np.argsort(-b.scores)
    np.testing.assert_allclose(a.boxes[order_a], b.boxes[order_b], atol=1.0)
    np.testing.assert_allclose(a.scores[order_a], b.scores[order_b], atol=1e-3)


def test_letterbox_rectangular_and_square():
    """640x480 at 640 stays 640x480 (no square padding); a static model gets its square, centred."""
    from maskdet.ort import letterbox

    frame = np.zeros((480, 640, 3), np.uint8)
    blob, r, pad = letterbox(frame, 640)
    assert blob.shape == (1, 3, 480, 640) and r == 1.0 and pad == (0, 0)
    blob, r, pad = letterbox(frame, 320, square=True)
    assert blob.shape == (1, 3, 320, 320) and r == 0.5 and pad == (0, 40)
    assert blob[0, :, :40].max() == pytest.approx(114 / 255) and blob.dtype == np.float32
    blob, _, _ = letterbox(np.zeros((100, 330, 3), np.uint8), 320)  # 320x97 -> padded to 320x128
    assert blob.shape == (1, 3, 128, 320)


def test_report_names_are_file_names_unless_two_detectors_share_one():
    from maskdet.eval.runs import report_names

    a, b, c = Path("runs/a/detector-int8.onnx"), Path("runs/b/detector-int8.onnx"), Path("runs/a/detector.onnx")
    assert report_names([a, c]) == ["detector-int8.onnx", "detector.onnx"]
    assert report_names([a, b, c]) == [str(a), str(b), "detector.onnx"]  # rows keyed by name stay apart
    assert report_names([]) == []


def test_run_sizes_each_once_and_a_static_export_only_its_own(stub_detector):
    from maskdet.eval.runs import run_sizes

    dynamic = stub_detector([])  # no imgsz_fixed: any size runs
    assert run_sizes(dynamic, [640, 320, 640]) == [640, 320]
    dynamic.imgsz_fixed = 416  # a static export: whatever is asked, 416 runs, and once
    assert run_sizes(dynamic, [640, 320]) == [416]


class SceneModel:
    """An ONNX-path stand-in for a scene: each face is (box in frame pixels, score in the plain view, score
    in the mirrored view, the input sizes that see it); None: that view misses it. A marker pixel the
    frame has top-right (top-left once mirrored) tells the views apart. Honours `conf`."""

    def __init__(self, faces):
        self.faces, self.calls = faces, []

    def __call__(self, frame, conf, iou, imgsz):
        mirrored = bool(frame[0, 0, 0] == 255)
        self.calls.append((imgsz, mirrored))
        w = frame.shape[1]
        found = [(b, m if mirrored else p) for b, p, m, sizes in self.faces if imgsz in sizes]
        found = [([w - b[2], b[1], w - b[0], b[3]] if mirrored else b, s) for b, s in found if s and s >= conf]
        scores = np.array([s for _, s in found], np.float32)
        return np.array([b for b, _ in found], np.float32).reshape(-1, 4), scores, scores[:, None]  # one class


def marked_frame() -> np.ndarray:
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[0, -1] = 255
    return frame


BIG, TINY = [100, 100, 300, 300], [500, 50, 510, 60]


def test_zoom_adds_only_the_small_faces_of_the_second_pass():
    # at 640 the big face; at 1280 (twice the scale) the big face again, a tiny face the first pass
    # missed, and a big box only the zoomed pass reports (zoomed passes are least reliable on big faces)
    model = SceneModel(
        [
            (BIG, 0.9, None, (640,)),
            ([101, 99, 301, 299], 0.8, None, (1280,)),
            (TINY, 0.6, None, (1280,)),
            ([320, 0, 480, 200], 0.7, None, (1280,)),
        ]
    )
    det = FaceDetector(model)
    frame = marked_frame()
    faces = det.detect(frame, conf=0.3, imgsz=640, zoom=1280)
    assert model.calls == [(640, False), (1280, False), (320, False), (160, False)]  # + the big-face passes
    np.testing.assert_allclose(faces.boxes, [BIG, TINY])  # the big face once (the first pass's), the tiny added
    np.testing.assert_allclose(faces.scores, [0.9, 0.6])
    model.calls.clear()
    assert len(det.detect(frame, conf=0.3, imgsz=640)) == 1 and model.calls == [(640, False)]  # no zoom: one pass


def test_coarse_passes_add_only_the_big_faces_the_main_pass_missed():
    # a face filling the frame that only the 320 pass finds; a small face only the 160 pass reports (coarse
    # passes are least reliable on small faces); the big face of the main pass, seen again at 320
    selfie, speck = [80, 20, 560, 470], [10, 10, 40, 40]  # sides ~465 and 30 px: over and under 0.12 x 640
    model = SceneModel([(BIG, 0.9, None, (640, 320)), (selfie, 0.7, None, (320,)), (speck, 0.6, None, (160,))])
    det = FaceDetector(model)
    faces = det.detect(marked_frame(), conf=0.3, imgsz=640, zoom=1280)
    np.testing.assert_allclose(faces.boxes, [BIG, selfie])
    np.testing.assert_allclose(faces.scores, [0.9, 0.7])
    model.calls.clear()
    assert len(det.detect(marked_frame(), conf=0.3, imgsz=640)) == 1 and model.calls == [(640, False)]  # no zoom
    assert coarse_sizes(640) == [320, 160] and coarse_sizes(320) == [160] and coarse_sizes(256) == []


def test_flip_fuses_the_two_views_in_frame_coordinates():
    centre, side, faint = [270, 100, 370, 200], [140, 100, 240, 200], [0, 300, 100, 400]
    det = FaceDetector(SceneModel([(centre, 0.9, 0.7, (640,)), (side, None, 0.8, (640,)), (faint, 0.5, 0.2, (640,))]))
    frame = marked_frame()
    faces = det.detect(frame, conf=0.3, imgsz=640, flip=True)
    # both views: mean score; the side face only mirrored (found at x 400-500 there): half its score;
    # the faint face is under `conf` in the mirrored view alone, but the views run at conf / 2, so it fuses
    np.testing.assert_allclose(faces.boxes, [centre, side, faint], atol=1e-3)
    np.testing.assert_allclose(faces.scores, [0.8, 0.4, 0.35])
    assert len(det.detect(frame, conf=0.3, imgsz=640)) == 2  # no flip: the original view only
    faces = det.detect(frame, conf=0.45, imgsz=640, flip=True)  # one view's 0.8 is not enough at 0.45
    np.testing.assert_allclose(faces.scores, [0.8])


def test_flip_also_fuses_the_views_of_the_zoomed_pass():
    alone = [20, 400, 30, 410]
    model = SceneModel([(BIG, 0.9, 0.7, (640, 1280)), (TINY, 0.6, 0.4, (1280,)), (alone, None, 0.8, (1280,))])
    det = FaceDetector(model)
    frame = marked_frame()
    faces = det.detect(frame, conf=0.3, imgsz=640, zoom=1280, flip=True)
    assert model.calls == [(640, False), (640, True), (1280, False), (1280, True), (320, False), (160, False)]
    # the big face from the 640 views (mean 0.8); the zoomed pass adds the tiny faces: one seen both ways
    # (mean 0.5), one in the mirrored view alone (half its 0.8); its own big face it does not add
    np.testing.assert_allclose(faces.boxes, [BIG, TINY, alone], atol=1e-3)
    np.testing.assert_allclose(faces.scores, [0.8, 0.5, 0.4])
    model.calls.clear()
    faces = det.detect(frame, conf=0.3, imgsz=640, zoom=1280)  # no flip: the plain view of each pass only
    assert model.calls == [(640, False), (1280, False), (320, False), (160, False)]
    np.testing.assert_allclose(faces.scores, [0.9, 0.6])


def test_fuse_views_by_hand():
    from maskdet.boxes import fuse_views

    first = Faces(np.array([[0, 0, 10, 10], [30, 30, 40, 40]], np.float32), np.array([0.6, 0.3], np.float32))
    second = Faces(np.array([[50, 50, 60, 60], [2, 0, 12, 10]], np.float32), np.array([0.4, 0.2], np.float32))
    fused = fuse_views(first, second, iou=0.5)  # IoU of the pair: 80 / 120
    np.testing.assert_allclose(fused.boxes, [[0.5, 0, 10.5, 10], [50, 50, 60, 60], [30, 30, 40, 40]], atol=1e-5)
    np.testing.assert_allclose(fused.scores, [0.4, 0.2, 0.15])
    assert len(fuse_views(first, second, iou=0.7)) == 4  # not matched at a stricter IoU: four faces
    alone = fuse_views(Faces.empty(), second, 0.5)
    np.testing.assert_allclose(alone.scores, [0.2, 0.1])
    assert len(fuse_views(Faces.empty(), Faces.empty(), 0.5)) == 0
    zero = Faces(np.array([[0, 0, 10, 10]], np.float32), np.array([0.0], np.float32))  # conf=0 can give 0 scores
    np.testing.assert_allclose(
        fuse_views(zero, Faces(second.boxes[1:], np.zeros(1, np.float32)), 0.5).boxes, [[1, 0, 11, 10]]
    )


def test_merge_passes_keeps_the_best_of_overlapping_boxes():
    from maskdet.boxes import merge_passes

    first = Faces(np.array([[0, 0, 10, 10]], np.float32), np.array([0.5], np.float32))
    second = Faces(np.array([[1, 0, 11, 10], [50, 50, 60, 60]], np.float32), np.array([0.8, 0.4], np.float32))
    merged = merge_passes(first, second, iou=0.5)
    np.testing.assert_allclose(merged.boxes, [[1, 0, 11, 10], [50, 50, 60, 60]])
    np.testing.assert_allclose(merged.scores, [0.8, 0.4])
    assert merge_passes(first, Faces.empty(), 0.5) is first


def test_run_configs_add_zoomed_passes_to_smaller_sizes_only(stub_detector):
    from maskdet.eval.runs import run_configs

    dynamic = stub_detector([])
    assert run_configs(dynamic, [640, 320], None) == [(640, None, False), (320, None, False)]
    assert run_configs(dynamic, [640, 1280], 1024) == [(640, None, False), (1280, None, False), (640, 1024, False)]
    # the photo setting (mirrored view + zoom) after the single passes; a size above the zoom only flips
    assert run_configs(dynamic, [640, 1280], 1024, flip=True) == [
        (640, None, False), (1280, None, False), (640, 1024, True), (1280, None, True)
    ]  # fmt: skip
    dynamic.imgsz_fixed = 416
    assert run_configs(dynamic, [416], 1024) == [(416, None, False)]  # a static export runs one size
    assert run_configs(dynamic, [416], 1024, flip=True) == [(416, None, False), (416, None, True)]
