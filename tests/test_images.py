"""Reading doc._.image: every kind of value ends in an RGB image or an ImageError
(which the component turns into ROC_W002 + text-only, or ROC_E004); unsupported types
raise ROC_E002. The value given is never modified."""
import io
import warnings

import numpy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from conftest import encode_image as encode
from spacy_roc.images import DRAFT_SIZE, MAX_PIXELS, ImageError, load_image, to_rgb


def assert_rgb(image, size=None):
    assert isinstance(image, Image.Image) and image.mode == "RGB"
    assert numpy.asarray(image).dtype == numpy.uint8
    if size is not None:
        assert image.size == size


NOISE = numpy.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=numpy.uint8)
RGB_JPEG = encode(Image.fromarray(NOISE), "JPEG")


# -- paths and bytes ----------------------------------------------------------------


def test_paths(tmp_path):
    (tmp_path / "a.png").write_bytes(encode(Image.new("RGB", (5, 4))))
    assert_rgb(load_image(tmp_path / "a.png"), (5, 4))
    assert_rgb(load_image(str(tmp_path / "a.png")), (5, 4))
    assert_rgb(load_image("a.png", tmp_path), (5, 4))  # relative to images_dir
    with pytest.raises(ImageError, match="file not found"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(ImageError, match="file not found"):
        load_image("a.png")  # relative, no images_dir: not found from the cwd
    with pytest.raises(ImageError, match="file not found"):
        load_image(tmp_path)  # a folder
    with pytest.raises(ImageError):
        load_image("x" * 5000 + ".png")  # name too long for the OS
    with pytest.raises(ImageError):
        load_image("bad\0name.png")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageError, match="empty image data"):
        load_image(tmp_path / "empty.jpg")


@pytest.mark.parametrize("data", [b"", bytearray(), memoryview(b""), b"not an image", b"\x89PNG\r\n\x1a\n"])
def test_unreadable_bytes(data):
    with pytest.raises(ImageError):
        load_image(data)


