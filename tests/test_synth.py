import cv2
import numpy as np
import pytest

from maskdet.assets import CROPS, YUNET
from maskdet.data.synth import PLACEMENTS, draw_mask, mask_patches, mask_polygon

# right eye, left eye, nose tip, mouth right, mouth left: an upright face in a 200x200 image
LANDMARKS = np.array([[70, 80], [130, 80], [100, 110], [80, 140], [120, 140]], np.float32)
NOSE_BRIDGE, ABOVE_TIP, NOSE_TIP, MOUTH, CHIN = (100, 95), (100, 106), (100, 110), (100, 140), (100, 170)


def inside(poly: np.ndarray, point: tuple[int, int]) -> bool:
    return cv2.pointPolygonTest(poly.reshape(-1, 1, 2), point, False) >= 0


@pytest.mark.parametrize("seed", range(20))
def test_placement_decides_what_is_covered(seed):
    """The label comes from the placement alone, so each placement must cover what its label says."""
    rng = np.random.default_rng(seed)
    correct = mask_polygon(LANDMARKS, "correct", rng)
    assert inside(correct, NOSE_TIP) and inside(correct, MOUTH) and inside(correct, CHIN)
    below = mask_polygon(LANDMARKS, "below_nose", rng)
    assert not inside(below, ABOVE_TIP) and not inside(below, NOSE_BRIDGE)  # the nose stays visible
    assert inside(below, MOUTH) and inside(below, CHIN)
    chin = mask_polygon(LANDMARKS, "chin", rng)
    assert not inside(chin, MOUTH) and inside(chin, CHIN)


def test_below_nose_leaves_the_nose_tip_and_covers_the_mouth():
    """Its top edge varies between the nose tip and the mouth: the variety the classifier learns from."""
    tops = [mask_polygon(LANDMARKS, "below_nose", np.random.default_rng(s))[:3, 1].max() for s in range(200)]
    assert 110 < min(tops) and max(tops) < 140 and max(tops) - min(tops) > 5  # nose tip y 110, mouth y 140


def test_draw_mask_changes_only_the_masked_region():
    image = np.full((200, 200, 3), 128, np.uint8)
    out = draw_mask(image, LANDMARKS, "correct", np.random.default_rng(0))
    assert out.shape == image.shape and out.dtype == np.uint8
    assert (out[20:60, :] == 128).all()  # forehead untouched (straps start at the mask's top corners)
    assert (out[140] != 128).any()


def test_unknown_placement_is_refused():
    with pytest.raises(ValueError, match="placement"):
        mask_polygon(LANDMARKS, "forehead", np.random.default_rng(0))
    assert set(PLACEMENTS.values()) == {"with_mask", "mask_worn_incorrectly"}


@pytest.mark.parametrize("seed", range(20))
def test_real_incorrect_placements(seed):
    """One strap off: the mask swings down from one ear, nose out; pulled under the chin: mouth out, neck covered."""
    one_ear = mask_polygon(LANDMARKS, "one_ear", np.random.default_rng(seed))
    assert not inside(one_ear, NOSE_TIP) and not inside(one_ear, NOSE_BRIDGE)
    assert one_ear[:, 1].max() > CHIN[1]  # it hangs below the chin on the free side
    xs = one_ear[:, 0]
    assert xs.min() < 60 or xs.max() > 140  # and off to one side, beyond the eyes
    under = mask_polygon(LANDMARKS, "under_chin", np.random.default_rng(seed))
    assert not inside(under, MOUTH) and not inside(under, NOSE_TIP) and inside(under, (100, 200))


class _OneFace:
    """Stands in for cv2.FaceDetectorYN: one face at a fixed box, as YuNet returns it."""

    def __init__(self, box):
        self.box = box

    def setInputSize(self, size):  # OpenCV's name
        pass

    def detect(self, image):
        x, y, w, h = self.box
        return 1, np.array([[x, y, w, h, *LANDMARKS.ravel(), 0.9]], np.float32)


def test_mask_patches_cut_the_lower_middle_of_the_face():
    """The patch is where a worn mask is (rows 62-92%, columns 22-78% of the box), not the eyes or background."""
    image = np.zeros((200, 200, 3), np.uint8)
    image[100:160] = (0, 0, 255)  # "mask": the lower face of a 100x100 box at (50, 50)
    patches = mask_patches([image], _OneFace((50, 50, 100, 100)))
    assert len(patches) == 1
    assert patches[0].shape[:2] == (30, 56)
    assert (patches[0] == (0, 0, 255)).all()
    assert mask_patches([image], _OneFace((50, 50, 30, 30))) == []  # under min_side: too few pixels


def test_draw_mask_fills_with_real_fabric_when_given_patches():
    image = np.full((200, 200, 3), 128, np.uint8)
    fabric = np.zeros((20, 40, 3), np.uint8)
    fabric[:] = (200, 30, 30)
    out = draw_mask(image, LANDMARKS, "correct", np.random.default_rng(0), patches=[fabric], real_share=1.0)
    assert (out[20:60] == 128).all()  # outside the mask untouched
    assert np.abs(out[140, 100].astype(int) - (200, 30, 30)).max() <= 25  # the mouth: the patch's colour
    drawn = draw_mask(image, LANDMARKS, "correct", np.random.default_rng(0), patches=[fabric], real_share=0.0)
    assert np.abs(drawn[140, 100].astype(int) - (200, 30, 30)).max() > 25  # share 0: drawn colours as before


@pytest.mark.skipif(
    not (YUNET.default.is_file() and CROPS.default.is_dir()),
    reason="needs YuNet and facemask-crops in ../shared (" + YUNET.missing(YUNET.default, "--yunet") + ")",
)
def test_crops_with_real_texture_draw_from_real_masked_faces(tmp_path):
    """`train.py crops --real-texture 1`: patches come from the web folder's with_mask faces, and every mask
    differs from the drawn-colour ones of the same seed (share 0, the old folder)."""
    from maskdet.data.crops import CropDataConfig, prepare_crops

    web = tmp_path / "web"
    for label, n in (("with_mask", 12), ("without_mask", 6)):
        (web / label).mkdir(parents=True)
        for path in sorted((CROPS.default / label).iterdir())[:n]:
            (web / label / path.name).write_bytes(path.read_bytes())
    runs = {}
    for share in (0.0, 1.0):
        cfg = CropDataConfig(voc=None, extra_voc=None, extra=(web,), real_texture=share)
        runs[share] = prepare_crops(cfg, tmp_path / f"crops{share}")["counts"]
    assert "fabric_patches" not in runs[0.0] and runs[1.0]["fabric_patches"] >= 3
    drawn = sorted((tmp_path / "crops1.0" / "train").rglob("synth_*.jpg"))
    assert drawn and len(drawn) == len(list((tmp_path / "crops0.0" / "train").rglob("synth_*.jpg")))
    before = {p.read_bytes() for p in (tmp_path / "crops0.0" / "train").rglob("synth_*.jpg")}
    assert not before & {p.read_bytes() for p in drawn}  # every mask is real fabric now
