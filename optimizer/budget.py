"""What one image may cost a worker, checked from its header before a pixel is decoded, so that
every accepted image finishes within the worker's memory and ImageMagick's policy.

- ImageMagick's pixel caches (Q16, so 8 bytes a pixel, 10 with an index channel: CMYK,
  palettes), each whole in the policy's memory if it fits what is left there, else on its disk:
  while an image is prepared, the decoded source beside its sRGB copy or its oriented copy, then
  the resize's intermediate image and the result. An image whose caches would not fit is refused
  (IMAGE_TOO_LARGE) instead of failing half-way (a grey PNG of 64 megapixels was "damaged"; TIFFs
  of 100 megapixels turned by their orientation, or 81 in CMYK, ran out of caches after seconds).
- The worker's memory outside those caches: each encoder keeps its own copies of the pixels
  (libwebp its ARGB and YUV planes, libavif and libaom far more), so each output format has a
  largest size that keeps a worker under WORKER_MEMORY_CEILING (measured: `make bench-memory`);
  and libheif with its decoder (dav1d, libde265) holds an AVIF's or HEIC's planes, several times
  over, while it decodes them at full size whatever the maxWidth: more with each bit above 8 and
  with chroma not subsampled (a 12-bit 4:4:4 AVIF of 35.7 megapixels peaked at 1000 MB); and
  libtiff with ImageMagick's TIFF coder holds a TIFF's strip or tile, whose size the header alone
  tells (its samples, their bits, the rows of a strip or the size of a tile) and deflate lets a
  small file declare: one 4096x4096 tile of 32 16-bit samples in a 64x64 TIFF of 1 MB took 1 GB.

A refusal names the largest maxWidth that passes both, found with the same rules (_accepted), or
says that no width does.
"""

import math
from dataclasses import replace

from optimizer.formats import OutputFormat, RequestedFormat, SourceFormat
from optimizer.imaging import JPEG_SIZE_HINT_MARGIN, fit_width
from optimizer.magick import limits
from optimizer.probe import ImageTooLarge, SourceInfo, TiffLayout