@pytest.mark.parametrize("cut", [2, 10, 200, len(RGB_JPEG) // 2, len(RGB_JPEG) - 2])
def test_truncated_jpeg(cut):
    assert not ImageFile.LOAD_TRUNCATED_IMAGES  # we do not relax Pillow globally
    with pytest.raises(ImageError):
        load_image(RGB_JPEG[:cut])


def test_truncated_jpeg_opened_lazily_by_the_user():
    """Image.open succeeds on a truncated file, load() fails: still an ImageError."""
    image = Image.open(io.BytesIO(RGB_JPEG[: len(RGB_JPEG) // 2]))  # succeeds
    with pytest.raises(ImageError):
        load_image(image)


def test_bytes_formats():
    assert_rgb(load_image(RGB_JPEG), (64, 48))
    assert_rgb(load_image(bytearray(RGB_JPEG)), (64, 48))
    assert_rgb(load_image(memoryview(RGB_JPEG)), (64, 48))
    cmyk = encode(Image.new("CMYK", (8, 6), (0, 255, 0, 0)), "JPEG")
    assert_rgb(load_image(cmyk), (8, 6))
    wide = Image.fromarray((numpy.arange(48, dtype=numpy.uint16).reshape(6, 8) * 1000))
    assert wide.mode.startswith("I;16")
    out = load_image(encode(wide, "PNG"))
    assert_rgb(out, (8, 6))
    assert numpy.asarray(out)[0, 0, 0] == 0 and numpy.asarray(out)[-1, -1, 0] == 255
    for fmt in ("GIF", "BMP", "TIFF", "WEBP"):
        assert_rgb(load_image(encode(Image.new("RGB", (7, 3), (1, 2, 3)), fmt)), (7, 3))


# -- PIL images in any mode -------------------------------------------------------------

MODES = ["1", "L", "LA", "La", "P", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB", "HSV", "I", "I;16", "I;16B", "I;16L", "F", "PA"]


@pytest.mark.parametrize("mode", MODES)
def test_pil_modes(mode):
    image = Image.new(mode, (7, 5))
    before = image.tobytes()
    assert_rgb(load_image(image), (7, 5))
    assert image.mode == mode and image.tobytes() == before  # input unchanged


def test_alpha_is_composited_on_white():
    transparent = Image.new("RGBA", (3, 3), (255, 0, 0, 0))
    assert numpy.asarray(load_image(transparent)).min() == 255
    opaque = Image.new("RGBA", (3, 3), (255, 0, 0, 255))
    assert numpy.asarray(load_image(opaque))[0, 0].tolist() == [255, 0, 0]
    palette = Image.new("P", (3, 3), 0)
    palette.putpalette([0, 0, 0] * 256)
    palette.info["transparency"] = 0
    assert numpy.asarray(load_image(palette)).min() == 255
    la = Image.new("LA", (2, 2), (0, 0))
    assert numpy.asarray(load_image(la)).min() == 255


def test_float_and_constant_images():
    values = numpy.array([[0.0, numpy.nan], [numpy.inf, 2.0]], dtype=numpy.float32)
    assert_rgb(load_image(Image.fromarray(values, mode="F")), (2, 2))
    assert_rgb(load_image(Image.new("I", (3, 3), 7)), (3, 3))  # constant: no division by zero


# -- sizes ------------------------------------------------------------------------------


def test_one_pixel():
    assert_rgb(load_image(Image.new("RGB", (1, 1))), (1, 1))
    assert_rgb(load_image(numpy.zeros((1, 1, 3), dtype=numpy.uint8)), (1, 1))
    assert_rgb(load_image(encode(Image.new("L", (1, 1)), "JPEG")), (1, 1))


def test_large_jpeg_is_decoded_at_reduced_scale():
    data = encode(Image.new("RGB", (6000, 4000), (9, 9, 9)), "JPEG", quality=50)
    image = load_image(data)
    assert_rgb(image)
    assert image.width * image.height <= MAX_PIXELS
    assert min(image.size) >= DRAFT_SIZE
    assert abs(image.width / image.height - 1.5) < 0.01


def test_large_png_and_pil_images_are_downscaled():
    big = Image.new("L", (6000, 4000), 128)
    for value in (encode(big, "PNG", compress_level=1), big):
        image = load_image(value)
        assert_rgb(image)
        assert image.width * image.height <= MAX_PIXELS
        assert abs(image.width / image.height - 1.5) < 0.01
    assert big.size == (6000, 4000)


def test_decompression_bomb(monkeypatch):
    """Pillow's guard applies: over MAX_IMAGE_PIXELS its DecompressionBombWarning and
    the image is used; over twice that, an ImageError (ROC_W002 / ROC_E004)."""
    data = encode(Image.new("RGB", (100, 100)), "PNG")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 6000)
    with pytest.warns(Image.DecompressionBombWarning):
        assert_rgb(load_image(data), (100, 100))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 4000)
    with pytest.raises(ImageError, match="too large"):
        load_image(data)


# -- numpy arrays -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "array",
    [
        numpy.zeros((4, 5, 3), dtype=numpy.uint8),
        numpy.zeros((4, 5, 4), dtype=numpy.uint8),
        numpy.zeros((4, 5), dtype=numpy.uint8),
        numpy.zeros((6, 10, 3), dtype=numpy.uint8)[::2, ::-2],  # not contiguous
        numpy.zeros((3, 4, 5), dtype=numpy.uint8).transpose(1, 2, 0)[:, :, :3],
    ],
)
def test_good_arrays(array):
    before = array.copy()
    assert_rgb(load_image(array), (array.shape[1], array.shape[0]))
    assert numpy.array_equal(array, before)


@pytest.mark.parametrize(
    "array",
    [
        numpy.zeros((4, 5, 3), dtype=numpy.float32),
        numpy.zeros((4, 5, 3), dtype=numpy.uint16),
        numpy.zeros((4, 5, 3), dtype=bool),
        numpy.zeros((4, 5, 3), dtype=numpy.int64),
        numpy.zeros((4, 5, 2), dtype=numpy.uint8),
        numpy.zeros((4, 5, 1), dtype=numpy.uint8),
        numpy.zeros((3, 4, 5), dtype=numpy.uint8)[0:0],
        numpy.zeros((4,), dtype=numpy.uint8),
        numpy.zeros((2, 4, 5, 3), dtype=numpy.uint8),
        numpy.uint8(3),
    ],
)
def test_bad_arrays(array):
    with pytest.raises(ImageError, match=r"\[ROC_E023\]"):
        load_image(array)


@pytest.mark.parametrize("value", [1, 2.5, [[0, 0, 0]], {"path": "a.png"}, object()])
def test_unsupported_types(value):
    with pytest.raises(TypeError, match=r"\[ROC_E002\]"):
        load_image(value)


# -- properties -------------------------------------------------------------------------

SEED_IMAGES = [
    encode(Image.new("RGB", (9, 7), (200, 10, 10)), "PNG"),
    encode(Image.new("RGB", (9, 7), (200, 10, 10)), "JPEG"),
    encode(Image.new("P", (9, 7)), "GIF"),
    encode(Image.new("RGBA", (9, 7)), "WEBP"),
    encode(Image.new("L", (9, 7)), "BMP"),
]


@st.composite
def corrupted_images(draw):
    """Valid encodings with bytes flipped, cut, or inserted; or random bytes."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=64))
    data = bytearray(draw(st.sampled_from(SEED_IMAGES)))
    for _ in range(draw(st.integers(0, 4))):
        position = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            data[position] = draw(st.integers(0, 255))
        elif action == "cut":
            data = data[:position] + data[position + draw(st.integers(1, 16)) :]
        else:
            data[position:position] = draw(st.binary(min_size=1, max_size=8))
        if not data:
            break
    return bytes(data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=corrupted_images())
def test_any_bytes_give_rgb_or_image_error(data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's own warnings on odd files
        try:
            image = load_image(data)
        except ImageError as err:
            assert err.reason
        else:
            assert_rgb(image)
            assert image.width * image.height <= MAX_PIXELS


@settings(max_examples=200, deadline=None)
@given(
    dtype=st.sampled_from(["uint8", "uint16", "float32", "int8", "bool"]),
    shape=st.lists(st.integers(0, 6), min_size=0, max_size=4),
)
def test_any_array_gives_rgb_or_coded_image_error(dtype, shape):
    array = numpy.zeros(shape, dtype=dtype)
    valid = dtype == "uint8" and 0 not in shape and (len(shape) == 2 or (len(shape) == 3 and shape[2] in (3, 4)))
    if valid:
        assert_rgb(load_image(array), (shape[1], shape[0]))
    else:
        with pytest.raises(ImageError, match=r"\[ROC_E023\]"):
            load_image(array)


@settings(max_examples=200, deadline=None)
@given(mode=st.sampled_from(MODES), width=st.integers(1, 40), height=st.integers(1, 40), seed=st.integers(0, 2**16))
def test_any_pil_image_gives_rgb_of_the_same_size(mode, width, height, seed):
    rng = numpy.random.default_rng(seed)
    base = Image.fromarray(rng.integers(0, 256, (height, width, 4), dtype=numpy.uint8), mode="RGBA")
    image = base if mode == "RGBA" else _as_mode(base, mode)
    before = (image.mode, image.size, image.tobytes())
    out = to_rgb(image)
    assert_rgb(out, (width, height))
    assert (image.mode, image.size, image.tobytes()) == before


def _as_mode(image, mode):
    try:
        return image.convert(mode)
    except ValueError:
        return Image.new(mode, image.size)


# -- EXIF orientation -----------------------------------------------------------------


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_turned_upright(tmp_path, orientation):
    """A phone photo is stored sideways with an EXIF orientation: the loaded image is
    upright, from a path, from bytes and from a PIL image the user opened."""
    from PIL import ImageOps

    upright = numpy.zeros((40, 60, 3), dtype=numpy.uint8)  # wide, red in the top left
    upright[:20, :30] = (255, 0, 0)
    # store the pixels as a camera would: turned so that the orientation undoes it
    turn = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}
    stored = Image.fromarray(upright).transpose(turn[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(stored, "JPEG", exif=exif.tobytes(), quality=95)
    (tmp_path / "photo.jpg").write_bytes(data)
    opened = Image.open(io.BytesIO(data))
    for value in (tmp_path / "photo.jpg", data, opened):
        image = load_image(value)
        assert_rgb(image, (60, 40))
        pixels = numpy.asarray(image).astype(int)
        assert pixels[5, 5, 0] > 200 and pixels[5, 5, 2] < 60  # red, top left
        assert pixels[35, 55].max() < 60  # black, bottom right
    assert opened.getexif().get(0x0112) == orientation  # the user's image is not changed
    assert ImageOps.exif_transpose(opened).size == (60, 40)


def test_image_without_orientation_is_not_copied():
    image = Image.new("RGB", (5, 4), (1, 2, 3))
    assert load_image(image) is image
