"""Reading the image attached to a doc into an RGB ``PIL.Image``.

Accepted values of ``doc._.image``: a path (``str``/``Path``), encoded bytes (any
format Pillow reads), a ``PIL.Image.Image`` in any mode, or a numpy ``uint8`` array of
shape (H, W, 3), (H, W, 4) or (H, W). Images are turned upright by their EXIF
orientation (phone and Twitter JPEGs carry one). Unreadable values raise
``ImageError`` with a reason; ``ImageReader`` turns that into a coded warning plus
text-only fallback, or a coded error, as configured.

How an image is written as a JSON string, and read back, is the codec's
(``spacy_roc.formats.codec``).
"""
import io
import struct
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from spacy.tokens import Doc

from .errors import Errors, Warnings, warn

ON_MISSING = ("text_only", "error")
# EXIF tag of the orientation (1: upright)
_ORIENTATION = 0x0112

# Images above this many pixels are downscaled (in RGB) before preprocessing, so that
# a batch of large photos holds a bounded amount of memory: a 6000x4000 photo becomes
# about 2450x1630. The image encoder resizes to its own input size (e.g. 224) anyway.
MAX_PIXELS = 4_000_000
# JPEGs at least twice this size on both sides are decoded at a reduced scale
# (1/2, 1/4 or 1/8, Pillow's `draft`), which bounds the memory of decoding them.
DRAFT_SIZE = 1024
# What a broken or hostile file can make Pillow's decoders raise. Anything else (e.g.
# MemoryError, KeyboardInterrupt) is not an "unreadable image" and propagates.
DECODE_ERRORS = (
    OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError,
    ZeroDivisionError, struct.error,
)
# Modes whose alpha channel is composited on white.
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")
# 16/32-bit integer and float modes, rescaled to 8 bits.
_WIDE_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")


