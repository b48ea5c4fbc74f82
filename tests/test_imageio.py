import io

import numpy as np
import pytest
from bad_inputs import encode, png_with_size, truncated
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from maskdet.io.images import MAX_PIXELS, load_image, rgb_to_bgr


def rgb_image(w=64, h=48, color=(200, 30, 10)) -> Image.Image:
    return Image.new("RGB", (w, h), color)


def test_rgb_png_comes_out_bgr():
    out = load_image(encode(rgb_image(), "PNG"))
    assert out.shape == (48, 64, 3) and out.dtype == np.uint8
    assert out[0, 0].tolist() == [10, 30, 200]


@pytest.mark.parametrize(
    ("make", "expected_pixel"),
    [
        (lambda: Image.new("L", (32, 32), 77), [77, 77, 77]),
        (lambda: Image.new("1", (32, 32), 1), [255, 255, 255]),
        (lambda: Image.new("RGBA", (32, 32), (200, 30, 10, 255)), [10, 30, 200]),
        (lambda: Image.new("RGBA", (32, 32), (200, 30, 10, 0)), [255, 255, 255]),  # transparent -> white
        (lambda: Image.new("LA", (32, 32), (50, 255)), [50, 50, 50]),
        (lambda: rgb_image(32, 32).convert("P", palette=Image.Palette.ADAPTIVE), [10, 30, 200]),
        (lambda: Image.fromarray(np.full((32, 32), 65535, np.uint16)), [255, 255, 255]),  # 16-bit gray
        (lambda: Image.fromarray(np.full((32, 32), 0x8000, np.uint16)), [128, 128, 128]),
    ],
)
def test_colour_modes_convert(make, expected_pixel):
    img = make()
    out = load_image(encode(img, "PNG"))
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    assert out[5, 5].tolist() == expected_pixel
    assert load_image(img)[5, 5].tolist() == expected_pixel  # a PIL image directly, same answer


def test_cmyk_jpeg():
    out = load_image(encode(rgb_image(32, 32, (255, 0, 0)).convert("CMYK"), "JPEG", quality=95))
    b, g, r = out[16, 16].astype(int)
    assert r > 200 and g < 60 and b < 60


def test_exif_orientation_is_applied():
    img = Image.new("RGB", (40, 20), (0, 0, 0))
    img.paste((255, 255, 255), (0, 0, 20, 20))  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when shown
    out = load_image(encode(img, "JPEG", exif=exif.tobytes(), quality=95))
    assert out.shape[:2] == (40, 20)
    assert out[5, 10].mean() > 200 and out[35, 10].mean() < 50  # white ends on top


def test_animated_gif_gives_first_frame():
    frames = [Image.new("RGB", (32, 32), c) for c in ((255, 0, 0), (0, 0, 255))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    out = load_image(data)
    assert out[0, 0, 2] > 200 and out[0, 0, 0] < 50


def test_paths_and_arrays(tmp_path):
    path = tmp_path / "x.jpg"
    rgb_image().save(path, quality=95)
    assert load_image(path).shape == (48, 64, 3)
    assert load_image(str(path)).shape == (48, 64, 3)
    gray = np.zeros((20, 30), np.uint8)
    assert load_image(gray).shape == (20, 30, 3)
    assert load_image(np.ones((20, 30, 3), np.float32))[0, 0].tolist() == [255, 255, 255]
    bgra = np.zeros((20, 30, 4), np.uint8)
    bgra[..., 0] = 255
    bgra[..., 3] = 255
    assert load_image(bgra)[0, 0].tolist() == [255, 0, 0]
    assert rgb_to_bgr(np.dstack([np.full((20, 30), 9, np.uint8), np.zeros((20, 30, 2), np.uint8)]))[0, 0].tolist() == [
        0,
        0,
        9,
    ]


@pytest.mark.parametrize(
    ("src", "message"),
    [
        (b"", "empty"),
        (b"not a valid image", "not a readable image"),
        (truncated("JPEG"), "corrupt or truncated"),
        (truncated("PNG"), "corrupt or truncated"),
        (encode(Image.new("RGB", (1, 1)), "PNG"), "at least 8x8"),
        (png_with_size(20000, 20000), "over the limit"),
        (np.zeros((4, 4, 3), np.uint8), "at least 8x8"),
        (np.zeros((10, 10, 2), np.uint8), "must have shape"),
        (np.zeros((10, 10, 3), np.complex64), "unsupported array dtype"),
        (12345, "cannot load an image from int"),
    ],
)
def test_bad_input_gives_clear_value_error(src, message):
    with pytest.raises(ValueError, match=message):
        load_image(src)


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_image(tmp_path / "missing.jpg")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        load_image(tmp_path / "empty.jpg")
    (tmp_path / "text.jpg").write_text("hello, I am a text file")
    with pytest.raises(ValueError, match=r"text\.jpg"):
        load_image(tmp_path / "text.jpg")


def test_bomb_is_refused_before_decoding():
    assert 20000 * 20000 > MAX_PIXELS
    with pytest.raises(ValueError, match=r"20000x20000|400000000 pixels"):
        load_image(png_with_size(20000, 20000))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_random_bytes_never_crash(data):
    try:
        out = load_image(data)
    except ValueError:
        return
    assert out.ndim == 3 and out.shape[2] == 3 and out.dtype == np.uint8


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 4), st.integers(8, 40), st.integers(8, 40), st.integers(0, 2**31 - 1))
def test_mutated_real_images_never_crash(fmt, w, h, seed):
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
    data = bytearray(encode(img, ["PNG", "JPEG", "GIF", "BMP", "WEBP"][fmt]))
    for _ in range(3):
        data[int(rng.integers(len(data)))] = int(rng.integers(256))
    try:
        out = load_image(bytes(data))
    except ValueError:
        return
    assert out.shape[2] == 3 and out.dtype == np.uint8


