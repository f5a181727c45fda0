"""Colour management in numpy: the ICC maths ImageMagick 6 leaves out or does slowly. Reading
matrix/TRC RGB profiles (primaries and tone curves), the profile a PNG's colour chunks (cICP,
iCCP, sRGB, gAMA and cHRM) or an AVIF's nclx colour stand for (as Chromium reads them),
converting 8-bit pixels to sRGB as LittleCMS would, and tone-mapping HDR sources (PQ, HLG) to sRGB
as Chromium shows them.
"""

import functools
import math
import struct
import zlib
from dataclasses import dataclass

import cv2
import numpy as np

from optimizer.magick import LINEAR_GREY_COLORSPACE, SRGB_PROFILE
from optimizer.pixels import CHUNK_PIXELS, Pixels
from optimizer.probe import png_metadata_chunks


@dataclass(frozen=True, repr=False)
class MatrixShaperProfile:
    """What LittleCMS uses of an RGB profile made of three primaries and three tone curves
    ("matrix/TRC" or "matrix-shaper"): Adobe RGB, Display P3 and nearly all camera and display
    profiles."""

    colorants: np.ndarray  # 3x3: the (D50) XYZ of the red, green and blue primaries, as columns
    to_linear: np.ndarray  # 3x256 float32: each channel's 8-bit values in linear light

    @property
    def is_srgb(self) -> bool:
        """sRGB itself, within rounding: most camera and editor files carry one ("sRGB
        IEC61966-2.1", "GIMP built-in sRGB"), and converting through it would change nothing."""
        return bool(
            np.abs(self.colorants - _SRGB.colorants).max() <= 0.002
            and np.abs(self.to_linear - _SRGB.to_linear).max() <= 0.002
        )


# The profile classes that say what an image's samples stand for: input device, display, output
# device (CMYK, mostly) and colour space. A device link, abstract or named colour profile does not
# (Firefox's qcms refuses them; Chromium goes by the colour space alone).
_IMAGE_PROFILE_CLASSES = frozenset({b"scnr", b"mntr", b"prtr", b"spac"})
# The data colour spaces a profile may have for each colour model ImageMagick decodes into, as in
# Chromium's JPEG, PNG and AVIF decoders: a grey image's may be RGB (its grey read as R = G = B).
_PROFILE_SPACES = {
    "srgb": frozenset({b"RGB "}),
    "rgb": frozenset({b"RGB "}),  # a PNG with a gAMA of 1
    "cmyk": frozenset({b"CMYK"}),  # YCCK JPEGs too: libjpeg gives CMYK
    "gray": frozenset({b"GRAY", b"RGB "}),
    LINEAR_GREY_COLORSPACE: frozenset({b"GRAY", b"RGB "}),
}


def describes_samples(profile: bytes, *, colorspace: str) -> bool:
    """Whether `profile` (its header) can say what the samples of an image ImageMagick decoded
    into `colorspace` stand for. Browsers ignore any other profile and show the samples as they
    are, where ImageMagick 6 applies it whatever its colour space: an RGB image through a grey
    profile came out grey."""
    return profile[12:16] in _IMAGE_PROFILE_CLASSES and profile[16:20] in _PROFILE_SPACES.get(colorspace, ())


# Tags LittleCMS prefers to the matrix and tone curves when a profile has them.
_LUT_TAGS = frozenset({b"A2B0", b"A2B1", b"A2B2", b"D2B0", b"D2B1", b"D2B2"})
_MATRIX_SHAPER_TAGS = frozenset({b"rXYZ", b"gXYZ", b"bXYZ", b"rTRC", b"gTRC", b"bTRC"})
_READ_TAGS = _LUT_TAGS | _MATRIX_SHAPER_TAGS
_CODES = np.arange(256) / 255