class ImageError(ValueError):
    """An image value that cannot be read. `reason` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def load_image(value: Any, base_dir: Optional[Path] = None) -> Any:
    """Read an image value into an RGB PIL image.

    The value itself is never modified: a PIL image or array given in RGB may be
    returned as is (or share its memory), every conversion makes a new image.

    value (Any): A path, bytes, PIL image or numpy array.
    base_dir (Optional[Path]): Folder against which relative paths are resolved.
    RETURNS (PIL.Image.Image): The image in RGB mode, at most MAX_PIXELS pixels.
    RAISES (ImageError): If the value cannot be read as an image.
    RAISES (TypeError): ROC_E002 if the value has an unsupported type.
    """
    from PIL import Image

    if isinstance(value, Image.Image):
        image = value
    elif isinstance(value, (str, Path)):
        image = _open_path(Path(value), base_dir)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        image = _open_bytes(bytes(value))
    elif type(value).__module__ == "numpy" and hasattr(value, "shape"):
        image = _from_array(value)
    else:
        raise TypeError(Errors.ROC_E002.format(type=type(value).__name__))
    try:
        image.load()  # a PIL image from Image.open is decoded lazily, here
        return to_rgb(upright(image))
    except Image.DecompressionBombError as err:
        raise ImageError(f"image too large to decode safely: {err}") from err
    except DECODE_ERRORS as err:
        # e.g. a lazily opened, truncated PIL image, or a mode Pillow cannot convert
        raise ImageError(f"cannot read image of mode {image.mode!r}: {err}") from err


def upright(image: Any) -> Any:
    """The image turned by its EXIF orientation (a new image; the input is not
    modified), or the image itself if it has none.

    image (PIL.Image.Image): The image.
    RETURNS (PIL.Image.Image): The upright image.
    """
    from PIL import ImageOps

    if image.getexif().get(_ORIENTATION, 1) in (1, None):
        return image
    return ImageOps.exif_transpose(image)


def _open_path(path: Path, base_dir: Optional[Path]) -> Any:
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    try:
        data = path.read_bytes() if path.is_file() else None
    except (OSError, ValueError) as err:  # permissions, name too long, NUL byte
        raise ImageError(f"cannot read file {str(path)[:200]}: {err}") from err
    if data is None:
        raise ImageError(f"file not found: {path}")
    return _open_bytes(data, str(path))


def _open_bytes(data: bytes, source: str = "bytes") -> Any:
    """Decode encoded image bytes. Pillow's decompression-bomb guard applies: images
    above `Image.MAX_IMAGE_PIXELS` give Pillow's DecompressionBombWarning, images
    above twice that are refused (ImageError). Truncated files are refused too:
    `ImageFile.LOAD_TRUNCATED_IMAGES` is left as the user set it (False by default).
    """
    from PIL import Image

    if not data:
        raise ImageError(f"empty image data ({source})")
    try:
        image = Image.open(io.BytesIO(data))
        if image.format == "JPEG":
            image.draft(None, (DRAFT_SIZE, DRAFT_SIZE))
        image.load()
    except Image.DecompressionBombError as err:
        raise ImageError(f"image too large to decode safely ({source}): {err}") from err
    except DECODE_ERRORS as err:
        raise ImageError(f"cannot decode image ({source}): {err}") from err
    return image


def _from_array(array: Any) -> Any:
    import numpy
    from PIL import Image

    shape_ok = array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))
    if array.dtype != numpy.uint8 or not shape_ok or 0 in array.shape:
        raise ImageError(Errors.ROC_E023.format(dtype=array.dtype, shape=array.shape))
    return Image.fromarray(numpy.ascontiguousarray(array))


def to_rgb(image: Any) -> Any:
    """Convert a PIL image of any mode to RGB, compositing alpha on white and
    rescaling 16/32-bit and float images to 8 bits; downscale it to MAX_PIXELS.
    The input image is not modified.

    image (PIL.Image.Image): The image.
    RETURNS (PIL.Image.Image): An RGB image of at most MAX_PIXELS pixels.
    """
    from PIL import Image

    if image.mode in _WIDE_MODES:
        image = _rescale_to_8bit(image)
    if image.mode == "La":
        image = image.convert("LA")
    if image.mode in _ALPHA_MODES or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba).convert("RGB")
    elif image.mode != "RGB":
        image = image.convert("RGB")
    return _downscale(image)


def _downscale(image: Any) -> Any:
    n_pixels = image.width * image.height
    if n_pixels <= MAX_PIXELS:
        return image
    scale = (MAX_PIXELS / n_pixels) ** 0.5
    size = (max(1, int(image.width * scale)), max(1, int(image.height * scale)))
    return image.resize(size, reducing_gap=2.0)


def _rescale_to_8bit(image: Any) -> Any:
    import numpy
    from PIL import Image

    array = numpy.asarray(image, dtype=numpy.float64)
    array = numpy.nan_to_num(array, nan=0.0, posinf=0.0, neginf=0.0)
    low, high = float(array.min()), float(array.max())
    scaled = (array - low) / (high - low) * 255.0 if high > low else numpy.zeros_like(array)
    return Image.fromarray(scaled.astype(numpy.uint8), mode="L")


class ImageReader:
    """Reads the images of a batch of docs for the model: each distinct image value
    once, as an RGB image, with an index per doc.

    A doc without image, or with an unreadable one, is encoded text-only with a coded
    warning once per batch (ROC_W001, ROC_W002), or raises ROC_E003 / ROC_E004 with
    on_missing = "error". `missing` and `failed` count those docs over the reader's
    lifetime. A value of an unsupported type always raises ROC_E002.

    on_missing (str): "text_only" or "error".
    """

    def __init__(self, on_missing: str = "text_only"):
        self.on_missing = on_missing
        self.missing = 0
        self.failed = 0

    @property
    def on_missing(self) -> str:
        return self._on_missing

    @on_missing.setter
    def on_missing(self, value: str) -> None:
        if value not in ON_MISSING:
            raise ValueError(Errors.ROC_E005.format(value=value))
        self._on_missing = value

    def read(self, docs: Sequence[Doc], wanted: Sequence[bool]) -> Tuple[List[Any], List[int]]:
        """Read the images of the wanted docs.

        docs (Sequence[Doc]): The docs.
        wanted (Sequence[bool]): Whether each doc's image is needed (e.g. it has
            candidate pairs).
        RETURNS (Tuple[List[PIL.Image.Image], List[int]]): The distinct RGB images,
            and per doc the index of its image (-1: text-only).
        """
        images: List[Any] = []
        slots: Dict[Any, int] = {}
        index: List[int] = []
        missing, failed, reason = 0, 0, ""
        for doc, want in zip(docs, wanted):
            value = doc._.image if want else None
            if value is None:
                missing += int(want)
                index.append(-1)
                continue
            key = value if isinstance(value, (str, bytes)) else id(value)
            if key not in slots:
                image, error = self._load(value)
                slots[key] = len(images) if image is not None else -1
                images.extend([image] if image is not None else [])
                reason = reason or error
            failed += int(slots[key] < 0)
            index.append(slots[key])
        if missing and self.on_missing == "error":
            raise ValueError(Errors.ROC_E003)
        self._report(missing, failed, reason)
        return images, index

    def _load(self, value: Any) -> Tuple[Optional[Any], str]:
        try:
            return load_image(value), ""
        except ImageError as err:
            if self.on_missing == "error":
                raise ValueError(Errors.ROC_E004.format(reason=err.reason)) from err
            return None, err.reason

    def _report(self, missing: int, failed: int, reason: str) -> None:
        self.missing += missing
        self.failed += failed
        if missing:
            warn(Warnings.ROC_W001)
        if failed:
            warn(Warnings.ROC_W002.format(reason=reason))
