import numpy as np
import pytest

from maskdet.boxes import expand_boxes
from maskdet.pipeline import Pipeline, crop_faces
from maskdet.presets import LIVE, PHOTO
from maskdet.results import Faces


@pytest.mark.parametrize(
    ("box", "margin", "size", "expected"),
    [
        ([10, 10, 30, 50], 0.0, (100, 100), [10, 10, 30, 50]),
        ([10, 10, 30, 50], 0.5, (100, 100), [0, 0, 40, 70]),  # grown by 10 / 20 px, clipped at 0
        ([80, 80, 100, 100], 0.25, (100, 100), [75, 75, 100, 100]),  # clipped at the far edges
        ([-20, -5, 5, 10], 0.0, (100, 100), [0, 0, 5, 10]),  # a box partly outside the frame
        ([99.6, 99.6, 99.9, 99.9], 0.0, (100, 100), [99, 99, 100, 100]),  # never empty
    ],
)
def test_expand_boxes(box, margin, size, expected):
    w, h = size
    assert expand_boxes(np.array([box]), margin, w, h).tolist() == [expected]


def test_crop_faces_cuts_the_right_region():
    frame = np.zeros((100, 200, 3), np.uint8)
    frame[20:40, 50:80] = (255, 0, 0)
    (crop,) = crop_faces(frame, np.array([[50, 20, 80, 40]]), margin=0.0)
    assert crop.shape == (20, 30, 3) and (crop == (255, 0, 0)).all()


def test_no_faces_gives_empty(stub_detector, stub_classifier, frame):
    pipe = Pipeline(stub_detector(np.zeros((0, 4))), stub_classifier)
    faces = pipe(frame)
    assert isinstance(faces, Faces) and len(faces) == 0
    assert stub_classifier.calls == 0  # no classifier call for no faces


def test_stub_detector_boxes_become_labelled_faces(stub_detector, stub_classifier):
    frame = np.zeros((200, 300, 3), np.uint8)
    frame[10:50, 10:50] = (255, 0, 0)  # blue face -> class 0
    frame[100:160, 200:260] = (0, 0, 255)  # red face -> class 2
    frame[150:200, 0:40] = (0, 255, 0)  # green face at the bottom-left corner -> class 1
    boxes = [[10, 10, 50, 50], [200, 100, 260, 160], [0, 150, 40, 200]]
    det = stub_detector(boxes, [0.9, 0.8, 0.2])
    pipe = Pipeline(det, stub_classifier, face_threshold=0.1, margin=0.0, imgsz=320, iou=0.4)
    faces = pipe(frame)
    assert det.calls == [{"shape": (200, 300, 3), "conf": 0.1, "iou": 0.4, "imgsz": 320, "zoom": None, "flip": False}]
    assert stub_classifier.calls == 1  # one batched call for all faces
    assert faces.labels == ["with_mask", "mask_worn_incorrectly", "without_mask"]
    np.testing.assert_allclose(faces.boxes, boxes)
    np.testing.assert_allclose(faces.scores, [0.9, 0.8, 0.2])
    assert [c.shape for c in stub_classifier.crops] == [(40, 40, 3), (60, 60, 3), (50, 40, 3)]
    assert np.allclose(faces.label_scores, faces.probs.max(1))


def test_margin_is_clipped_at_frame_edges(stub_detector, stub_classifier):
    frame = np.zeros((100, 100, 3), np.uint8)
    pipe = Pipeline(stub_detector([[0, 0, 40, 40], [70, 60, 100, 100]]), stub_classifier, margin=0.5)
    pipe(frame)
    assert [c.shape[:2] for c in stub_classifier.crops] == [(60, 60), (60, 45)]


def test_face_threshold_filters(stub_detector, stub_classifier, frame):
    det = stub_detector([[0, 0, 40, 40], [50, 50, 90, 90]], [0.9, 0.3])
    assert len(Pipeline(det, stub_classifier, face_threshold=0.5)(frame)) == 1


def test_label_threshold_marks_unsure_faces_unknown(stub_detector, stub_classifier):
    frame = np.full((100, 100, 3), 100, np.uint8)  # grey: probs 1/3 each
    pipe = Pipeline(stub_detector([[10, 10, 60, 60]]), stub_classifier, label_threshold=0.5)
    faces = pipe(frame)
    assert faces.labels == ["unknown"] and faces.counts()["unknown"] == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"face_threshold": 1.5}, "face_threshold"),
        ({"iou": -0.1}, "iou"),
        ({"margin": -1}, "margin"),
        ({"imgsz": 8}, "imgsz"),
    ],
)
def test_bad_settings(stub_detector, stub_classifier, kwargs, message):
    with pytest.raises(ValueError, match=message):
        Pipeline(stub_detector([]), stub_classifier, **kwargs)


@pytest.mark.parametrize("bad", [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 3), np.float32), "frame.jpg"])
def test_bad_frames(stub_detector, stub_classifier, bad):
    with pytest.raises(ValueError, match="uint8 BGR"):
        Pipeline(stub_detector([]), stub_classifier)(bad)


