"""Preparation: a source's bytes decoded into the pixels every encoding starts from. No ORM, no
network.

    prepare(data, max_width=..., max_pixels=...)  -> PreparedImage   decoded, oriented, sRGB, 8-bit, resized

The source is sniffed, probed and read into ImageMagick by optimizer.probe: every decode names its
coder explicitly, so ImageMagick never guesses a format from the bytes, and runs under the project
policy (optimizer.magick). Profiles are read and applied with optimizer.colour. Encoding the pixels
is optimizer.encoders; deciding *which* encoding to return is optimizer.compression.
"""

import logging
from dataclasses import dataclass

import numpy as np

from optimizer.colour import (
    HDR_PEAK_NITS,
    HdrColour,
    MatrixShaperProfile,
    describes_samples,
    hdr_colour,
    hdr_to_srgb,
    heif_colour_profile,
    matrix_shaper_profile,
    png_colour_profile,
    png_hdr_colour,
    to_srgb,
)
from optimizer.formats import SourceFormat
from optimizer.magick import (
    SRGB_PROFILE,
    Color,
    Image,
    convert_to_srgb_profile,
    exceptions,
    new_image_reader,
    opaque,
    replace_alpha,
    replace_rows,
    replace_samples,
    rows_of,
    samples_of,
)
from optimizer.pixels import CHUNK_PIXELS, Pixels
from optimizer.probe import (
    UNDECODABLE,
    BmpAlpha,
    BmpPixels,
    HeifAlpha,
    SourceInfo,
    UnsupportedImage,
    bmp_32bit_pixels,
    defused,
    heif_alpha,
    heif_colour,
    probe,
    raise_imaging_error,
    read_source,
    shown_size,
    webp_first_frame_area,
)

logger = logging.getLogger(__name__)

# Large JPEGs are decoded at no less than this multiple of the target size: ImageMagick 6 asks
# libjpeg to scale by 1/floor(source / hint) while decoding (in the DCT, nearly free), and the
# Lanczos resize does the rest. A 5000x3000 photo for 1920 px is then decoded at 2500x1500
# (30 MB of pixel cache instead of 120 MB); with a margin of 2 it would not be scaled at all.
JPEG_SIZE_HINT_MARGIN = 1
RESIZE_FILTER = "lanczos"
# See _decoded_to_rgb: 8-bit neutral chroma at 16 bits, less ImageMagick's neutral.
HEIF_CHROMA_OFFSET = 128 * 257 - 65535 / 2


@dataclass(frozen=True)
class PreparedImage:
    """What every encoding starts from: the source decoded, oriented, in sRGB and resized."""

    pixels: Pixels
    source: SourceInfo


def _on_gif_screen(image: Image) -> None:
    """Place a GIF's first frame on its logical screen; browsers leave the rest transparent."""
    width, height = shown_size(image, SourceFormat.GIF)
    _, _, left, top = image.page
    if (width, height) != (image.width, image.height):
        image.background_color = Color("transparent")
        image.extent(width, height, x=-left, y=-top)
    image.reset_coords()


def _on_webp_canvas(image: Image, area: tuple[int, int, int, int]) -> None:
    """Show an animated WebP's first frame as browsers do: on its canvas, transparent where the
    frame does not cover it (ImageMagick 6 fills the rest opaque black)."""
    left, top, width, height = area
    if (left, top) == (0, 0) and width >= image.width and height >= image.height:
        return
    canvas = image.width, image.height
    image.alpha_channel = "activate"
    try:
        image.crop(left, top, width=min(width, canvas[0] - left), height=min(height, canvas[1] - top))
    except ValueError as error:
        # Wand's own check of a frame beyond the decoded canvas, which the probe refuses already
        # (webp_first_frame_area): damage, should the decoder ever disagree with the header.
        logger.info("a WebP frame beyond its canvas: %s", error)
        raise UnsupportedImage(UNDECODABLE) from error
    image.background_color = Color("transparent")
    image.extent(*canvas, x=-left, y=-top)
    image.reset_coords()


