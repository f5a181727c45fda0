"""What one image may cost a worker, checked from its header before a pixel is decoded, so that
every accepted image finishes within the worker's memory and ImageMagick's policy.

- ImageMagick's pixel caches (the policy's memory, map and disk together; Q16, so 8 bytes a
  pixel, 10 for CMYK): while an image is prepared, the decoded source, an oriented copy, the
  resize's intermediate image and the result can all exist at once. An image whose caches would
  not fit is refused (IMAGE_TOO_LARGE) instead of failing half-way, which in ImageMagick 6 can
  leak the caches it had taken until the process ends.
- The worker's memory outside those caches: each encoder keeps its own copies of the pixels
  (libwebp its ARGB and YUV planes, libavif and libaom far more), so each output format has a
  largest size that keeps a worker under WORKER_MEMORY_CEILING (measured: `make bench-memory`).
"""

import math

from optimizer.formats import OutputFormat, RequestedFormat, SourceFormat
from optimizer.magick import limits
from optimizer.probe import ImageTooLarge, SourceInfo

MIB = 2**20
# Every accepted image keeps a worker process under this peak (resident memory).
WORKER_MEMORY_CEILING = 1024 * MIB
# Bytes of ImageMagick pixel cache a pixel takes at the most (Q16 RGBA plus CMYK's index channel).
CACHE_BYTES_PER_PIXEL = 10
# The largest result each encoder is given, opaque and transparent, from `make bench-memory`: a
# worker starts at ~130-200 MB; opaque WebP then takes ImageMagick's heap cache (at most the
# policy's 256 MiB) and ~8 bytes a pixel, AVIF ~19 (libaom's frame buffers); with alpha, libwebp
# takes ~37 bytes a pixel (its lossless alpha plane) and libavif ~26. All stay below the ceiling
# with a margin.
MAX_OUTPUT_PIXELS = {
    (OutputFormat.WEBP, False): 64_000_000,
    (OutputFormat.AVIF, False): 24_000_000,
    (OutputFormat.WEBP, True): 16_000_000,
    (OutputFormat.AVIF, True): 24_000_000,
}


def affordable_format(
    requested: RequestedFormat, *, width: int, height: int, transparent: bool = False
) -> RequestedFormat:
    """`requested`, without the formats whose encoder would not fit in a worker at this size
    (`auto` keeps what fits); ImageTooLarge when nothing the customer asked for fits. Checked from
    the header (as if opaque), then again once the pixels tell whether the image is transparent."""
    pixels = width * height
    limit = {output: MAX_OUTPUT_PIXELS[output, transparent] for output in requested.candidates}
    fitting = [output for output in requested.candidates if pixels <= limit[output]]
    if not fitting:
        largest = max(requested.candidates, key=limit.__getitem__)
        raise ImageTooLarge(
            f"The result would be {width}x{height} pixels; {largest.value.upper()} results"
            f"{' with transparency' if transparent else ''} can have at most {limit[largest] // 1_000_000} "
            f"megapixels here. Ask for a maxWidth of at most {_largest_width(width, height, limit[largest])}."
        )
    if len(fitting) == len(requested.candidates):
        return requested
    return RequestedFormat(fitting[0].value)


def check_caches(source: SourceInfo, width: int, height: int) -> None:
    """Refuse (ImageTooLarge) an image whose preparation would not fit in ImageMagick's caches."""
    available = limits["memory"] + limits["map"] + limits["disk"]
    if _cache_bytes(source, width, height) <= available:
        return
    largest = _largest_resize(source, available)
    if _cache_bytes(source, largest, max(1, round(source.height * largest / source.width))) > available:
        raise ImageTooLarge(f"The image is {source.width}x{source.height} pixels: too large to decode here.")
    raise ImageTooLarge(
        f"The image is {source.width}x{source.height} pixels: at a maxWidth of {width} it would take more memory "
        f"than an image may use here. Ask for a maxWidth of at most {largest}."
    )


def _cache_bytes(source: SourceInfo, width: int, height: int) -> int:
    """The most pixel cache that preparing `source` at `width` x `height` holds at once: the decoded
    image and its oriented copy, or an AVIF's or HEIC's alpha plane (decoded on its own, then
    merged) and its turned copy; then, when it is resized, the oriented one, the resize's
    intermediate image (it filters one direction at a time) and the result."""
    decoded = _decoded_pixels(source, width, height)
    turned = (source.width, source.height) != (source.stored_width, source.stored_height)
    pixels = decoded * (2 if turned else 3 if source.separate_alpha else 1)
    if width < source.width:
        intermediate = max(width * source.height, source.width * height)
        pixels = max(pixels, decoded + intermediate + width * height)
    return CACHE_BYTES_PER_PIXEL * pixels


def _decoded_pixels(source: SourceInfo, width: int, height: int) -> int:
    """The pixels ImageMagick decodes: all of them, except for JPEGs, which libjpeg scales down
    by k/8 while decoding when the target is much smaller (see imaging.jpeg_size_hint)."""
    stored = source.stored_width * source.stored_height
    if source.format is not SourceFormat.JPEG or width >= source.width:
        return stored
    denominator = source.width // width  # ImageMagick asks for 1/denominator; libjpeg-turbo rounds up to k/8
    scale = min(math.ceil(8 / denominator), 8) / 8
    return math.ceil(source.stored_width * scale) * math.ceil(source.stored_height * scale)


def _largest_width(width: int, height: int, max_pixels: int) -> int:
    return max(1, math.isqrt(max_pixels * width // height))


def _largest_resize(source: SourceInfo, available: int) -> int:
    """The largest maxWidth whose preparation fits `available` bytes of cache."""
    low, high = 1, source.width
    while low < high:
        middle = (low + high + 1) // 2
        if _cache_bytes(source, middle, max(1, round(source.height * middle / source.width))) <= available:
            low = middle
        else:
            high = middle - 1
    return low