def matrix_shaper_profile(profile: bytes) -> MatrixShaperProfile | None:
    """The primaries and tone curves of a matrix/TRC RGB profile; None for any other (LUT-based,
    grey, CMYK, Lab connection space) and for one that cannot be parsed."""
    if profile[16:24] != b"RGB XYZ ":  # the data colour space, then the connection space
        return None
    try:
        # Views, not copies, of the tags read: a crafted profile's table lists thousands of tags,
        # each as large as the profile (2 GB for a 512 kB one, copied).
        tags = {}
        view = memoryview(profile)
        (count,) = struct.unpack_from(">I", profile, 128)
        for index in range(count):
            signature, offset, size = struct.unpack_from(">4sII", profile, 132 + 12 * index)
            if signature in _READ_TAGS:
                tags[signature] = view[offset : offset + size]
        if tags.keys() & _LUT_TAGS:
            return None
        colorants = [struct.unpack_from(">3i", tags[signature], 8) for signature in (b"rXYZ", b"gXYZ", b"bXYZ")]
        with np.errstate(all="ignore"):  # absurd parameters give inf or nan, refused below
            to_linear = np.array([_tone_curve(tags[signature], _CODES) for signature in (b"rTRC", b"gTRC", b"bTRC")])
    except (KeyError, struct.error, ValueError):
        return None
    if not np.isfinite(to_linear).all():
        return None
    return MatrixShaperProfile(colorants=np.array(colorants).T / 65536, to_linear=to_linear.astype(np.float32))


def _tone_curve(tag: bytes, x: np.ndarray) -> np.ndarray:
    """An ICC tone curve ('curv' table or gamma, 'para' function 0, 3 or 4) at x in [0, 1]."""
    if tag[:4] == b"curv":
        (count,) = struct.unpack_from(">I", tag, 8)
        if count == 0:
            return x
        if count == 1:
            return x ** (struct.unpack_from(">H", tag, 12)[0] / 256)
        table = np.frombuffer(tag, dtype=">u2", count=count, offset=12) / 65535
        return np.interp(x, np.linspace(0, 1, count), table)
    if tag[:4] == b"para":
        (function,) = struct.unpack_from(">H", tag, 8)
        arity = {0: 1, 3: 5, 4: 7}[function]  # KeyError for the others: rare, left to ImageMagick
        parameters = [value / 65536 for value in struct.unpack_from(f">{arity}i", tag, 12)]
        g, a, b, c, d, e, f = parameters + [0.0] * (7 - arity)
        if function == 0:
            return x**g
        return np.where(x >= d, np.maximum(a * x + b, 0) ** g + e, c * x + f)
    raise ValueError("unknown tone curve type")


_SRGB = matrix_shaper_profile(SRGB_PROFILE)

# --- PNG colour chunks --------------------------------------------------------------------------

# Chromium reads a gAMA within 5% of 1/2.2, without cHRM, as plain sRGB (Skia, after libpng).
NEUTRAL_PNG_GAMMA = (0.95 / 2.2, 1.05 / 2.2)
_D50 = np.array([0.9642, 1.0, 0.8249])
_BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])


def png_colour_profile(data: bytes) -> bytes | None:
    """The ICC profile a PNG's colour chunks stand for, read as Chromium reads them (intact chunks
    before the image data: probe.png_metadata_chunks), to be applied in place of any profile
    ImageMagick read: a cICP chunk Chromium honours takes precedence over every other (sRGB's
    included), then the first iCCP chunk's profile, then an sRGB chunk; cHRM counts only with gAMA,
    and a gAMA near 1/2.2 alone is sRGB. None where the chunks say sRGB (or nothing, or nothing
    Chromium honours). ImageMagick 6 ignores cICP, gAMA and cHRM, but for marking a gAMA of 1.0 as
    linear, and its libpng weighs iCCP unlike Chromium: it refuses an RGB profile on a grey PNG and
    an iCCP after sRGB or PLTE, and uses a second one, or one whose CRC is wrong."""
    chunks = _png_colour_chunks(data)
    grey = chunks.get(b"IHDR", b"")[9:10] in (b"\0", b"\4")  # colour types 0 and 4
    cicp = chunks.get(b"cICP", b"")
    if len(cicp) == 4 and (profile := _png_cicp_profile(*cicp, grey=grey)):
        return profile
    if b"iCCP" in chunks and (profile := _png_icc_profile(chunks[b"iCCP"])):
        return profile
    if b"sRGB" in chunks or len(chunks.get(b"gAMA", b"")) != 4:
        return None
    gamma = int.from_bytes(chunks[b"gAMA"], "big") / 100_000
    chromaticities = chunks.get(b"cHRM", b"")
    if len(chromaticities) == 32:
        colorants = _colorants(struct.unpack(">8I", chromaticities))
    elif NEUTRAL_PNG_GAMMA[0] < gamma < NEUTRAL_PNG_GAMMA[1]:
        return None
    else:
        colorants = _SRGB.colorants
    if not gamma or colorants is None:
        return None  # as Chromium does with a zero gamma or a cHRM that makes no colour space
    return _gamma_profile(1 / gamma, None if grey else colorants)