MIB = 2**20
# Every accepted image keeps a worker process under this peak (resident memory).
WORKER_MEMORY_CEILING = 1024 * MIB
# Bytes of ImageMagick pixel cache a pixel takes at the most (Q16 RGBA plus the index channel of
# CMYK and palette images), and without an index channel.
CACHE_BYTES_PER_PIXEL = 10
DIRECT_CACHE_BYTES_PER_PIXEL = 8
# The sources ImageMagick decodes without an index channel, and PNG's colour types that do: RGB,
# grey and alpha, RGBA (grey alone, 0, and palettes, 3, have one).
DIRECT_FORMATS = {SourceFormat.WEBP, SourceFormat.AVIF, SourceFormat.HEIC}
PNG_GREY = 0
PNG_DIRECT_COLOUR_TYPES = {2, 4, 6}
# The sources ImageMagick decodes in sRGB without an index channel: converting them to sRGB through
# an ICC profile (LittleCMS) works in their own cache. Any other image is copied whole into a new
# cache when its colourspace or class changes (imaging._convert_to_srgb, before the resize): always
# from CMYK (JPEG, TIFF) and from AVIF's and HEIC's YCbCr, and from grey, palettes (GIF, BMP, PNG,
# TIFF) and PNG's grey and alpha through a profile, which the header does not show.
PNG_SRGB_COLOUR_TYPES = {2, 6}
SRGB_FORMATS = {SourceFormat.WEBP}
# The largest result each encoder is given, opaque and transparent, from `make bench-memory`: a
# worker starts at ~130-200 MB; opaque WebP then takes ImageMagick's heap cache (at most the
# policy's 256 MiB) and ~8 bytes a pixel, AVIF ~19 (libaom's frame buffers); with alpha, libwebp
# takes ~37 bytes a pixel (its lossless alpha plane) and libavif ~26 (and 4 for the copy whose hidden
# colour is filled, encoders._hidden_colour_filled). All stay below the ceiling with a margin.
# Converting a result through a matrix/TRC profile in numpy (colour.to_srgb, once ImageMagick's
# caches are gone: the samples, their converted copy and its bytes, 9 bytes a pixel opaque) takes
# less than its encoder: a 64-megapixel Display P3 PNG made WebP at full size peaked at 669 MB,
# 644 without its profile. Before a resize it works in bands of CHUNK_PIXELS, as does tone mapping.
MAX_OUTPUT_PIXELS = {
    (OutputFormat.WEBP, False): 64_000_000,
    (OutputFormat.AVIF, False): 24_000_000,
    (OutputFormat.WEBP, True): 16_000_000,
    (OutputFormat.AVIF, True): 24_000_000,
}
# What libheif and its decoder hold while they decode an AVIF or HEIC, outside ImageMagick's caches:
# the decoder's frame, libheif's copy of its planes (and of the alpha plane, decoded with the
# colour), the 8-bit 4:2:0 image libheif converts them to for ImageMagick 6, and its steps there.
# Measured (VmHWM of a fresh worker-like process reading the file, less its 118-125 MB start) at 24
# and 35.7 MP, bytes a pixel: AVIF (avifenc, libaom; dav1d decodes) 8-bit 4:2:0 7.6-8.1, 4:4:4 13.6,
# 10- and 12-bit 4:2:0 15.2, 21.6 with alpha, 4:4:4 25.9-26.4, with alpha too; HEIC (heif-enc,
# x265; libde265 decodes) 8-bit 4:2:0 5.4, 10- and 12-bit 15.3 (4:2:0 and 4:4:4), 21.5 with alpha;
# an alpha plane decoded alone (imaging._add_alpha_plane: made 4:2:0 for ImageMagick) 8.1 at 8 bits,
# 15.1-15.3 above. Counted: for each byte of planes a pixel (a sample's bytes, 1 up to 8 bits and 2
# above, times its luma, chroma and alpha samples), DECODER_BYTES_PER_PLANE_BYTE, and
# DECODER_BYTES_PER_PIXEL more: at or above every measurement (15.5 for 10-bit 4:2:0, 29 for 4:4:4).
DECODER_BYTES_PER_PLANE_BYTE = 4.5
DECODER_BYTES_PER_PIXEL = 2
# Chroma samples a pixel (both planes); libheif makes a grey image 4:2:0 for ImageMagick.
CHROMA_SAMPLES = {"4:0:0": 0.5, "4:2:0": 0.5, "4:2:2": 1, "4:4:4": 2}
# A worker's resident memory before an image: 118-143 MB fresh, up to ~200 once it has run images.
WORKER_START = 200 * MIB
# What decoding may take a worker to: an eighth of the ceiling (128 MiB) is kept spare for what the
# measurements did not vary: other encoders' files (tiles, film grain), more cores (more decoder
# threads, more glibc arenas). A 12-bit 4:4:4 AVIF fits up to ~25 MP (~19 with alpha), a 10- or
# 12-bit 4:2:0 one up to ~47 (~30), an 8-bit 4:2:0 one up to ~83 (~55).
DECODING_CEILING = WORKER_MEMORY_CEILING - WORKER_MEMORY_CEILING // 8
# What ImageMagick 6's TIFF coder and libtiff hold while they decode a TIFF's first directory,
# besides its pixel cache. Measured (VmHWM of a fresh process reading synthetic TIFFs through
# probe.read_source, less its start; 6000x6000 and 7000x7000 with 1 to 8 samples of 8 and 16 bits,
# 2000x2000 with 16, 4000x4000 with 32, one strip to strips of 16 rows, tiles of 256 to 4096):
# - TIFF_ROW_BYTES_PER_PIXEL for each pixel of the rows of a strip (columns x RowsPerStrip; the
#   image's rows where the tag is absent, as in most tiled files): ImageMagick's row buffer;
# - in strips, for each pixel of a strip: its bytes as stored (samples x bytes a sample), plus
#   TIFF_STRIP_BYTES_PER_PIXEL, plus a sample's bytes and TIFF_EXTRA_SAMPLE_BYTES for each sample
#   beyond the colour's (alpha, and any other, which ImageMagick reads and drops). Measured a strip
#   pixel, with the row buffer: grey 8 bytes, RGB 9 (16-bit 12), CMYK 11, RGBA 13 (16-bit 18), 8
#   samples of 8 bits 28, 16 of 16 bits 88, 32 of 16 bits 179; counted 8, 10 (13), 11, 14 (19), 30,
#   91 and 187. Planes of their own (PlanarConfiguration 2) took what interleaved samples did.
# - in tiles: one tile as stored (1.0x, a 3008x3008 one of 16 16-bit samples), and a row of tiles'
#   pixels at up to 8 bytes each (columns x TileLength: 2048-row tiles of 6000-wide RGBA took 95 MB
#   at 16 bits, 49 at 8; 256-row ones of 32 16-bit samples 13).
# - JPEG-compressed, YCbCr and LogLuv TIFFs are read through libtiff's RGBA interface: 4 bytes for
#   each pixel of the image besides (a 7000x7000 JPEG-compressed one took 189 MB).
# - TIFF_DECODER_BYTES more, for what the rest did not vary (libtiff's and zlib's state: the counts
#   above came within 1 MB of grey and CMYK strips, 0.3% under).
TIFF_DECODER_BYTES = 16 * MIB
TIFF_ROW_BYTES_PER_PIXEL = 4
TIFF_STRIP_BYTES_PER_PIXEL = 3
TIFF_EXTRA_SAMPLE_BYTES = 2
TIFF_TILE_ROW_BYTES_PER_PIXEL = 8
TIFF_RGBA_BYTES_PER_PIXEL = 4
# The samples of each TIFF photometric interpretation's colour (libtiff's PHOTOMETRIC_*): grey
# (0, 1), RGB, palette, CMYK, YCbCr, CIE, ICC and ITU L*a*b*, LogL, LogLuv. Any other counts 1.
TIFF_COLOUR_SAMPLES = {0: 1, 1: 1, 2: 3, 3: 1, 5: 4, 6: 3, 8: 3, 9: 3, 10: 3, 32844: 1, 32845: 3}
# What libtiff decodes through its RGBA interface in ImageMagick 6: JPEG compression (old and new),
# YCbCr, LogL and LogLuv.
TIFF_JPEG_COMPRESSIONS = {6, 7}
TIFF_RGBA_PHOTOMETRICS = {6, 32844, 32845}
# The formats' names as the documentation writes them, in messages to the customer.
FORMAT_NAMES = {OutputFormat.WEBP: "WebP", OutputFormat.AVIF: "AVIF"}


