"""Reading the image attached to a doc into an RGB ``PIL.Image``.

Accepted values of ``doc._.image``: a path (``str``/``Path``), encoded bytes (any
format Pillow reads), a ``PIL.Image.Image`` in any mode, or a numpy ``uint8`` array of
shape (H, W, 3), (H, W, 4) or (H, W). Unreadable values raise ``ImageError`` with a
reason; the component turns that into a coded warning plus text-only fallback, or a
coded error, as configured.
"""
import io
from pathlib import Path
from typing import Any, Optional

from .errors import Errors

# Images above this many pixels are downscaled before preprocessing (Pillow's
# decompression-bomb guard is 89M pixels; a 6000x4000 photo is 24M).
MAX_PIXELS = 40_000_000


class ImageError(ValueError):
    """An image value that cannot be read. `reason` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def load_image(value: Any, base_dir: Optional[Path] = None) -> Any:
    """Read an image value into an RGB PIL image.

    value (Any): A path, bytes, PIL image or numpy array.
    base_dir (Optional[Path]): Folder against which relative paths are resolved.
    RETURNS (PIL.Image.Image): The image in RGB mode.
    RAISES (ImageError): If the value cannot be read as an image.
    RAISES (TypeError): ROC_E002 if the value has an unsupported type.
    """
    from PIL import Image

    if isinstance(value, Image.Image):
        return to_rgb(value)
    if isinstance(value, (str, Path)):
        return to_rgb(_open_path(Path(value), base_dir))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return to_rgb(_open_bytes(bytes(value)))
    if type(value).__module__ == "numpy" and hasattr(value, "shape"):
        return to_rgb(_from_array(value))
    raise TypeError(Errors.ROC_E002.format(type=type(value).__name__))


def _open_path(path: Path, base_dir: Optional[Path]) -> Any:
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    if not path.is_file():
        raise ImageError(f"file not found: {path}")
    return _open_bytes(path.read_bytes(), str(path))


def _open_bytes(data: bytes, source: str = "bytes") -> Any:
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ImageError(f"empty image data ({source})")
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ImageError(f"cannot decode image ({source}): {err}") from err
    except Image.DecompressionBombError as err:
        raise ImageError(f"image too large to decode safely ({source}): {err}") from err
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
    rescaling 16/32-bit and float images to 8 bits.

    image (PIL.Image.Image): The image.
    RETURNS (PIL.Image.Image): An RGB image, downscaled if above MAX_PIXELS.
    """
    from PIL import Image

    if image.width * image.height > MAX_PIXELS:
        scale = (MAX_PIXELS / (image.width * image.height)) ** 0.5
        image = image.resize((max(1, int(image.width * scale)), max(1, int(image.height * scale))))
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        image = _rescale_to_8bit(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")


def _rescale_to_8bit(image: Any) -> Any:
    import numpy
    from PIL import Image

    array = numpy.asarray(image, dtype=numpy.float64)
    low, high = float(array.min()), float(array.max())
    scaled = (array - low) / (high - low) * 255.0 if high > low else numpy.zeros_like(array)
    return Image.fromarray(scaled.astype(numpy.uint8), mode="L")