_PNG_COLOUR_CHUNKS = frozenset({b"IHDR", b"cICP", b"iCCP", b"sRGB", b"gAMA", b"cHRM", b"cLLI", b"mDCV"})
# libpng's bound on a decompressed chunk (so what ImageMagick 6 read): a few kilobytes of iCCP may
# inflate to gigabytes.
MAX_ICC_PROFILE_BYTES = 8_000_000


def _png_colour_chunks(data: bytes) -> dict[bytes, bytes]:
    """The contents of a PNG's colour chunks (the first intact one of each kind)."""
    chunks: dict[bytes, bytes] = {}
    for kind, contents in png_metadata_chunks(data, _PNG_COLOUR_CHUNKS):
        chunks.setdefault(kind, contents)
    return chunks


def _png_icc_profile(iccp: bytes) -> bytes | None:
    """The profile an iCCP chunk holds (a name, then compression method 0 and zlib data); None if
    it holds none that can be read, whereupon Chromium goes by the chunks after it in precedence."""
    name_end = iccp.find(b"\0")
    if name_end < 0 or iccp[name_end + 1 : name_end + 2] != b"\0":
        return None
    inflater = zlib.decompressobj()
    try:
        profile = inflater.decompress(iccp[name_end + 2 :], MAX_ICC_PROFILE_BYTES)
    except zlib.error:
        return None
    return profile if inflater.eof and profile[36:40] == b"acsp" else None  # the profile's signature


def png_hdr_colour(data: bytes) -> "HdrColour | None":
    """The HDR colour of a PNG's cICP chunk (a PQ or HLG transfer), where Chromium honours the
    chunk (RGB's matrix, full range): it then takes precedence over an iCCP chunk. Its peak is
    the cLLI chunk's MaxCLL or, where that is missing or 0, the mDCV chunk's mastering display
    peak, as Chromium takes them."""
    chunks = _png_colour_chunks(data)
    cicp = chunks.get(b"cICP", b"")
    if len(cicp) != 4:
        return None
    primaries, transfer, matrix, full_range = cicp
    if matrix != 0 or full_range != 1:
        return None
    light_level, mastering = chunks.get(b"cLLI", b""), chunks.get(b"mDCV", b"")
    # Both in units of 0.0001 cd/m2: cLLI's MaxCLL first, mDCV's peak after its 8 chromaticities.
    peaks = [struct.unpack(">I", light_level[:4])[0] if len(light_level) == 8 else 0]
    peaks.append(struct.unpack(">I", mastering[16:20])[0] if len(mastering) == 24 else 0)
    peak = next((peak / 10_000 for peak in peaks if peak), HDR_PEAK_NITS)
    return hdr_colour(primaries, transfer, peak_nits=peak)