MODES = ["1", "L", "P", "RGB", "RGBA", "LA", "CMYK", "I;16", "I", "F"]
FORMATS = {  # which modes each format can hold
    "PNG": {"1", "L", "P", "RGB", "RGBA", "LA", "I;16", "I"},
    "JPEG": {"L", "RGB", "CMYK"},
    "GIF": {"L", "P"},
    "BMP": {"1", "L", "P", "RGB"},
    "WEBP": {"RGB", "RGBA"},
    "TIFF": {"1", "L", "P", "RGB", "RGBA", "CMYK", "I;16", "I", "F"},
}


@st.composite
def images(draw):
    """A random Pillow image in any mode, of any size from 1x1 up, with random content."""
    mode = draw(st.sampled_from(MODES))
    w, h = draw(st.integers(1, 48)), draw(st.integers(1, 48))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    base = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    if mode == "I;16":
        return Image.fromarray(rng.integers(0, 65536, (h, w), dtype=np.uint16))
    if mode in ("I", "F"):
        return base.convert("L").convert(mode)
    return base.convert(mode)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(images(), st.sampled_from(sorted(FORMATS)), st.booleans())
def test_any_valid_image_decodes_to_its_size_in_bgr(img, fmt, as_bytes):
    """Every mode a format can hold comes out (H, W, 3) uint8 at the encoded size, or is refused as too small."""
    if img.mode not in FORMATS[fmt]:
        img = img.convert("RGB" if fmt != "GIF" else "P")
    data = encode(img, fmt)
    try:
        out = load_image(data if as_bytes else Image.open(io.BytesIO(data)))
    except ValueError as e:
        assert min(img.size) < 8 and "at least 8x8" in str(e)
        return
    assert out.shape == (img.size[1], img.size[0], 3) and out.dtype == np.uint8


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(images(), st.sampled_from(["PNG", "JPEG", "GIF", "WEBP", "TIFF"]), st.floats(0.0, 1.0))
def test_a_valid_image_cut_anywhere_decodes_or_says_why(img, fmt, keep):
    if img.mode not in FORMATS[fmt]:
        img = img.convert("RGB" if fmt != "GIF" else "P")
    data = encode(img, fmt)
    try:
        out = load_image(data[: int(len(data) * keep)])
    except ValueError as e:
        assert str(e)  # a message, not an empty error
        return
    assert out.ndim == 3 and out.shape[2] == 3 and out.dtype == np.uint8


@settings(max_examples=80, deadline=None)
@given(
    st.sampled_from([np.uint8, np.uint16, np.int32, np.float32, np.float64, np.bool_, np.int8, np.complex64]),
    st.lists(st.integers(0, 40), min_size=1, max_size=4),
)
def test_any_array_gives_bgr_or_a_value_error(dtype, shape):
    arr = np.ones(shape, dtype=dtype)
    try:
        out = load_image(arr)
    except ValueError as e:
        assert str(e)
        return
    assert out.shape[:2] == tuple(shape[:2]) and out.shape[2] == 3 and out.dtype == np.uint8