def affordable_format(
    source: SourceInfo, requested: RequestedFormat, *, max_width: int, transparent: bool = False
) -> RequestedFormat:
    """`requested`, without the formats whose encoder would not fit in a worker at the size
    `max_width` gives (`auto` keeps what fits). ImageTooLarge when nothing the customer asked for
    fits, or when preparing the image would not fit ImageMagick's caches: it names the largest
    maxWidth that would pass both, or says that none would. Checked from the header (as if opaque),
    then again once the pixels tell whether the image is transparent."""
    if not _accepted(source, requested, max_width, transparent=transparent):
        raise _too_large(source, requested, max_width, transparent=transparent)
    width, height = fit_width(source.width, source.height, max_width)
    fitting = _fitting_formats(requested, width * height, transparent=transparent)
    if len(fitting) == len(requested.candidates):
        return requested
    return RequestedFormat(fitting[0].value)


def _fitting_formats(requested: RequestedFormat, pixels: int, *, transparent: bool) -> list[OutputFormat]:
    return [output for output in requested.candidates if pixels <= MAX_OUTPUT_PIXELS[output, transparent]]


def _accepted(source: SourceInfo, requested: RequestedFormat, max_width: int, *, transparent: bool) -> bool:
    """Whether affordable_format takes `source` at `max_width`: the rules it refuses by, as a test."""
    width, height = fit_width(source.width, source.height, max_width)
    return bool(_fitting_formats(requested, width * height, transparent=transparent)) and _fits(source, width, height)