def _png_cicp_profile(primaries: int, transfer: int, matrix: int, full_range: int, *, grey: bool) -> bytes | None:
    """The profile of a PNG's cICP chunk (ITU-T H.273 code points), as Chromium 156 shows it
    (Skia's reading, unlike its AVIF decoder's: BT.709's transfer is a 2.4 gamma); None where it
    ignores the chunk (unspecified or unknown code points, narrow range; a matrix other than RGB's,
    which the PNG specification forbids, it refuses to decode) and for what is not honoured here:
    HDR transfers (PQ, HLG) and SMPTE 428's. sRGB's stands for sRGB's profile: it too takes
    precedence over an iCCP chunk."""
    curve = _PNG_CICP_TRANSFERS.get(transfer)
    if matrix != 0 or full_range != 1 or primaries not in _CICP_PRIMARIES or curve is None:
        return None
    if primaries == 1 and curve == _SRGB_CURVE and not grey:
        return SRGB_PROFILE
    return _profile(curve, None if grey else _cicp_colorants(primaries))


def _colorants(chromaticities: tuple[int, ...]) -> np.ndarray | None:
    """The D50 XYZ of the primaries a cHRM chunk names (white, red, green, blue; each x and y
    times 100,000), as columns, Bradford-adapted as ICC profiles are; None if they make no
    colour space an ICC profile can hold."""
    xy = np.array(chromaticities, dtype=float).reshape(4, 2) / 100_000
    if (xy[:, 1] <= 0).any():
        return None
    white, *primaries = (np.array([x / y, 1.0, (1 - x - y) / y]) for x, y in xy)
    primaries = np.column_stack(primaries)
    if abs(np.linalg.det(primaries)) < 1e-9:
        return None
    to_xyz = primaries * np.linalg.solve(primaries, white)  # scaled so that R = G = B = 1 is the white
    adaptation = np.linalg.inv(_BRADFORD) @ np.diag(_BRADFORD @ _D50 / (_BRADFORD @ white)) @ _BRADFORD
    colorants = adaptation @ to_xyz
    return colorants if np.isfinite(colorants).all() and np.abs(colorants).max() < 32768 else None  # s15Fixed16


def _gamma_profile(exponent: float, colorants: np.ndarray | None) -> bytes | None:
    """A minimal ICC v2 display profile: samples decoded as x ** exponent, through `colorants`
    (3x3, D50, as columns) or, without them, grey. None for an exponent a profile cannot hold."""
    if not 0 < round(exponent * 256) < 65536:
        return None
    return _profile(_gamma_curve(exponent), colorants)


def _gamma_curve(exponent: float) -> bytes:
    """x ** exponent as an ICC tone curve: a one-entry curve holds the exponent as u8Fixed8."""
    return b"curv\0\0\0\0" + struct.pack(">IH2x", 1, round(exponent * 256))


def _parametric_curve(gamma: float, a: float, b: float, c: float, d: float) -> bytes:
    """An ICC parametric curve (function 3): (a x + b) ** gamma from x = d up, c x below."""
    return b"para\0\0\0\0" + struct.pack(">H2x5i", 3, *(round(value * 65536) for value in (gamma, a, b, c, d)))


_SRGB_CURVE = _parametric_curve(2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)
_SMPTE_240M_CURVE = _parametric_curve(1 / 0.45, 1 / 1.1115, 0.1115 / 1.1115, 1 / 4, 4 * 0.0228)


def _profile(curve: bytes, colorants: np.ndarray | None) -> bytes:
    """A minimal ICC v2 display profile: samples decoded by the tone curve tag `curve`, through
    `colorants` (3x3, D50, as columns) or, without them, grey."""

    def xyz(values: np.ndarray) -> bytes:
        return b"XYZ \0\0\0\0" + struct.pack(">3i", *(round(value * 65536) for value in values))

    tags = {b"wtpt": xyz(_D50)}
    if colorants is None:
        tags[b"kTRC"] = curve
    else:
        tags |= dict(zip((b"rXYZ", b"gXYZ", b"bXYZ"), map(xyz, colorants.T), strict=True))
        tags |= {b"rTRC": curve, b"gTRC": curve, b"bTRC": curve}
    table, body = b"", b""
    for name, tag in tags.items():
        table += struct.pack(">4sII", name, 128 + 4 + 12 * len(tags) + len(body), len(tag))
        body += tag
    size = 128 + 4 + len(table) + len(body)
    colour_space = b"GRAY" if colorants is None else b"RGB "
    header = struct.pack(">I4sI4s4s4s12s4s24xI", size, b"", 0x02100000, b"mntr", colour_space, b"XYZ ", b"", b"acsp", 0)
    return (header + xyz(_D50)[8:]).ljust(128, b"\0") + struct.pack(">I", len(tags)) + table + body