def fit_width(width: int, height: int, max_width: int) -> tuple[int, int]:
    """The size that fits `max_width` keeping the aspect ratio; never larger than the original."""
    if width <= max_width:
        return width, height
    return max_width, max(1, round(height * max_width / width))


def jpeg_size_hint(source: SourceInfo, width: int, height: int) -> str | None:
    """For a JPEG much larger than the target `width` x `height`, the size (as stored, before
    orientation) libjpeg may decode it down to: memory and time then follow the target, not the
    source."""
    if source.format is not SourceFormat.JPEG or width * JPEG_SIZE_HINT_MARGIN >= source.width:
        return None
    hint_width, hint_height = width * JPEG_SIZE_HINT_MARGIN, height * JPEG_SIZE_HINT_MARGIN
    if (source.width, source.height) != (source.stored_width, source.stored_height):
        hint_width, hint_height = hint_height, hint_width
    return f"{hint_width}x{hint_height}"


def prepare(data: bytes, *, max_width: int, max_pixels: int) -> PreparedImage:
    """Decode the source (first frame only) into the pixels every encoding starts from: EXIF
    orientation applied, converted to sRGB (through its ICC profile when it has one, CMYK too),
    8 bits per sample, metadata gone, and resized down to `max_width` with a Lanczos filter."""
    source = probe(data, max_pixels=max_pixels)
    width, height = fit_width(source.width, source.height, max_width)
    with new_image_reader(source.format.value) as image:
        size_hint = jpeg_size_hint(source, width, height)
        if size_hint:
            image.options["jpeg:size"] = size_hint
        read_source(image, defused(source.format, data))
        if source.separate_alpha:
            _add_alpha_plane(image, source.format, heif_alpha(data))
        try:
            if source.format is SourceFormat.GIF:
                _on_gif_screen(image)
            if source.format is SourceFormat.WEBP and (area := webp_first_frame_area(data)):
                _on_webp_canvas(image, area)
            if source.format is SourceFormat.BMP and (layout := bmp_32bit_pixels(data)):
                _bmp_alpha_as_chromium_reads_it(image, data, layout)
            if orientation := source.own_orientation:
                # Browsers orient a PNG by its eXIf chunk alone (ImageMagick by an orNT chunk of its
                # own), and a JPEG by a narrower reading of its EXIF than ImageMagick's.
                image.orientation = orientation
            # A matrix/TRC profile (Display P3, Adobe RGB: most photographs' that are not sRGB) is
            # applied to 8-bit samples in numpy, ~20x faster than LittleCMS in ImageMagick: last,
            # or before a resize, which must average in sRGB (the source's curve differs most in
            # dark detail). 16-bit samples keep their precision through LittleCMS.
            resized = (image.width, image.height) not in ((width, height), (height, width))
            implied = _implied_colour(source.format, data)
            if isinstance(implied, HdrColour):
                _tone_map_to_srgb(image, implied)
                deferred_profile = None
            else:
                deferred_profile = _convert_to_srgb(image, may_defer=image.depth <= 8, implied=implied)
            image.auto_orient()
            if deferred_profile and resized:
                _to_srgb_in_bands(image, deferred_profile)
                deferred_profile = None
            if (image.width, image.height) != (width, height):
                if image.alpha_channel and opaque(image):
                    # An alpha channel opaque everywhere (RGBA screenshots, often) weighs nothing: the
                    # resize gives the same pixels without it, averaging three channels instead of four
                    # (~15% less time; the test takes ~3 ms at 9 MP).
                    image.alpha_channel = False
                image.resize(width, height, filter=RESIZE_FILTER)
            if image.colorspace == "gray":
                # Grey to sRGB copies each sample to the three channels, as well after the resize as
                # before it, where it took a second cache of the source's size (a 90 MP grey TIFF ran
                # out of ImageMagick's).
                image.transform_colorspace("srgb")
            image.strip()
            image.depth = 8
            pixels = _pixels_of(image)
        except exceptions.WandException as error:
            raise_imaging_error(error, "to process a source")
    if deferred_profile:
        pixels = to_srgb(pixels, deferred_profile)
    return PreparedImage(pixels=pixels, source=source)


