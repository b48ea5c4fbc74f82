"""INT8 detector quantisation (maskdet.train.quantize) and `train.py quantize`."""

import re

import numpy as np
import onnx
import pytest
from voc_sample import make_voc

import train
from maskdet.data.voc import load_voc, make_split, save_split
from maskdet.detector import FaceDetector
from maskdet.train.quantize import calibration_blobs, head_prefix, quantize_detector


@pytest.fixture(scope="module")
def float_onnx(tiny_detector, tmp_path_factory):
    return tiny_detector.export_onnx(imgsz=96, dynamic=True, out=tmp_path_factory.mktemp("q") / "detector.onnx")


def _images(n: int = 4) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (120, 160, 3), dtype=np.uint8) for _ in range(n)]


def test_quantized_detector_is_int8_except_the_box_decoder(float_onnx, tmp_path):
    out = quantize_detector(float_onnx, tmp_path / "int8.onnx", _images(), sizes=(64, 96))
    assert out.stat().st_size < float_onnx.stat().st_size / 2  # int8 weights
    graph = onnx.load(str(out)).graph
    prefix = head_prefix(onnx.load(str(float_onnx)))
    made_by = {o: n.op_type for n in graph.node for o in n.output}
    convs = {n.name: n for n in graph.node if n.op_type == "Conv"}
    output_conv = re.compile(rf"{re.escape(prefix)}(cv[23]\.\d/cv[23]\.\d\.2/|dfl/)")
    decoder = [c for name, c in convs.items() if output_conv.match(name)]
    assert len(decoder) == 7  # the 3 box and 3 class output convs and the DFL keep float weights
    for conv in convs.values():
        weight_from = made_by.get(conv.input[1], "initializer")
        assert weight_from == ("initializer" if conv in decoder else "DequantizeLinear"), conv.name
    det = FaceDetector.load(out)
    faces = det.detect(_images(1)[0], conf=0.001, imgsz=96)
    assert faces.boxes.shape[1] == 4 and np.isfinite(faces.boxes).all()


def test_not_a_yolo_export_is_a_clear_error(tmp_path):
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])
    model = onnx.helper.make_model(onnx.helper.make_graph([onnx.helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y]))
    onnx.save(model, tmp_path / "relu.onnx")
    with pytest.raises(ValueError, match="not a YOLOv8 detection export"):
        quantize_detector(tmp_path / "relu.onnx", tmp_path / "out.onnx", _images())
    (tmp_path / "junk.onnx").write_bytes(b"not onnx")
    with pytest.raises(ValueError, match="cannot read ONNX model"):
        quantize_detector(tmp_path / "junk.onnx", tmp_path / "out.onnx", _images())


def test_calibration_skips_unreadable_images_and_cycles_sizes(tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"no image")
    blobs = calibration_blobs([tmp_path / "broken.jpg", *_images(3)], sizes=(64, 96), limit=2)
    assert [b.shape[3] for b in blobs] == [64, 96]
    with pytest.raises(ValueError, match="no readable calibration images"):
        calibration_blobs([tmp_path / "broken.jpg"])


def test_train_py_quantize_calibrates_on_the_training_side(float_onnx, tmp_path, capsys):
    voc = make_voc(tmp_path / "voc", n_images=6)
    split = save_split(make_split(load_voc(voc), val_fraction=0.25), tmp_path / "split.json")
    out = tmp_path / "detector-int8.onnx"
    argv = f"quantize --detector {float_onnx} --data {voc} --split {split} --images 3 --output {out}"
    assert train.main(argv.split()) == 0
    assert "saved to" in capsys.readouterr().out and FaceDetector.load(out).path == out
    assert train.main(f"quantize --detector {tmp_path / 'missing.onnx'} --output {out}".split()) == 2
    assert "not found" in capsys.readouterr().err