# --- AVIF and HEIC colour (nclx) --------------------------------------------------------------

# ITU-T H.273 colour primaries: white, red, green and blue (x, y).
_D65, _ILLUMINANT_C = (0.3127, 0.3290), (0.310, 0.316)
_CICP_PRIMARIES = {
    1: (_D65, (0.64, 0.33), (0.30, 0.60), (0.15, 0.06)),  # BT.709, sRGB's
    4: (_ILLUMINANT_C, (0.67, 0.33), (0.21, 0.71), (0.14, 0.08)),  # BT.470 System M
    5: (_D65, (0.64, 0.33), (0.29, 0.60), (0.15, 0.06)),  # BT.470 B/G
    6: (_D65, (0.630, 0.340), (0.310, 0.595), (0.155, 0.070)),  # BT.601 525 lines
    7: (_D65, (0.630, 0.340), (0.310, 0.595), (0.155, 0.070)),  # SMPTE 240M, the same
    8: (_ILLUMINANT_C, (0.681, 0.319), (0.243, 0.692), (0.145, 0.049)),  # generic film
    9: (_D65, (0.708, 0.292), (0.170, 0.797), (0.131, 0.046)),  # BT.2020
    11: ((0.314, 0.351), (0.680, 0.320), (0.265, 0.690), (0.150, 0.060)),  # DCI-P3
    12: (_D65, (0.680, 0.320), (0.265, 0.690), (0.150, 0.060)),  # Display P3
    22: (_D65, (0.630, 0.340), (0.295, 0.605), (0.155, 0.077)),  # EBU Tech. 3213
}
# ITU-T H.273 transfer characteristics as Chromium 156 shows them, as ICC tone curves: its AVIF
# decoder shows BT.709's, BT.601's and BT.2020's (1, 6, 14, 15) with the sRGB curve (13), as an
# unspecified one (2); its PNG decoder (Skia's) shows them as a 2.4 gamma and ignores the
# unspecified. 4 and 5 are pure gammas, 7 SMPTE 240M's curve, 8 linear light.
_COMMON_TRANSFERS = {
    4: _gamma_curve(2.2),
    5: _gamma_curve(2.8),
    7: _SMPTE_240M_CURVE,
    8: _gamma_curve(1.0),
    13: _SRGB_CURVE,
}
_NCLX_TRANSFERS = _COMMON_TRANSFERS | dict.fromkeys((1, 2, 6, 14, 15), _SRGB_CURVE)
_PNG_CICP_TRANSFERS = _COMMON_TRANSFERS | dict.fromkeys((1, 6, 14, 15), _gamma_curve(2.4))


def heif_colour_profile(primaries: int, transfer: int) -> bytes | None:
    """The ICC profile an AVIF's or HEIC's nclx colour (probe.heif_colour) stands for, as Chromium
    reads it. None for sRGB's (and unspecified) and for what is not honoured: HDR transfers (PQ,
    HLG), SMPTE 428's, and primaries not in H.273's table (XYZ's among them)."""
    primaries = 1 if primaries == 2 else primaries  # unspecified
    curve = _NCLX_TRANSFERS.get(transfer)
    if primaries not in _CICP_PRIMARIES or curve is None or (primaries == 1 and curve == _SRGB_CURVE):
        return None
    return _profile(curve, _cicp_colorants(primaries))


def _cicp_colorants(primaries: int) -> np.ndarray | None:
    return _colorants(tuple(round(value * 100_000) for point in _CICP_PRIMARIES[primaries] for value in point))