def _to_srgb_in_bands(image: Image, profile: MatrixShaperProfile) -> None:
    """`to_srgb` over the image's own pixels, CHUNK_PIXELS at a time: a source of any accepted
    size converts within a few megabytes."""
    rows = max(1, CHUNK_PIXELS // image.width)
    for top in range(0, image.height, rows):
        band = rows_of(image, top, min(rows, image.height - top), alpha=bool(image.alpha_channel))
        replace_rows(image, top, to_srgb(band, profile))


def _bmp_alpha_as_chromium_reads_it(image: Image, data: bytes, layout: BmpPixels) -> None:
    """Give a 32-bit BMP the alpha Chromium reads (probe.bmp_32bit_pixels). ImageMagick 6 takes a
    40-byte header's fourth byte for alpha when some pixel's is not 0, reads a 52-byte header's
    alpha mask from the pixels after it, and ignores a V4 or V5 header's alpha mask with BI_RGB:
    that alpha is read from the pixel array here (32-bit rows need no padding), CHUNK_PIXELS at a
    time."""
    if layout.alpha is BmpAlpha.NONE:
        image.alpha_channel = False
    if layout.alpha is not BmpAlpha.FOURTH_BYTE:
        return
    width, height = image.width, image.height
    if len(data) < layout.offset + 4 * width * height:
        # ImageMagick refuses a pixel array cut short first; this guards the read should it not.
        raise UnsupportedImage(UNDECODABLE)
    alpha = np.frombuffer(data, np.uint8, 4 * width * height, layout.offset).reshape(height, width, 4)[..., 3]
    if not layout.top_down:
        alpha = alpha[::-1]  # the bottom row first
    image.alpha_channel = "activate"
    rows = max(1, CHUNK_PIXELS // width)
    for top in range(0, height, rows):
        replace_alpha(image, top, alpha[top : top + rows])


def _add_alpha_plane(image: Image, format: SourceFormat, plane: HeifAlpha) -> None:
    """Give `image`, an AVIF's or HEIC's colour planes as decoded, its alpha plane (probe.heif_alpha;
    its size was checked with the colour's), turned and mirrored as libheif did the colour planes;
    premultiplied colour divided by it, as libavif and browsers do (on the RGB the file encodes:
    under a low alpha the colour is known only coarsely, 255/alpha levels a step)."""
    with new_image_reader(format.value) as alpha:
        read_source(alpha, plane.copy)
        try:
            for kind, value in plane.turns:
                if kind == b"irot":
                    alpha.rotate(-90 * value)  # anticlockwise
                elif value:
                    alpha.flop()  # left and right exchanged
                else:
                    alpha.flip()
            alpha.reset_coords()
            alpha.transform_colorspace("gray")  # decoded as YCbCr with neutral chroma: Y is the alpha
            if plane.premultiplied:
                _decoded_to_rgb(image)
                image.composite(alpha, operator="divide_src")  # the image over the alpha, each clipped to 1
            image.composite(alpha, operator="copy_opacity")
        except exceptions.WandException as error:
            raise_imaging_error(error, "to read an alpha plane")


def _decoded_to_rgb(image: Image) -> None:
    """An AVIF's or HEIC's colour planes, which ImageMagick keeps as decoded (YCbCr), as RGB.
    libheif hands ImageMagick 6 8-bit chroma, neutral at 128 (128 x 257 at 16 bits), where
    ImageMagick's conversion takes neutral to be half its range: without the offset taken off,
    greys would come out magenta by 1-2 levels (and by up to 8 through PQ's steep curve)."""
    if image.colorspace == "ycbcr":
        for chroma in ("green", "blue"):  # Cb and Cr
            image.evaluate("subtract", HEIF_CHROMA_OFFSET, channel=chroma)
        image.transform_colorspace("srgb")


def _implied_colour(format: SourceFormat, data: bytes) -> bytes | HdrColour | None:
    """The colour of tags ImageMagick does not read, which takes precedence over any profile it
    read: an HDR transfer (PQ, HLG) of a PNG's cICP or an AVIF's or HEIC's nclx, or an ICC profile:
    what a PNG's colour chunks stand for, sRGB's where they say nothing else (our reader of them
    decides, not ImageMagick's); an AVIF's or HEIC's ICC profile, else what its nclx primaries and
    transfer stand for."""
    if format is SourceFormat.PNG:
        return png_hdr_colour(data) or png_colour_profile(data) or SRGB_PROFILE
    if format not in (SourceFormat.AVIF, SourceFormat.HEIC):
        return None
    colour = heif_colour(data)
    if colour.icc_profile or colour.primaries is None:
        return colour.icc_profile
    # Chromium tone-maps to a clli box's peak; it ignores an mdcv box (measured on AVIFs).
    hdr = hdr_colour(colour.primaries, colour.transfer, peak_nits=colour.peak_nits or HDR_PEAK_NITS)
    return hdr or heif_colour_profile(colour.primaries, colour.transfer)


def _tone_map_to_srgb(image: Image, colour: HdrColour) -> None:
    """An HDR source's pixels tone-mapped to sRGB as Chromium shows them (colour.hdr_to_srgb), at
    16 bits, CHUNK_PIXELS at a time; alpha untouched. Any ICC profile it carries goes unused, as in
    Chromium (a PNG's cICP takes precedence; an AVIF's profile would have been read in place of its
    nclx)."""
    _decoded_to_rgb(image)
    rows = max(1, CHUNK_PIXELS // image.width)
    for top in range(0, image.height, rows):
        replace_samples(image, top, hdr_to_srgb(samples_of(image, top, min(rows, image.height - top)), colour))


def _convert_to_srgb(image: Image, *, may_defer: bool, implied: bytes | None = None) -> "MatrixShaperProfile | None":
    """Convert the image to sRGB through its ICC profile or, in its place, the `implied` one (which
    takes precedence: see _implied_colour), if that profile describes its samples (as browsers,
    ignoring one that does not), except, when `may_defer`, from a matrix/TRC RGB profile (other
    than sRGB): that one is returned, for `to_srgb` to apply to the final 8-bit pixels."""
    _decoded_to_rgb(image)  # a profile describes an AVIF's or HEIC's RGB
    data = image.profiles["icc"]  # None when there is none (`in` is always true for Wand's profiles)
    if implied:
        image.profiles["icc"] = data = implied
    if data and not describes_samples(data, colorspace=image.colorspace):
        logger.info("ignoring an ICC profile of class %r and colour space %r", data[12:16], data[16:20])
        data = None  # shown as sRGB; CMYK converted as without a profile
    profile = matrix_shaper_profile(data) if data else None
    if profile and profile.is_srgb:
        data = None  # converting would change nothing
    elif may_defer and profile and image.colorspace == "srgb":
        return profile
    if data:
        try:
            convert_to_srgb_profile(image)
        except exceptions.WandException as error:
            logger.info("ignoring an unusable embedded ICC profile: %s", error)
    if image.colorspace not in ("srgb", "gray"):  # grey: after the resize (prepare)
        image.transform_colorspace("srgb")
    return None


def _pixels_of(image: Image) -> Pixels:
    """Export 8-bit samples, with alpha only when some pixel is not fully opaque: an image opaque
    everywhere goes straight to RGB (0.74-0.89x the preparation's time for the corpora's opaque
    RGBA PNGs that need no resize); otherwise its 8-bit alpha decides (an alpha just short of
    opaque is 255 there)."""
    width, height = image.width, image.height
    if image.alpha_channel and not opaque(image):
        rgba = image.make_blob("RGBA")
        if rgba[3::4].strip(b"\xff"):
            return Pixels(data=rgba, width=width, height=height, has_alpha=True)
        image.alpha_channel = False
    return Pixels(data=image.make_blob("RGB"), width=width, height=height, has_alpha=False)