def _too_large(source: SourceInfo, requested: RequestedFormat, max_width: int, *, transparent: bool) -> ImageTooLarge:
    """The refusal of `source` at `max_width`: why, and the largest maxWidth that passes every
    rule (_accepted), or that none does. A smaller width may pass where the full size does not (a
    smaller result, smaller caches), and the full size where a smaller width does not (no resize:
    no intermediate image, no result cache)."""
    width, height = fit_width(source.width, source.height, max_width)
    # From the header alone the pixels' transparency is unknown: a file that may hold some is advised
    # a width that takes it transparent too (else that width could be refused once decoded), if any.
    for assumed in dict.fromkeys((transparent or _may_be_transparent(source), transparent)):
        smaller = _largest_resize(source, requested, transparent=assumed)
        whole = width < source.width and _accepted(source, requested, source.width, transparent=assumed)
        if smaller is not None or whole:
            break
    if smaller is None and not whole:
        return ImageTooLarge(_too_large_to_decode(source, requested, transparent=transparent))
    if not _fitting_formats(requested, width * height, transparent=transparent):
        largest = max(requested.candidates, key=lambda output: MAX_OUTPUT_PIXELS[output, transparent])
        reason = (
            f"The result would be {width}x{height} pixels; {FORMAT_NAMES[largest]} results"
            f"{' with transparency' if transparent else ''} can have at most "
            f"{MAX_OUTPUT_PIXELS[largest, transparent] // 1_000_000} megapixels here."
        )
    else:
        reason = (
            f"The image is {source.width}x{source.height} pixels: at a maxWidth of {width} it would take more "
            f"memory than an image may use here."
        )
    if smaller is None:
        advice = f"ask for a maxWidth of {source.width} or more (its own width)."
    elif whole:
        advice = f"ask for a maxWidth of at most {smaller}, or of {source.width} or more (its own width)."
    else:
        advice = f"ask for a maxWidth of at most {smaller}."
    if assumed == transparent:
        return ImageTooLarge(f"{reason} {advice[0].upper()}{advice[1:]}")
    return ImageTooLarge(f"{reason} As it may be transparent, {advice}")


def _too_large_to_decode(source: SourceInfo, requested: RequestedFormat, *, transparent: bool) -> str:
    """The refusal of an image that no maxWidth helps. A TIFF whose strips or tiles are the cause
    (the decoder holds a whole one: _tiff_decoder_bytes) is told so, and how to save it instead
    where strips of one row would be accepted (at some maxWidth): nothing in the image shows it."""
    refusal = f"The image is {source.width}x{source.height} pixels: too large to decode here."
    layout = source.tiff
    if layout is None or _decoder_fits(source):
        return refusal
    if layout.tile_width and layout.tile_length:
        part, parts = "tile", f"tiles of {layout.tile_width}x{layout.tile_length} pixels"
    else:
        rows = min(layout.rows_per_strip or source.stored_height, source.stored_height)
        part, parts = "strip", f"strips of {rows} row{'s' * (rows != 1)}"
    samples = f"{layout.samples_per_pixel} sample{'s' * (layout.samples_per_pixel != 1)}"
    refusal = (
        f"The image is {source.width}x{source.height} pixels, stored in {parts} of {samples} of "
        f"{layout.bits_per_sample} bits a pixel: its decoder would hold a whole {part} at once, more "
        f"memory than an image may use here."
    )
    in_rows = replace(source, tiff=replace(layout, rows_per_strip=1, tile_width=0, tile_length=0))
    fits_in_rows = _accepted(in_rows, requested, source.width, transparent=transparent)
    if fits_in_rows or _largest_resize(in_rows, requested, transparent=transparent) is not None:
        refusal += " Saved in strips of a few rows (most programs' default), it would be accepted."
    return refusal


def _may_be_transparent(source: SourceInfo) -> bool:
    """Whether the file may hold transparency, as far as its header tells: a JPEG, an AVIF or HEIC
    without an alpha plane, a PNG of grey or RGB colour (but for a rare tRNS chunk) cannot."""
    if source.format is SourceFormat.JPEG:
        return False
    if source.format in (SourceFormat.AVIF, SourceFormat.HEIC):
        return source.separate_alpha
    if source.format is SourceFormat.PNG:
        return source.png_colour_type not in (0, 2)
    return True


def _fits(source: SourceInfo, width: int, height: int) -> bool:
    return _decoder_fits(source) and all(_fit_together(caches) for caches in _caches(source, width, height))