def _srgb_lut(steps: int, dtype: type[np.unsignedinteger]) -> np.ndarray:
    """Linear light in `steps` even steps from 0 to 1, encoded as sRGB samples of `dtype` (8 or 16
    bits). Near black one 8-bit level spans 1/3300 of linear light, so the steps must be finer
    than that."""
    linear = np.linspace(0, 1, steps)
    encoded = np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)
    return np.rint(encoded * np.iinfo(dtype).max).astype(dtype)


_SRGB_STEPS = 65536
_LINEAR_TO_SRGB = _srgb_lut(_SRGB_STEPS, np.uint8)


def to_srgb(pixels: Pixels, profile: MatrixShaperProfile) -> Pixels:
    """`pixels` read through `profile`, converted to sRGB the way LittleCMS converts between
    matrix/TRC profiles (relative colorimetric, out-of-gamut colours clipped), alpha untouched:
    ~8 ns a pixel (alpha: ~15), where ImageMagick 6 takes ~185. OpenCV does the tone curves' lookup
    and the matrix, straight to the steps of the sRGB encoding's table."""
    to_steps = (np.linalg.inv(_SRGB.colorants) @ profile.colorants) * (_SRGB_STEPS - 1)
    rounded = np.hstack([to_steps, np.full((3, 1), 0.5)]).astype(np.float32)  # + 0.5: truncation rounds
    curves = np.ascontiguousarray(profile.to_linear.T).reshape(1, 256, 3)
    channels = len(pixels.layout)
    samples = np.frombuffer(pixels.data, np.uint8).reshape(-1, 1, channels)
    converted = samples.copy() if pixels.has_alpha else np.empty_like(samples)
    for start in range(0, len(samples), CHUNK_PIXELS):
        chunk = samples[start : start + CHUNK_PIXELS]
        rgb = cv2.cvtColor(chunk, cv2.COLOR_RGBA2RGB) if pixels.has_alpha else chunk
        steps = cv2.transform(cv2.LUT(rgb, curves), rounded)
        np.clip(steps, 0, _SRGB_STEPS - 1, out=steps)
        converted[start : start + CHUNK_PIXELS, :, :3] = np.take(_LINEAR_TO_SRGB, steps.astype(np.uint16))
    return Pixels(data=converted.tobytes(), width=pixels.width, height=pixels.height, has_alpha=pixels.has_alpha)


# --- HDR sources: PQ and HLG, tone-mapped as Chromium 156 shows them ---------------------------
#
# Chromium tone-maps an HDR image for an SDR canvas with Skia's reference white tone mapping
# operator (RWTMO) of SMPTE ST 2094-50 (draft 2, annex D), and so do we, exactly: in BT.2020's
# linear light, every channel of a pixel by one gain, from its largest channel's light x (in
# BT.2408's reference whites, 203 cd/m2), to the content's peak: a PNG's cLLI (MaxCLL), else its
# mDCV (the mastering display's); an AVIF's clli (its mdcv ignored); else 1,000 cd/m2. Up to the
# reference white, x is shown at `white` x of the canvas' full light, where white falls with the
# peak's logarithm from 1 (a peak of 203 cd/m2) to 1/2 (1,000 cd/m2 and above); from there a
# quadratic Bezier curve rolls off to full light at the peak, sampled at 8 points as a log gain
# that a cubic Hermite spline interpolates (over a wide range the spline dips: at 10,000 cd/m2
# 1.5 reference whites are shown brighter than 2). A peak at or under the reference white is no
# tone mapping at all. HLG is first made display light as BT.2100's reference display of
# 1,000 cd/m2 shows it (system gamma 1.2). Checked in Debian's Chromium 156 headless (an 8-bit
# canvas; every 10-bit grey and 1,024 random 10-bit colours as 16-bit PNGs, PQ and HLG, BT.709
# and BT.2020 primaries, content peaks of none and 400 to 10,000 cd/m2): within a level, but for
# saturated BT.2020 PQ colours outside sRGB's gamut (up to 6 levels: clipped otherwise).