def test_real_tiny_models_end_to_end(tiny_detector, tiny_classifier, frame):
    """Untrained models from config: the plumbing (shapes, types, names) must hold whatever they find."""
    pipe = Pipeline(tiny_detector, tiny_classifier, face_threshold=0.0, imgsz=320)
    blank = pipe(np.zeros((480, 640, 3), np.uint8))
    for faces in (pipe(frame), blank):
        assert isinstance(faces, Faces)
        assert len(faces) > 0  # face_threshold 0: an untrained detector's every candidate passes
        assert faces.names == tiny_classifier.label_names
        assert faces.probs.shape == (len(faces), 3)
        assert (faces.label_ids >= 0).all()
        np.testing.assert_allclose(faces.probs.sum(1), 1, atol=1e-5)
        np.testing.assert_allclose(faces.label_scores, faces.probs.max(1))
        assert faces.labels == [faces.names[i] for i in faces.label_ids]
        assert (faces.boxes[:, 2] <= 640).all() and (faces.boxes[:, 3] <= 480).all()


def test_photos_and_live_video_get_their_own_default_sizes(stub_detector, stub_classifier, frame, monkeypatch):
    """Photos default to the accurate size, video entry points to the real-time one; both reach the detector."""
    import detect_video
    from maskdet.app import Models, parse_args

    assert LIVE.imgsz < PHOTO.imgsz
    assert Pipeline(stub_detector([]), stub_classifier).imgsz == PHOTO.imgsz
    assert detect_video.build_parser().parse_args(["--source", "0"]).imgsz == LIVE.imgsz
    args = parse_args([])
    assert (args.imgsz, args.live_imgsz) == (PHOTO.imgsz, LIVE.imgsz)

    from maskdet.classifier import MaskClassifier
    from maskdet.detector import FaceDetector

    det = stub_detector([[10, 10, 60, 60]])
    # the app loads through the public loaders: stubs stand in for the files
    monkeypatch.setattr(FaceDetector, "load", classmethod(lambda cls, *a, **k: det))
    monkeypatch.setattr(MaskClassifier, "from_pretrained", classmethod(lambda cls, *a, **k: stub_classifier))
    models = Models(imgsz=PHOTO.imgsz, live_imgsz=LIVE.imgsz)
    models.pipeline(0.3, 0.0)(frame)
    models.pipeline(0.3, 0.0, live=True)(frame)
    assert [c["imgsz"] for c in det.calls] == [PHOTO.imgsz, LIVE.imgsz]

    zoomed = Models(imgsz=PHOTO.imgsz, live_imgsz=LIVE.imgsz, zoom=1024)  # app.py --zoom: photos only
    det.calls.clear()
    zoomed.pipeline(0.3, 0.0)(frame)
    zoomed.pipeline(0.3, 0.0, live=True)(frame)
    assert [c["zoom"] for c in det.calls] == [1024, None]
    # app.py's default (--no-flip turns it off): photos only
    flipped = Models(imgsz=PHOTO.imgsz, live_imgsz=LIVE.imgsz, flip=True)
    det.calls.clear()
    flipped.pipeline(0.3, 0.0)(frame)
    flipped.pipeline(0.3, 0.0, live=True)(frame)
    assert [c["flip"] for c in det.calls] == [True, False]
    assert args.flip and not parse_args(["--no-flip"]).flip  # photos flip by default
    assert args.zoom == PHOTO.zoom > PHOTO.imgsz and parse_args(["--zoom", "0"]).zoom is None  # 0: one pass


def test_zoom_must_be_larger_than_imgsz(stub_detector):
    with pytest.raises(ValueError, match="zoom must be larger than imgsz"):
        Pipeline(stub_detector([]), None, imgsz=640, zoom=640)


def test_flip_reaches_the_detector_only_when_asked(stub_detector, stub_classifier, frame):
    det = stub_detector([[10, 10, 50, 50]])
    Pipeline(det, stub_classifier, flip=True)(frame)
    Pipeline(det, stub_classifier)(frame)
    assert [c["flip"] for c in det.calls] == [True, False]


def test_presets_name_the_photo_and_live_settings(stub_detector, stub_classifier, frame):
    from maskdet.pipeline import preset_settings

    assert preset_settings("photo") == {"imgsz": PHOTO.imgsz, "zoom": PHOTO.zoom, "flip": PHOTO.flip}
    assert preset_settings("live") == {"imgsz": LIVE.imgsz, "zoom": None, "flip": False}
    with pytest.raises(ValueError, match="unknown preset 'fast'; use one of 'photo', 'live'"):
        preset_settings("fast")
    det = stub_detector([[10, 10, 60, 60]])
    photo = Pipeline(det, stub_classifier, face_threshold=0.2).with_preset("photo")
    photo(frame)
    assert det.calls[-1] | {"shape": None} == {
        "shape": None,
        "conf": 0.2,
        "iou": 0.5,
        "imgsz": PHOTO.imgsz,
        "zoom": PHOTO.zoom,
        "flip": PHOTO.flip,
    }
    live = photo.with_preset("live")
    live(frame)
    assert (live.detector, live.face_threshold) == (det, 0.2)  # same models and thresholds, no reload
    assert (det.calls[-1]["imgsz"], det.calls[-1]["zoom"], det.calls[-1]["flip"]) == (LIVE.imgsz, None, False)


def test_from_pretrained_checks_the_preset_before_loading_models(monkeypatch):
    import maskdet.detector

    monkeypatch.setattr(maskdet.detector.FaceDetector, "load", lambda *a: pytest.fail("loaded a model"))
    with pytest.raises(ValueError, match="unknown preset"):
        Pipeline.from_pretrained(preset="video")