def _decoder_fits(source: SourceInfo) -> bool:
    """Whether decoding an AVIF or HEIC keeps the worker under DECODING_CEILING: the colour planes
    (with the alpha plane, which libheif decodes with them), then the alpha plane alone, beside the
    decoded colour's cache when that is in memory; and a TIFF's buffers (_tiff_decoder_bytes), beside
    its cache when that is in memory. At full size whatever the maxWidth: no width helps."""
    if source.tiff is not None:
        pixels = source.stored_width * source.stored_height
        cache = _decoding(source, pixels)[-1]
        held = cache if cache <= limits["memory"] else 0
        decoding = _tiff_decoder_bytes(source.tiff, source.stored_width, source.stored_height)
        return WORKER_START + held + decoding <= DECODING_CEILING
    if source.format not in (SourceFormat.AVIF, SourceFormat.HEIC):
        return True
    pixels = source.stored_width * source.stored_height
    sample = 1 if source.bit_depth <= 8 else 2
    # libde265's path took as much for a HEIC in 4:4:4 as in 4:2:0 (644 MB at 35.7 MP, 10 and 12 bits).
    chroma = "4:2:0" if source.format is SourceFormat.HEIC else source.chroma
    peak = _decoder_bytes(pixels, sample * (1 + CHROMA_SAMPLES[chroma] + source.separate_alpha))
    if source.separate_alpha:
        cache = DIRECT_CACHE_BYTES_PER_PIXEL * pixels
        held = cache if cache <= limits["memory"] else 0
        peak = max(peak, held + _decoder_bytes(pixels, sample * (1 + CHROMA_SAMPLES["4:2:0"])))
    return WORKER_START + peak <= DECODING_CEILING