PQ_TRANSFER, HLG_TRANSFER = 16, 18
SDR_WHITE_NITS = 203.0  # BT.2408's reference white
HDR_PEAK_NITS = 1000.0  # the peak of sources without one; HLG's reference display peak
HLG_SYSTEM_GAMMA = 1.2
# The RWTMO's constants (ST 2094-50 annex D): the peak at which the reference white is shown at
# half light, the Bezier curve's kappa, and how many points sample it.
_HALF_WHITE_PEAK = 1000.0 / SDR_WHITE_NITS
_ROLL_OFF_KAPPA = 0.65
_ROLL_OFF_POINTS = 8
_TONE_MAP_STEPS = 4096  # the table's (see _tone_map_table)
_BT2020_LUMA = np.array([0.2627, 0.6780, 0.0593], dtype=np.float32)


def _pq_to_nits(signal: np.ndarray) -> np.ndarray:
    """SMPTE ST 2084's EOTF: PQ signal in [0, 1] -> cd/m2."""
    m1, m2, c1, c2, c3 = 2610 / 16384, 2523 / 4096 * 128, 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
    power = signal ** (1 / m2)
    return 10_000 * (np.maximum(power - c1, 0) / (c2 - c3 * power)) ** (1 / m1)


def _hlg_to_scene_light(signal: np.ndarray) -> np.ndarray:
    """BT.2100's inverse HLG OETF: signal in [0, 1] -> scene light in [0, 1]."""
    a, b, c = 0.17883277, 0.28466892, 0.55991073
    return np.where(signal <= 0.5, signal**2 / 3, (np.exp((signal - c) / a) + b) / 12)


_CODES_16 = np.arange(65536) / 65535
_TO_LIGHT = {
    PQ_TRANSFER: _pq_to_nits(_CODES_16).astype(np.float32),
    HLG_TRANSFER: _hlg_to_scene_light(_CODES_16).astype(np.float32),
}
_LINEAR_TO_SRGB_16 = _srgb_lut(_SRGB_STEPS, np.uint16)
_BT2020 = _cicp_colorants(9)


@dataclass(frozen=True, repr=False)
class HdrColour:
    """An HDR source's colour: a PQ or HLG transfer (ITU-T H.273) over primaries, as the matrix
    from their linear light to BT.2020's."""

    transfer: int
    to_bt2020: np.ndarray  # 3x3
    peak_nits: float = HDR_PEAK_NITS  # the content's brightest light, shown at the canvas' full light


def hdr_colour(primaries: int, transfer: int, *, peak_nits: float = HDR_PEAK_NITS) -> HdrColour | None:
    """The HDR colour of these ITU-T H.273 code points, peaking at `peak_nits`; None for an SDR
    transfer and for primaries not in H.273's table (unspecified ones are BT.709's, as for SDR)."""
    primaries = 1 if primaries == 2 else primaries
    colorants = _cicp_colorants(primaries) if primaries in _CICP_PRIMARIES else None
    if transfer not in _TO_LIGHT or colorants is None:
        return None
    to_bt2020 = np.linalg.inv(_BT2020) @ colorants
    return HdrColour(transfer=transfer, to_bt2020=to_bt2020, peak_nits=peak_nits)


