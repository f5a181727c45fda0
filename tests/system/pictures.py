"""The images the system tests send, made with Pillow (not with the pipeline under test), once per
run: the big ones take a second or two each."""

import functools
import random

from PIL import Image

from optimizer.tests import images


@functools.cache
def small() -> bytes:
    """A 256x192 photo-like PNG: a second's work for any worker."""
    return images.encode(images.photo(), "PNG")


@functools.cache
def smooth_png(width: int, height: int) -> bytes:
    """Gradients only: huge in pixels, small in bytes (10000x10000 is about 1.5 MB)."""
    size = (width, height)
    bands = (
        Image.linear_gradient("L").resize(size, Image.Resampling.BILINEAR),
        Image.linear_gradient("L").transpose(Image.Transpose.ROTATE_90).resize(size, Image.Resampling.BILINEAR),
        Image.radial_gradient("L").resize(size, Image.Resampling.BILINEAR),
    )
    return images.encode(Image.merge("RGB", bands), "PNG", compress_level=1)


@functools.cache
def photo_jpeg(width: int, height: int, quality: int = 85) -> bytes:
    """A camera-sized photo: smooth colour and detail, with grain all over (8000x6000 is about 7 MB)."""
    base = images.photo(width // 8, height // 8).resize((width, height), Image.Resampling.BICUBIC)
    grain = Image.frombytes("L", (width, height), random.Random(width * height).randbytes(width * height))
    return images.encode(Image.blend(base, grain.convert("RGB"), 0.06), "JPEG", quality=quality)


def truncated_jpeg() -> bytes:
    """The first 30 KB of a 250 KB JPEG: a download cut short."""
    whole = photo_jpeg(1200, 900, quality=90)
    assert len(whole) > 100_000
    return whole[:30_000]