def _tiff_decoder_bytes(layout: TiffLayout, columns: int, rows: int) -> int:
    """What libtiff and ImageMagick's TIFF coder hold at their peak while they decode a first
    directory of this layout and size, besides its pixel cache (see TIFF_ROW_BYTES_PER_PIXEL)."""
    sample_bytes = -(-layout.bits_per_sample // 8)
    pixel_bytes = layout.samples_per_pixel * sample_bytes
    strip_rows = min(layout.rows_per_strip or rows, rows)
    # ImageMagick's row buffer: the rows of a strip, or one row of samples at a power of two of bits.
    rounded_bits = 1 << max(0, layout.bits_per_sample - 1).bit_length()
    row_buffer = max(columns * strip_rows, columns * layout.samples_per_pixel * rounded_bits)
    held = TIFF_DECODER_BYTES + TIFF_ROW_BYTES_PER_PIXEL * row_buffer
    if layout.tile_width and layout.tile_length:
        tile = layout.tile_width * layout.tile_length * (pixel_bytes if layout.planar == 1 else sample_bytes)
        held += tile + columns * layout.tile_length * min(pixel_bytes, TIFF_TILE_ROW_BYTES_PER_PIXEL)
    else:
        extra = max(0, layout.samples_per_pixel - TIFF_COLOUR_SAMPLES.get(layout.photometric, 1))
        strip_pixel = pixel_bytes + TIFF_STRIP_BYTES_PER_PIXEL + extra * (sample_bytes + TIFF_EXTRA_SAMPLE_BYTES)
        held += columns * strip_rows * strip_pixel
    if layout.compression in TIFF_JPEG_COMPRESSIONS or layout.photometric in TIFF_RGBA_PHOTOMETRICS:
        held += TIFF_RGBA_BYTES_PER_PIXEL * columns * rows
    return held


def _decoder_bytes(pixels: int, plane_bytes: float) -> float:
    """What libheif and its decoder hold at their peak for `pixels` of `plane_bytes` bytes a pixel."""
    return pixels * (DECODER_BYTES_PER_PLANE_BYTE * plane_bytes + DECODER_BYTES_PER_PIXEL)


def _caches(source: SourceInfo, width: int, height: int) -> list[list[int]]:
    """The pixel caches (bytes) that preparing `source` at `width` x `height` holds at once, in
    the order they are taken, at each of its peaks: decoding (_decoding), with an AVIF's or HEIC's
    alpha plane (decoded on its own, then merged) and its turned copy; the decoded image and its
    sRGB copy, without an index channel (_converted); the decoded image and its oriented copy
    (_oriented); an animated WebP's first frame cut out of its canvas and placed on a new one; then,
    when it is resized, the decoded image, the resize's intermediate image (it
    filters one direction at a time) and the result, both without an index channel."""
    pixels = _decoded_pixels(source, width)
    decoding = _decoding(source, pixels)
    decoded = decoding[-1]
    peaks = [decoding + [decoded] * (2 if source.separate_alpha else 0)]
    if _converted(source):
        peaks.append([decoded, DIRECT_CACHE_BYTES_PER_PIXEL * pixels])
    if _oriented(source):
        peaks.append([*decoding, decoded])
    if source.placed_frame_pixels:  # cut out of the decoded canvas, then placed on a new one
        frame = DIRECT_CACHE_BYTES_PER_PIXEL * source.placed_frame_pixels
        peaks += [[decoded, frame], [frame, decoded]]
    if width >= source.width:
        return peaks
    intermediate = max(width * source.height, source.width * height)
    return [
        *peaks,
        [decoded, DIRECT_CACHE_BYTES_PER_PIXEL * intermediate, DIRECT_CACHE_BYTES_PER_PIXEL * width * height],
    ]


def _converted(source: SourceInfo) -> bool:
    """Whether the decoded image may be copied to be made sRGB before it is resized: unless it is
    decoded in sRGB without an index channel (see SRGB_FORMATS)."""
    return not (source.format in SRGB_FORMATS or source.png_colour_type in PNG_SRGB_COLOUR_TYPES)


def _oriented(source: SourceInfo) -> bool:
    """Whether the decoded image is copied to be oriented: by any orientation but the first (a flip
    or a turn by 180 degrees copies it too), or turned as libheif decodes it."""
    return source.reoriented or (source.width, source.height) != (source.stored_width, source.stored_height)


def _decoding(source: SourceInfo, pixels: int) -> list[int]:
    """The caches decoding `pixels` takes, the decoded image's last. RGB(A) PNGs, WebP, AVIF and
    HEIC decode without an index channel; a grey PNG is decoded so, then made a palette image while
    that is held (ImageMagick 6: a 64-megapixel grey PNG took 512 MB, then 640 more); a GIF's first
    frame, read at the size of the screen, is then placed on the screen (imaging._on_gif_screen);
    any other source may have one (palettes, CMYK)."""
    if source.format is SourceFormat.PNG and source.png_colour_type == PNG_GREY:
        return [DIRECT_CACHE_BYTES_PER_PIXEL * pixels, CACHE_BYTES_PER_PIXEL * pixels]
    if source.format is SourceFormat.GIF:  # the first frame (a palette), then placed on the screen
        return [CACHE_BYTES_PER_PIXEL * pixels, DIRECT_CACHE_BYTES_PER_PIXEL * pixels]
    direct = source.format in DIRECT_FORMATS or source.png_colour_type in PNG_DIRECT_COLOUR_TYPES
    return [(DIRECT_CACHE_BYTES_PER_PIXEL if direct else CACHE_BYTES_PER_PIXEL) * pixels]


def _fit_together(caches: list[int]) -> bool:
    """Whether caches of these sizes, taken in this order and held at once, fit the policy: each
    in memory if what is left there holds all of it, else memory-mapped, else on disk (ImageMagick
    never splits a cache: two of 600 MB do not fit 256 MiB of memory and 1 GiB of disk)."""
    left = [limits["memory"], limits["map"], limits["disk"]]
    for size in caches:
        resource = next((index for index, free in enumerate(left) if size <= free), None)
        if resource is None:
            return False
        left[resource] -= size
    return True


def _decoded_pixels(source: SourceInfo, width: int) -> int:
    """The pixels ImageMagick decodes: all of them, except for JPEGs, which libjpeg scales down
    by k/8 while decoding when the target `width` is much smaller (imaging.jpeg_size_hint)."""
    stored = source.stored_width * source.stored_height
    hint_width = width * JPEG_SIZE_HINT_MARGIN  # the width jpeg_size_hint asks for
    if source.format is not SourceFormat.JPEG or hint_width >= source.width:
        return stored
    denominator = source.width // hint_width  # ImageMagick asks for 1/denominator; libjpeg-turbo rounds up to k/8
    scale = min(math.ceil(8 / denominator), 8) / 8
    return math.ceil(source.stored_width * scale) * math.ceil(source.stored_height * scale)


def _largest_resize(source: SourceInfo, requested: RequestedFormat, *, transparent: bool) -> int | None:
    """The largest maxWidth under the image's own width at which affordable_format takes it (the
    caches and the result only grow with the width, so every smaller one passes too); None when
    not even 1 does."""
    low, high = 0, source.width - 1
    while low < high:
        middle = (low + high + 1) // 2
        if _accepted(source, requested, middle, transparent=transparent):
            low = middle
        else:
            high = middle - 1
    return low or None