def _roll_off(peak: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The RWTMO's gain curve for a content peak (in reference whites, over 1) on an SDR target:
    its points' light x, log2 gain and the gain's slope (ST 2094-50 formulas D.2 to D.5)."""
    white = 1 - 0.5 * min(math.log(peak) / math.log(_HALF_WHITE_PEAK), 1)  # where the reference white is shown
    # The Bezier curve from the reference white (1, white) to the peak at full light (peak, 1).
    middle = np.array([1 - _ROLL_OFF_KAPPA + _ROLL_OFF_KAPPA / white, (1 - _ROLL_OFF_KAPPA) * white + _ROLL_OFF_KAPPA])
    start, end = np.array([1, white]), np.array([peak, 1])
    a, b = start - 2 * middle + end, 2 * (middle - start)
    t = np.linspace(0, 1, _ROLL_OFF_POINTS)[:, None]
    (x, y), (dx, dy) = (start + t * (b + t * a)).T, (2 * a * t + b).T
    return x, np.log2(y / x), (x * dy / dx - y) / (math.log(2) * x * y)


@functools.lru_cache(maxsize=16)
def _tone_map_table(peak: float) -> np.ndarray:
    """The RWTMO as a table: the fractions of the canvas' full light shown of _TONE_MAP_STEPS + 1
    lights evenly from 0 to a content peak (in reference whites, over 1), or to PQ's top if the
    peak claims more. Interpolating in it takes ~1/30 of the time of evaluating the spline per
    pixel, and stays within 2e-5 of it."""
    x, gain, slope = _roll_off(peak)
    light = np.linspace(0, _table_top(peak), _TONE_MAP_STEPS + 1)
    at = np.maximum(light, 1)  # below the first point (the reference white), the first point's gain
    i = np.clip(np.searchsorted(x, at, side="right") - 1, 0, len(x) - 2)
    width = x[i + 1] - x[i]
    t = (at - x[i]) / width
    start_slope, end_slope = slope[i] * width, slope[i + 1] * width
    cubic = (2 * gain[i] + start_slope - 2 * gain[i + 1] + end_slope) * t
    cubic = (cubic - 3 * gain[i] + 3 * gain[i + 1] - 2 * start_slope - end_slope) * t
    log_gain = (cubic + start_slope) * t + gain[i]
    return (light * np.exp2(log_gain)).astype(np.float32)


def _table_top(peak: float) -> float:
    # No light is brighter than PQ's top, 10,000 cd/m2 (HLG's display light: 1,000).
    return min(peak, 10_000 / SDR_WHITE_NITS)


def _tone_mapped(light: np.ndarray, *, peak: float) -> np.ndarray:
    """Light in reference whites, under a content peak in reference whites, as a fraction of the
    canvas' full light (see above); over 1 where nothing is tone-mapped, to be clipped."""
    if peak <= 1:
        return light
    curve, top = _tone_map_table(peak), _table_top(peak)
    # Beyond the peak, the peak's full light; in between, linear between the table's two steps.
    steps = np.minimum(light, np.float32(top)) * np.float32(_TONE_MAP_STEPS / top)
    below = np.minimum(steps.astype(np.int32), _TONE_MAP_STEPS - 1)
    low = curve[below]
    return low + (steps - below.astype(np.float32)) * (curve[below + 1] - low)


def hdr_to_srgb(samples: np.ndarray, colour: HdrColour) -> np.ndarray:
    """16-bit samples of an HDR source (N x 3, its own primaries and transfer) as 16-bit sRGB, as
    Chromium 156 shows them (see above); out-of-gamut colours clipped."""
    light = cv2.transform(_TO_LIGHT[colour.transfer][samples].reshape(-1, 1, 3), colour.to_bt2020.astype(np.float32))
    light = light.reshape(-1, 3)
    if colour.transfer == HLG_TRANSFER:  # scene light -> the reference display's, in cd/m2
        luminance = np.maximum(light @ _BT2020_LUMA, 0)
        light *= (HDR_PEAK_NITS * luminance ** np.float32(HLG_SYSTEM_GAMMA - 1))[:, None]
    # The brightest channel, column by column: numpy's max along rows of 3 takes ~30x as long.
    brightest = np.maximum(np.maximum(light[:, 0], light[:, 1]), light[:, 2]) / SDR_WHITE_NITS
    brightest = np.maximum(brightest, 1e-9)
    light *= (_tone_mapped(brightest, peak=colour.peak_nits / SDR_WHITE_NITS) / brightest / SDR_WHITE_NITS)[:, None]
    to_steps = np.linalg.inv(_SRGB.colorants) @ _BT2020 * (_SRGB_STEPS - 1)
    steps = cv2.transform(light.reshape(-1, 1, 3), to_steps.astype(np.float32)).reshape(-1, 3)
    return _LINEAR_TO_SRGB_16[np.clip(steps + 0.5, 0, _SRGB_STEPS - 1).astype(np.uint16)]
