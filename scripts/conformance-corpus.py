#!/usr/bin/env python3
"""Build the input-conformance corpus: every kind of image a customer may send us, and damaged ones.

Usage: scripts/conformance-corpus.py DEST

Writes, under DEST (never committed):
- files/<group>/<name>: the images;
- reference/<group>/<name>.png: for each file the API must accept, what a browser shows of it
  (8-bit sRGB RGBA, orientation applied, first frame);
- manifest.json: one entry per file, with the answer the API must give (see `Entry`).

The images are made from known pixels ("truth") by encoders independent of the pipeline under
test: pypng, Pillow, libjpeg-turbo's cjpeg, libwebp's cwebp/img2webp/gif2webp, libavif's avifenc,
libheif's heif-enc, and the ImageMagick command line (under the system policy) for the few kinds
the others cannot write. References come from the truth itself for lossless files, with colour
tags applied as Chromium applies them, and for lossy files from the format's reference decoder
(Pillow's libjpeg-turbo and libwebp, avifdec, heif-convert), with LittleCMS (Pillow's ImageCms)
for embedded ICC profiles. Needs the Debian packages scripts/system-packages.sh installs for tests.
"""

import io
import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import png
from PIL import Image, ImageCms, ImageOps

CONVERT = "/usr/bin/convert-im6.q16"  # another `convert` may come first on PATH
# The tools run under the system's ImageMagick policy, not the project's (which a test process that
# imported optimizer.magick would hand down, and which denies PPM and others the corpus needs).
TOOLS_ENV = {name: value for name, value in os.environ.items() if name != "MAGICK_CONFIGURE_PATH"}
CMYK_PROFILE = Path("/usr/share/color/icc/ghostscript/default_cmyk.icc")  # a LUT-based CMYK profile
ADOBE_RGB_PROFILE = Path("/usr/share/color/icc/ghostscript/a98.icc")
SRGB = ImageCms.createProfile("sRGB")
UNSUPPORTED = "UNSUPPORTED_IMAGE"
BROWSER_FORMATS = {"png", "jpg", "gif", "webp", "avif", "bmp"}  # what Chromium decodes (not TIFF or HEIC)

# --- What each file must get back -----------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    name: str  # "<group>/<file name>", under files/ (and, + ".png", under reference/)
    status: int  # 200, or the 4xx the API must answer
    note: str  # what the file is, or why it is refused
    code: str | None = None  # the error code of a 4xx
    width: int = 0  # the output's size, as displayed (orientation applied)
    height: int = 0
    alpha: bool = False  # some pixel of the displayed image is not fully opaque
    tolerance: float = 0.0  # the mean error allowed against the reference, in levels of 255
    browser: bool = False  # Chromium decodes this format, so its rendering can be compared
    visible_from: int = 1  # the alpha from which a pixel's colour is compared (0-255)


class Corpus:
    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self.entries: list[Entry] = []

    def _write(self, name: str, data: bytes) -> None:
        path = self.dest / "files" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def valid(
        self,
        name: str,
        data: bytes,
        shown: np.ndarray,
        note: str,
        *,
        tolerance: float = 1.0,
        browser: bool = True,
        visible_from: int = 1,
    ) -> None:
        """A file the API must accept; `shown` is what a browser shows, HxWx3 or HxWx4, 0-255.
        `browser`: whether to compare with Chromium's rendering too (in the formats it decodes)."""
        shown = np.clip(np.rint(shown), 0, 255).astype(np.uint8)
        if shown.shape[2] == 3:
            shown = np.dstack([shown, np.full(shown.shape[:2], 255, np.uint8)])
        self._write(name, data)
        reference = self.dest / "reference" / f"{name}.png"
        reference.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(shown, "RGBA").save(reference)
        height, width = shown.shape[:2]
        alpha = bool((shown[..., 3] < 255).any())
        browser = browser and name.rsplit(".", 1)[1] in BROWSER_FORMATS
        self.entries.append(Entry(name, 200, note, None, width, height, alpha, tolerance, browser, visible_from))

    def refused(self, name: str, data: bytes, note: str, code: str = UNSUPPORTED) -> None:
        self._write(name, data)
        self.entries.append(Entry(name, 400, note, code))

    def write_manifest(self) -> None:
        entries = [asdict(entry) for entry in self.entries]
        (self.dest / "manifest.json").write_text(json.dumps(entries, indent=1) + "\n")


# --- Truth: known pixels --------------------------------------------------------------------


def photo(width: int, height: int, seed: int = 0) -> np.ndarray:
    """Smooth colour with a little grain, HxWx3 in [0, 1]."""
    y, x = np.mgrid[0:height, 0:width]
    u, v = x / max(width - 1, 1), y / max(height - 1, 1)
    colour = np.stack([u, v, 0.5 + 0.5 * np.sin(6 * (u + v))], axis=-1)
    grain = np.random.default_rng(seed).random((height, width, 3))
    return 0.9 * colour + 0.1 * grain


def alpha_ramp(width: int, height: int) -> np.ndarray:
    """Alpha of every kind, HxW in [0, 1]: rising left to right, a clear band on top, an opaque one below."""
    ramp = np.tile(np.linspace(0, 1, width), (height, 1))
    band = max(1, height // 6)
    ramp[:band] = 0
    ramp[-band:] = 1
    return ramp


def to8(values: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(values, 0, 1) * 255).astype(np.uint8)


def rgba8(rgb01: np.ndarray, alpha01: np.ndarray | None = None) -> np.ndarray:
    alpha = np.ones(rgb01.shape[:2]) if alpha01 is None else alpha01
    return to8(np.dstack([rgb01, alpha]))


def palette_of(rgb01: np.ndarray, colours: int) -> tuple[np.ndarray, np.ndarray]:
    """The image reduced to `colours` colours: (indices HxW, palette Nx3 of 0-255)."""
    quantized = Image.fromarray(to8(rgb01), "RGB").quantize(colours, dither=Image.Dither.NONE)
    palette = np.array(quantized.getpalette()[: 3 * colours], np.uint8).reshape(-1, 3)
    return np.array(quantized), palette


def encoded(image: Image.Image, format: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format, **params)
    return buffer.getvalue()


def run(command: list[str], data: bytes = b"") -> bytes:
    return subprocess.run(command, input=data, capture_output=True, check=True, env=TOOLS_ENV).stdout


def through_files(command: list[str], data: bytes, suffix: str, out_suffix: str) -> bytes:
    """Run a tool that only reads and writes files; "IN" and "OUT" in `command` name them."""
    with tempfile.TemporaryDirectory() as folder:
        paths = {"IN": Path(folder) / f"in{suffix}", "OUT": Path(folder) / f"out{out_suffix}"}
        paths["IN"].write_bytes(data)
        subprocess.run([str(paths.get(word, word)) for word in command], capture_output=True, check=True, env=TOOLS_ENV)
        return paths["OUT"].read_bytes()


def decoded(data: bytes) -> np.ndarray:
    """Pillow's decode (libjpeg-turbo, libwebp), orientation applied, as RGBA 0-255."""
    return np.array(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGBA"))


# --- Colour: what Chromium does with colour tags ---------------------------------------------

D65 = (0.3127, 0.3290)
D50_XYZ = np.array([0.9642, 1.0, 0.8249])
SRGB_PRIMARIES = ((0.64, 0.33), (0.30, 0.60), (0.15, 0.06))
P3_PRIMARIES = ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060))
BT2020_PRIMARIES = ((0.708, 0.292), (0.170, 0.797), (0.131, 0.046))
BT601_PRIMARIES = ((0.630, 0.340), (0.310, 0.595), (0.155, 0.070))  # SMPTE 240M's too
DCI_WHITE = (0.314, 0.351)
WIDE_PRIMARIES = ((0.7347, 0.2653), (0.1152, 0.8264), (0.1566, 0.0177))  # "Wide Gamut RGB", D50 white
D50 = (0.3457, 0.3585)
BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])


def xyz(xy: tuple[float, float]) -> np.ndarray:
    x, y = xy
    return np.array([x / y, 1.0, (1 - x - y) / y])


def rgb_to_xyz(primaries, white) -> np.ndarray:
    """The RGB -> XYZ matrix of three primaries and a white point (all xy)."""
    columns = np.array([xyz(primary) for primary in primaries]).T
    return columns * np.linalg.solve(columns, xyz(white))


def adapt(source_white_xyz: np.ndarray, target_white_xyz: np.ndarray) -> np.ndarray:
    """Bradford chromatic adaptation, as ICC profiles and skcms use it."""
    scale = (BRADFORD @ target_white_xyz) / (BRADFORD @ source_white_xyz)
    return np.linalg.inv(BRADFORD) @ np.diag(scale) @ BRADFORD


def to_srgb_matrix(primaries, white) -> np.ndarray:
    """Linear RGB in these primaries -> linear sRGB, white adapted (as skcms does through D50)."""
    return np.linalg.inv(rgb_to_xyz(SRGB_PRIMARIES, D65)) @ adapt(xyz(white), xyz(D65)) @ rgb_to_xyz(primaries, white)


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    linear = np.clip(linear, 0, 1)
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)


def srgb_decode(encoded01: np.ndarray) -> np.ndarray:
    return np.where(encoded01 <= 0.04045, encoded01 / 12.92, ((encoded01 + 0.055) / 1.055) ** 2.4)


def shown_through_hdr(rgb01: np.ndarray, transfer: int, primaries, peak_nits: float = 1000) -> np.ndarray:
    """What Chromium 156 shows of samples tagged PQ (16) or HLG (18) in these primaries (D65),
    peaking at `peak_nits` (203 to 1,000): in BT.2020's linear light, the brightest channel x (in
    units of BT.2408's reference white, 203 cd/m2) is shown at min(w x, 1.3 u / (0.3 + u)) of full
    light, where u = x / peak (at most 1) and w falls with the peak's logarithm from 1 (203 cd/m2)
    to 1/2 (1,000); HLG first made display light by a 1,000 cd/m2 display (system gamma 1.2).
    A curve fitted to Chromium's canvas, within a level of it at these peaks; optimizer/colour.py
    computes Chromium's own operator (ST 2094-50's RWTMO), an independent check of this one."""
    to_bt2020 = np.linalg.solve(rgb_to_xyz(BT2020_PRIMARIES, D65), rgb_to_xyz(primaries, D65))
    if transfer == 16:
        m1, m2, c1, c2, c3 = 0.1593017578125, 78.84375, 0.8359375, 18.8515625, 18.6875
        power = rgb01 ** (1 / m2)
        nits = 10_000 * (np.maximum(power - c1, 0) / (c2 - c3 * power)) ** (1 / m1) @ to_bt2020.T
    else:
        a, b, c = 0.17883277, 0.28466892, 0.55991073
        scene = np.where(rgb01 <= 0.5, rgb01**2 / 3, (np.exp((rgb01 - c) / a) + b) / 12) @ to_bt2020.T
        luminance = np.maximum(scene @ [0.2627, 0.6780, 0.0593], 0)
        nits = 1000 * luminance[..., None] ** 0.2 * scene
    peak = peak_nits / 203
    white = 1 - 0.5 * np.log(peak) / np.log(1000 / 203)
    x = np.maximum(nits.max(axis=-1, keepdims=True) / 203, 1e-9)
    of_peak = np.minimum(x / peak, 1)
    shown = np.minimum(white * x, 1.3 * of_peak / (0.3 + of_peak))
    linear = nits / 203 * shown / x
    return srgb_encode(linear @ to_srgb_matrix(BT2020_PRIMARIES, D65).T)


def smpte_240m_decode(encoded01: np.ndarray) -> np.ndarray:
    return np.where(encoded01 < 0.0912, encoded01 / 4, ((encoded01 + 0.1115) / 1.1115) ** (1 / 0.45))


def shown_through_gamma(rgb01: np.ndarray, gamma: float, chromaticities=None) -> np.ndarray:
    """What Chromium shows of samples tagged by gAMA (and cHRM): decoded with the exponent
    1/gamma, in the cHRM primaries (sRGB's without cHRM). A gamma within 5% of 1/2.2 without
    cHRM counts as sRGB (Skia's rule, after libpng's)."""
    if chromaticities is None and 0.95 < gamma * 2.2 < 1.05:
        return rgb01
    linear = rgb01 ** (1 / gamma)
    if chromaticities is not None:
        white, *primaries = chromaticities
        linear = linear @ to_srgb_matrix(primaries, white).T
    return srgb_encode(linear)


def shown_through_icc(rgb8: np.ndarray, profile: bytes, *, mode: str = "RGB") -> np.ndarray:
    """LittleCMS's conversion to sRGB, relative colorimetric whatever the file says, as Chromium
    converts (it matters for LUT-based profiles: CMYK)."""
    image = Image.fromarray(rgb8, mode)
    source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
    intent = ImageCms.Intent.RELATIVE_COLORIMETRIC
    return np.array(ImageCms.profileToProfile(image, source, SRGB, renderingIntent=intent, outputMode="RGB")) / 255


def s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def icc_profile(colour_space: bytes, tags: dict[bytes, bytes]) -> bytes:
    """A minimal ICC v2 display profile (XYZ connection space) with these tags."""
    table, body = b"", b""
    offset = 128 + 4 + 12 * len(tags)
    for signature, data in tags.items():
        data += b"\0" * (-len(data) % 4)
        table += struct.pack(">4sII", signature, offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = struct.pack(">I4sI4s4s4s", size, b"lcms", 0x02100000, b"mntr", colour_space, b"XYZ ")
    header += bytes(12) + b"acsp" + bytes(24) + struct.pack(">I", 0) + s15(0.9642) + s15(1.0) + s15(0.8249)
    header += bytes(128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + body


def xyz_tag(values) -> bytes:
    return b"XYZ \0\0\0\0" + b"".join(s15(value) for value in values)


def curve_tag(to_linear) -> bytes:
    samples = np.rint(to_linear(np.linspace(0, 1, 1024)) * 65535).astype(">u2")
    return b"curv\0\0\0\0" + struct.pack(">I", len(samples)) + samples.tobytes()


def rgb_profile(primaries, white, to_linear) -> bytes:
    """A matrix/TRC RGB profile: colorants adapted to D50 (Bradford), one tone curve."""
    colorants = adapt(xyz(white), D50_XYZ) @ rgb_to_xyz(primaries, white)
    curve = curve_tag(to_linear)
    tags = {b"wtpt": xyz_tag(D50_XYZ)}
    tags |= {name: xyz_tag(colorants[:, index]) for index, name in enumerate((b"rXYZ", b"gXYZ", b"bXYZ"))}
    return icc_profile(b"RGB ", tags | {b"rTRC": curve, b"gTRC": curve, b"bTRC": curve})


DISPLAY_P3 = rgb_profile(P3_PRIMARIES, D65, srgb_decode)
LINEAR_GREY = icc_profile(b"GRAY", {b"wtpt": xyz_tag(D50_XYZ), b"kTRC": curve_tag(lambda x: x)})


# --- PNG --------------------------------------------------------------------------------------

PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
PNG_SIZE = (41, 29)  # odd, so that interlacing has partial passes


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def with_chunks(data: bytes, *chunks: bytes) -> bytes:
    """`data` with chunks inserted right after IHDR (colour chunks must precede PLTE and IDAT)."""
    return data[:33] + b"".join(chunks) + data[33:]


def chrm_chunk(white, red, green, blue) -> bytes:
    return png_chunk(
        b"cHRM", struct.pack(">8I", *(round(value * 100000) for xy in (white, red, green, blue) for value in xy))
    )


def iccp_chunk(profile: bytes) -> bytes:
    return png_chunk(b"iCCP", b"profile\0\0" + zlib.compress(profile))


def cicp_chunk(primaries: int, transfer: int, *, full_range: bool = True) -> bytes:
    """ITU-T H.273 code points; the matrix is RGB's (0), as PNG requires."""
    return png_chunk(b"cICP", bytes([primaries, transfer, 0, int(full_range)]))


@dataclass(frozen=True)
class PngPicture:
    """One PNG's samples and what they mean: `rgb01` and `alpha01` are the exact sample values,
    normalised; `writer` the pypng options that store them."""

    rows: list
    writer: dict
    rgb01: np.ndarray
    alpha01: np.ndarray | None


def png_picture(colour_type: int, depth: int, *, transparent: bool = False) -> PngPicture:
    width, height = PNG_SIZE
    top = 2**depth - 1
    truth = photo(width, height, seed=colour_type * 100 + depth)
    alpha = alpha_ramp(width, height) if colour_type in (4, 6) else None
    writer = {"bitdepth": depth, "greyscale": colour_type in (0, 4), "alpha": alpha is not None}
    if colour_type == 3:
        indices, palette = palette_of(truth, 2**depth)
        entries = [tuple(int(value) for value in colour) for colour in palette]
        opacity = np.ones(len(palette))
        if transparent:  # the first entry clear, the second half opaque
            opacity[:2] = (0.0, 0.5)
            entries = [(*colour, round(255 * level)) for colour, level in zip(entries, opacity, strict=False)]
        rgb01 = palette[indices] / 255
        alpha = opacity[indices] if transparent else None
        return PngPicture(indices.tolist(), {"bitdepth": depth, "palette": entries}, rgb01, alpha)
    if writer["greyscale"]:
        samples = np.rint(truth.mean(axis=2)[..., None] * top).astype(int)
    else:
        samples = np.rint(truth * top).astype(int)
    if transparent:  # one key value, painted in a block, is transparent
        key = samples[0, 0].copy()
        samples[: height // 3, : width // 3] = key
        writer["transparent"] = int(key[0]) if writer["greyscale"] else tuple(int(value) for value in key)
        alpha = (samples != key).any(axis=2).astype(float)
    if alpha is not None and colour_type in (4, 6):
        alpha = np.rint(alpha * top) / top
        samples = np.dstack([samples, np.rint(alpha * top).astype(int)])
    rgb01 = np.repeat(samples[..., :1], 3, axis=2) / top if writer["greyscale"] else samples[..., :3] / top
    return PngPicture(samples.reshape(height, -1).tolist(), writer, rgb01, alpha)


def png_bytes(picture: PngPicture, **options) -> bytes:
    buffer = io.BytesIO()
    width, height = PNG_SIZE
    png.Writer(width, height, **picture.writer, **options).write(buffer, picture.rows)
    return buffer.getvalue()


def add_pngs(corpus: Corpus) -> None:
    wide = (D50, *WIDE_PRIMARIES)
    for colour_type, depths in PNG_DEPTHS.items():
        for depth in depths:
            stem = f"png/type{colour_type}-{depth}bit"
            picture = png_picture(colour_type, depth)
            shown = picture.rgb01 * 255
            if picture.alpha01 is not None:
                shown = np.dstack([shown, picture.alpha01 * 255])
            corpus.valid(f"{stem}.png", png_bytes(picture), shown, "no colour tags: sRGB")
            corpus.valid(f"{stem}-interlaced.png", png_bytes(picture, interlace=True), shown, "Adam7 interlaced")
            if colour_type in (0, 2, 3):
                keyed = png_picture(colour_type, depth, transparent=True)
                corpus.valid(
                    f"{stem}-trns.png",
                    png_bytes(keyed),
                    rgba8(keyed.rgb01, keyed.alpha01),
                    "tRNS: transparency without an alpha channel",
                )
            for label, gamma in (("1.0", 1.0), ("1-1.8", 1 / 1.8), ("1-2.2", 1 / 2.2)):
                corpus.valid(
                    f"{stem}-gamma{label}.png",
                    png_bytes(picture, gamma=gamma),
                    rgba8(shown_through_gamma(picture.rgb01, round(gamma, 5)), picture.alpha01),
                    f"gAMA {gamma:.5f} without cHRM (sRGB primaries)",
                )
            if colour_type in (2, 6):
                tagged = {
                    "srgb": (png_chunk(b"sRGB", b"\0"), picture.rgb01, "sRGB chunk"),
                    "srgb-over-gamma1.0": (
                        png_chunk(b"sRGB", b"\0") + png_chunk(b"gAMA", struct.pack(">I", 100000)),
                        picture.rgb01,
                        "sRGB chunk with a contradicting gAMA 1.0: sRGB wins",
                    ),
                    "chrm-srgb-gamma1-2.2": (
                        chrm_chunk(D65, *SRGB_PRIMARIES) + png_chunk(b"gAMA", struct.pack(">I", 45455)),
                        shown_through_gamma(picture.rgb01, 0.45455, (D65, *SRGB_PRIMARIES)),
                        "cHRM (sRGB primaries) + gAMA 1/2.2: a pure 2.2 power curve",
                    ),
                    "chrm-wide-gamma1-2.2": (
                        chrm_chunk(*wide) + png_chunk(b"gAMA", struct.pack(">I", 45455)),
                        shown_through_gamma(picture.rgb01, 0.45455, wide),
                        "cHRM (Wide Gamut RGB, D50 white) + gAMA 1/2.2",
                    ),
                    "chrm-wide-gamma1.0": (
                        chrm_chunk(*wide) + png_chunk(b"gAMA", struct.pack(">I", 100000)),
                        shown_through_gamma(picture.rgb01, 1.0, wide),
                        "cHRM (Wide Gamut RGB) + gAMA 1.0",
                    ),
                    "chrm-only": (chrm_chunk(*wide), picture.rgb01, "cHRM without gAMA: ignored"),
                    "iccp-p3": (
                        iccp_chunk(DISPLAY_P3),
                        shown_through_icc(to8(picture.rgb01), DISPLAY_P3),
                        "iCCP Display P3",
                    ),
                    "iccp-adobe-rgb": (
                        iccp_chunk(ADOBE_RGB_PROFILE.read_bytes()),
                        shown_through_icc(to8(picture.rgb01), ADOBE_RGB_PROFILE.read_bytes()),
                        "iCCP Adobe RGB (1998)",
                    ),
                    "iccp-p3-over-gamma1.0": (
                        iccp_chunk(DISPLAY_P3) + png_chunk(b"gAMA", struct.pack(">I", 100000)),
                        shown_through_icc(to8(picture.rgb01), DISPLAY_P3),
                        "iCCP Display P3 and gAMA 1.0: iCCP wins",
                    ),
                    "cicp-p3": (
                        cicp_chunk(12, 13),
                        srgb_encode(srgb_decode(picture.rgb01) @ to_srgb_matrix(P3_PRIMARIES, D65).T),
                        "cICP Display P3",
                    ),
                    "cicp-p3-over-iccp-adobe-rgb": (
                        iccp_chunk(ADOBE_RGB_PROFILE.read_bytes()) + cicp_chunk(12, 13),
                        srgb_encode(srgb_decode(picture.rgb01) @ to_srgb_matrix(P3_PRIMARIES, D65).T),
                        "iCCP Adobe RGB and cICP Display P3: cICP wins",
                    ),
                    "cicp-srgb-over-iccp-p3": (
                        cicp_chunk(1, 13) + iccp_chunk(DISPLAY_P3),
                        picture.rgb01,
                        "cICP sRGB and iCCP Display P3: cICP wins",
                    ),
                    "cicp-bt2020-bt709": (
                        cicp_chunk(9, 1),
                        shown_through_gamma(picture.rgb01, 1 / 2.4, (D65, *BT2020_PRIMARIES)),
                        "cICP BT.2020, BT.709's transfer: Chromium shows it as a 2.4 gamma",
                    ),
                    "cicp-linear": (
                        cicp_chunk(1, 8),
                        shown_through_gamma(picture.rgb01, 1.0, (D65, *SRGB_PRIMARIES)),
                        "cICP sRGB primaries in linear light",
                    ),
                    "cicp-p3-narrow-range": (
                        cicp_chunk(12, 13, full_range=False),
                        picture.rgb01,
                        "cICP narrow range: ignored, as Chromium ignores it",
                    ),
                }
                for label, (chunks, rgb01, note) in tagged.items():
                    corpus.valid(
                        f"{stem}-{label}.png",
                        with_chunks(png_bytes(picture), chunks),
                        rgba8(rgb01, picture.alpha01),
                        note,
                    )
                hdr = {
                    "cicp-bt2020-pq": (
                        9,
                        16,
                        BT2020_PRIMARIES,
                        "cICP BT.2020 PQ (HDR): tone-mapped as Chromium shows it",
                    ),
                    "cicp-bt709-hlg": (
                        1,
                        18,
                        SRGB_PRIMARIES,
                        "cICP BT.709 HLG (HDR): tone-mapped as Chromium shows it",
                    ),
                }
                for label, (primaries, transfer, chromaticities, note) in hdr.items():
                    corpus.valid(
                        f"{stem}-{label}.png",
                        with_chunks(png_bytes(picture), cicp_chunk(primaries, transfer)),
                        rgba8(shown_through_hdr(picture.rgb01, transfer, chromaticities), picture.alpha01),
                        note,
                    )
                # cLLI's MaxCLL (in 0.0001 cd/m2, then MaxFALL): the content's peak, 400 cd/m2.
                corpus.valid(
                    f"{stem}-cicp-bt2020-pq-clli400.png",
                    with_chunks(
                        png_bytes(picture), cicp_chunk(9, 16) + png_chunk(b"cLLI", struct.pack(">II", 4_000_000, 0))
                    ),
                    rgba8(shown_through_hdr(picture.rgb01, 16, BT2020_PRIMARIES, peak_nits=400), picture.alpha01),
                    "cICP BT.2020 PQ, cLLI 400 cd/m2: tone-mapped to its peak as Chromium shows it",
                )
            if colour_type == 0 and depth in (8, 16):
                corpus.valid(
                    f"{stem}-iccp-linear-grey.png",
                    with_chunks(png_bytes(picture), iccp_chunk(LINEAR_GREY)),
                    shown_through_icc(to8(picture.rgb01[..., 0]), LINEAR_GREY, mode="L") * 255,
                    "iCCP: a grey profile with a linear tone curve",
                )
    picture = png_picture(2, 8)
    shown = Image.fromarray(to8(picture.rgb01), "RGB")
    for orientation in (3, 6, 8):
        exif = Image.Exif()
        exif[0x0112] = orientation
        stored = shown.transpose(EXIF_TRANSPOSE[orientation])
        corpus.valid(
            f"png/exif-orientation-{orientation}.png",
            encoded(stored, "PNG", exif=exif),
            np.array(shown),
            f"eXIf orientation {orientation} (Chromium applies it; ImageMagick 6 does not read eXIf)",
        )
    damaged_phys = bytearray(png_chunk(b"pHYs", struct.pack(">IIB", 2835, 2835, 1)))
    damaged_phys[-1] ^= 0xFF
    corpus.valid(
        "png/harmless-bad-crc-in-phys.png",
        with_chunks(png_bytes(picture), bytes(damaged_phys)),
        picture.rgb01 * 255,
        "a bad CRC in an ancillary chunk (pHYs): libpng warns and drops the chunk; the pixels are whole",
    )


# --- JPEG -------------------------------------------------------------------------------------

JPEG_SIZE = (75, 50)  # odd width: partial MCUs
EXIF_TRANSPOSE = {  # EXIF orientation -> what turns the displayed image into the stored one
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def ppm(rgb8: np.ndarray) -> bytes:
    height, width = rgb8.shape[:2]
    return b"P6\n%d %d\n255\n" % (width, height) + rgb8.tobytes()


def cjpeg(rgb8: np.ndarray, *options: str) -> bytes:
    return run(["cjpeg", "-quality", "90", *options], ppm(rgb8))


def jpeg_12_bit(data: bytes) -> bytes:
    """A baseline JPEG relabelled as 12-bit extended sequential (SOF1, precision 12): a valid
    12-bit JPEG, whose samples are the 8-bit ones offset to the 12-bit range's middle."""
    start = data.index(b"\xff\xc0")
    return data[:start] + b"\xff\xc1" + data[start + 2 : start + 4] + b"\x0c" + data[start + 5 :]


def add_jpegs(corpus: Corpus) -> None:
    rgb8 = to8(photo(*JPEG_SIZE, seed=7))
    image = Image.fromarray(rgb8, "RGB")
    variants = {
        "baseline-420": cjpeg(rgb8),
        "progressive": cjpeg(rgb8, "-progressive"),
        "arithmetic": cjpeg(rgb8, "-arithmetic"),
        "restart-markers": cjpeg(rgb8, "-restart", "1B"),
        "optimised-huffman": cjpeg(rgb8, "-optimize"),
        "444": cjpeg(rgb8, "-sample", "1x1"),
        "422": cjpeg(rgb8, "-sample", "2x1"),
        "440": cjpeg(rgb8, "-sample", "1x2"),
        "411": cjpeg(rgb8, "-sample", "4x1"),
        "greyscale": cjpeg(rgb8, "-grayscale"),
        "small-photo-227x149": cjpeg(to8(photo(227, 149, seed=8)), "-quality", "75"),
    }
    for label, data in variants.items():
        corpus.valid(f"jpeg/{label}.jpg", data, decoded(data), f"cjpeg {label}")
    cmyk = image.convert("CMYK")
    plain_cmyk = encoded(cmyk, "JPEG", quality=95)
    corpus.valid("jpeg/cmyk-adobe.jpg", plain_cmyk, decoded(plain_cmyk), "CMYK, Adobe (inverted)")
    ycck = run([CONVERT, "ppm:-", "-colorspace", "CMYK", "-quality", "95", "jpeg:-"], ppm(rgb8))
    corpus.valid("jpeg/ycck-adobe.jpg", ycck, decoded(ycck), "YCCK, Adobe transform 2 (ImageMagick's CMYK JPEG)")
    cmyk_icc = encoded(cmyk, "JPEG", quality=95, icc_profile=CMYK_PROFILE.read_bytes())
    stored_cmyk = np.array(Image.open(io.BytesIO(cmyk_icc)))
    corpus.valid(
        "jpeg/cmyk-icc.jpg",
        cmyk_icc,
        shown_through_icc(stored_cmyk, CMYK_PROFILE.read_bytes(), mode="CMYK") * 255,
        "CMYK with a LUT-based CMYK profile (Ghostscript's default)",
        tolerance=1.5,
    )
    for label, profile in (("display-p3", DISPLAY_P3), ("adobe-rgb", ADOBE_RGB_PROFILE.read_bytes())):
        data = encoded(image, "JPEG", quality=95, icc_profile=profile)
        corpus.valid(
            f"jpeg/icc-{label}.jpg",
            data,
            shown_through_icc(np.ascontiguousarray(decoded(data)[..., :3]), profile) * 255,
            f"ICC {label}",
        )
    for orientation in range(1, 9):
        stored = image.transpose(EXIF_TRANSPOSE[orientation]) if orientation in EXIF_TRANSPOSE else image
        exif = Image.Exif()
        exif[0x0112] = orientation
        data = encoded(stored, "JPEG", quality=95, exif=exif)
        corpus.valid(f"jpeg/exif-orientation-{orientation}.jpg", data, decoded(data), f"EXIF orientation {orientation}")
    corpus.refused(
        "jpeg/12-bit.jpg",
        jpeg_12_bit(variants["baseline-420"]),
        "12-bit JPEG: libjpeg-turbo as ImageMagick 6 links it decodes 8-bit JPEGs only",
    )


# --- GIF --------------------------------------------------------------------------------------

GIF_SIZE = (37, 23)


def gif_picture(seed: int, colours: int = 64) -> tuple[Image.Image, np.ndarray]:
    indices, palette = palette_of(photo(*GIF_SIZE, seed=seed), colours)
    image = Image.fromarray(indices.astype(np.uint8), "P")
    image.putpalette(palette.flatten().tolist())
    return image, palette[indices]


def gif_blocks(data: bytes) -> tuple[int, int]:
    """(where the global colour table ends, where the first image descriptor starts)."""
    table_end = 13 + (3 * 2 ** ((data[10] & 7) + 1) if data[10] & 0x80 else 0)
    position = table_end
    while data[position] == 0x21:  # extensions: label, then sub-blocks up to an empty one
        position += 2
        while data[position]:
            position += data[position] + 1
        position += 1
    return table_end, position


def gif_with_local_palette(data: bytes) -> bytes:
    """The same GIF with its global colour table moved into the first frame's descriptor."""
    table_end, descriptor = gif_blocks(data)
    packed = data[10]
    table = data[13:table_end]
    header = data[:10] + bytes([packed & 0x70]) + data[11:13]
    local = bytes([0x80 | (packed & 7)])  # local table present, same size, not interlaced
    return (
        header
        + data[table_end:descriptor]
        + data[descriptor : descriptor + 9]
        + local
        + table
        + data[descriptor + 10 :]
    )


def gif_on_larger_screen(data: bytes, left: int, top: int, width: int, height: int) -> bytes:
    """The same GIF, its frame placed at (left, top) on a larger logical screen."""
    _, descriptor = gif_blocks(data)
    placed = data[: descriptor + 1] + struct.pack("<HH", left, top) + data[descriptor + 5 :]
    return placed[:6] + struct.pack("<HH", width, height) + placed[10:]


def add_gifs(corpus: Corpus) -> None:
    image, rgb8 = gif_picture(11)
    corpus.valid("gif/plain.gif", encoded(image, "GIF", interlace=False), rgb8, "global palette")
    corpus.valid("gif/interlaced.gif", encoded(image, "GIF", interlace=True), rgb8, "interlaced")
    corpus.valid(
        "gif/local-palette.gif",
        gif_with_local_palette(encoded(image, "GIF", interlace=False)),
        rgb8,
        "no global palette: the frame's own",
    )
    clear = np.array(image) == 0
    corpus.valid(
        "gif/transparent-index.gif",
        encoded(image, "GIF", transparency=0, interlace=False),
        np.dstack([rgb8, np.where(clear, 0, 255)]),
        "transparent palette index",
    )
    second, _ = gif_picture(12)
    animation = encoded(image, "GIF", save_all=True, append_images=[second], duration=100, loop=0, interlace=False)
    corpus.valid("gif/animated.gif", animation, rgb8, "animated: the first frame")
    width, height = GIF_SIZE
    canvas = np.zeros((height + 6, width + 9, 4))
    canvas[4 : 4 + height, 5 : 5 + width] = np.dstack([rgb8, np.full(rgb8.shape[:2], 255)])
    corpus.valid(
        "gif/frame-inside-larger-screen.gif",
        gif_on_larger_screen(encoded(image, "GIF", interlace=False), 5, 4, width + 9, height + 6),
        canvas,
        "the first frame placed inside a larger logical screen: the rest is transparent",
    )


# --- WebP -------------------------------------------------------------------------------------

WEBP_SIZE = (53, 37)


def add_webps(corpus: Corpus) -> None:
    rgb01 = photo(*WEBP_SIZE, seed=21)
    alpha01 = alpha_ramp(*WEBP_SIZE)
    opaque_png = encoded(Image.fromarray(to8(rgb01), "RGB"), "PNG")
    clear_png = encoded(Image.fromarray(rgba8(rgb01, alpha01), "RGBA"), "PNG")
    lossy = through_files(["cwebp", "-quiet", "-q", "90", "IN", "-o", "OUT"], opaque_png, ".png", ".webp")
    corpus.valid("webp/lossy.webp", lossy, decoded(lossy), "lossy (VP8)")
    lossless = through_files(["cwebp", "-quiet", "-lossless", "IN", "-o", "OUT"], opaque_png, ".png", ".webp")
    corpus.valid("webp/lossless.webp", lossless, to8(rgb01), "lossless (VP8L)")
    lossy_alpha = through_files(
        ["cwebp", "-quiet", "-q", "90", "-alpha_q", "100", "IN", "-o", "OUT"], clear_png, ".png", ".webp"
    )
    corpus.valid(
        "webp/lossy-alpha.webp", lossy_alpha, decoded(lossy_alpha), "lossy with a lossless alpha plane (VP8X + ALPH)"
    )
    lossless_alpha = through_files(
        ["cwebp", "-quiet", "-lossless", "-exact", "IN", "-o", "OUT"], clear_png, ".png", ".webp"
    )
    corpus.valid("webp/lossless-alpha.webp", lossless_alpha, rgba8(rgb01, alpha01), "lossless with alpha")
    animation = animated_webp(opaque_png, encoded(Image.fromarray(to8(photo(*WEBP_SIZE, seed=22)), "RGB"), "PNG"))
    corpus.valid("webp/animated.webp", animation, to8(rgb01), "animated (ANIM/ANMF): the first frame")
    gif, gif_rgb8 = gif_picture(23)
    second, _ = gif_picture(24)
    animation = encoded(gif, "GIF", save_all=True, append_images=[second], duration=100, loop=0)
    from_gif = through_files(["gif2webp", "-quiet", "IN", "-o", "OUT"], animation, ".gif", ".webp")
    corpus.valid("webp/from-animated-gif.webp", from_gif, gif_rgb8, "gif2webp of an animated GIF: the first frame")
    tagged = encoded(Image.fromarray(to8(rgb01), "RGB"), "WEBP", lossless=True, icc_profile=DISPLAY_P3)
    corpus.valid(
        "webp/icc-display-p3.webp",
        tagged,
        shown_through_icc(to8(rgb01), DISPLAY_P3) * 255,
        "lossless with an ICCP chunk (Display P3)",
    )


# --- AVIF and HEIC ------------------------------------------------------------------------------

HEIF_SIZE = (64, 48)  # even: libheif 1.15's HEIC path wants even sizes for 4:2:0
# ImageMagick 6.9.11's HEIC coder has libheif hand it every AVIF and HEIC as 4:2:0 (subsampling
# 4:4:4 first) and repeats each chroma sample over its 2x2 block, where browsers interpolate:
# on these images, whose grain is in every channel, that costs up to ~3 levels (4:2:0 sources)
# and ~5 (4:4:4) against libavif's decode. A wrong matrix or range would cost tens.
SUBSAMPLED_TOLERANCE, FULL_CHROMA_TOLERANCE = 3.0, 6.0
# A wide gamut's conversion to sRGB magnifies those chroma differences (~1.15x here); a colour tag
# not honoured would cost 10-20 levels.
WIDE_GAMUT_TOLERANCE = 3.5
# PQ and HLG magnify them more: ImageMagick's 8-bit 4:2:0 samples of a 10-bit 4:4:4 HDR file, whose
# top half of levels spans most of the light, cost ~5-7 levels here; read as sRGB, ~50.
HDR_TOLERANCE = 8.0
# Premultiplied colour planes hold colour times alpha: under alpha a, a level of theirs is 255/a of
# the colour's, so colour is compared from a quarter alpha up. They are dark where alpha is low and
# black under a clear band: chroma repeated rather than interpolated costs more at those edges
# (~3.6 levels here, ~2.8 on the same image with straight alpha; undivided, ~35).
PREMULTIPLIED_TOLERANCE, PREMULTIPLIED_VISIBLE_FROM = 4.5, 64


def png16(rgb01: np.ndarray, alpha01: np.ndarray | None = None) -> bytes:
    """A 16-bit PNG (pypng), for encoders to make 10- and 12-bit images from."""
    height, width = rgb01.shape[:2]
    planes = rgb01 if alpha01 is None else np.dstack([rgb01, alpha01])
    buffer = io.BytesIO()
    png.Writer(width, height, bitdepth=16, greyscale=False, alpha=alpha01 is not None).write(
        buffer, np.rint(planes * 65535).astype(int).reshape(height, -1).tolist()
    )
    return buffer.getvalue()


def avifdec(data: bytes) -> np.ndarray:
    return decoded(through_files(["avifdec", "-d", "8", "IN", "OUT"], data, ".avif", ".png"))


def iso_box(kind: bytes, payload: bytes, *, version: int | None = None, flags: int = 0) -> bytes:
    """An ISOBMFF box; with a `version`, a full box (version and flags first)."""
    if version is not None:
        payload = struct.pack(">I", version << 24 | flags) + payload
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def iso_children(data: bytes, start: int, end: int) -> dict[bytes, tuple[int, int]]:
    """Each box in data[start:end] by kind: where its contents start and end."""
    boxes = {}
    while start + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, start)
        boxes[kind] = (start + 8, start + size)
        start += size
    return boxes


def heic_tile(heic: bytes) -> tuple[bytes, bytes]:
    """The hvcC box and coded picture of heif-enc's one image: its only item in the file's data (a
    picture not a multiple of 64 pixels wide and high, libheif 1.15 puts under a 1x1 grid, whose
    description is in the meta box's idat)."""
    start, end = iso_children(heic, 0, len(heic))[b"meta"]
    meta = iso_children(heic, start + 4, end)  # after its version and flags
    properties = iso_children(heic, *iso_children(heic, *meta[b"iprp"])[b"ipco"])
    start, end = properties[b"hvcC"]
    hvcc = heic[start - 8 : end]
    start, _ = meta[b"iloc"]
    version, sizes, base_size = heic[start], heic[start + 4], heic[start + 5] >> 4
    offset_size, length_size = sizes >> 4, sizes & 15
    at = start + 8
    for _ in range(struct.unpack_from(">H", heic, start + 6)[0]):
        in_idat = version == 1 and heic[at + 3] & 15 == 1  # construction method 1
        at += 2 + (2 if version else 0) + 2  # item, construction method (version 1), data reference
        base = int.from_bytes(heic[at : at + base_size], "big")
        at += base_size + 2  # one extent
        offset = int.from_bytes(heic[at : at + offset_size], "big")
        length = int.from_bytes(heic[at + offset_size : at + offset_size + length_size], "big")
        at += offset_size + length_size
        if not in_idat:
            return hvcc, heic[base + offset : base + offset + length]
    raise ValueError("heif-enc wrote no coded picture")


def heic_grid(tiles: list[bytes], columns: int, size: tuple[int, int], tile_size: tuple[int, int]) -> bytes:
    """A HEIC whose primary item is a grid of heif-enc's `tiles` (row by row), cropped to `size`,
    as iPhones store photos (in 512-pixel tiles)."""
    parts = [heic_tile(tile) for tile in tiles]
    ids = range(2, 2 + len(tiles))  # the grid is item 1
    grid = struct.pack(">BBBBHH", 0, 0, len(tiles) // columns - 1, columns - 1, *size)
    infe = [iso_box(b"infe", struct.pack(">HH4s", 1, 0, b"grid") + b"\0", version=2)]
    infe += [iso_box(b"infe", struct.pack(">HH4s", item, 0, b"hvc1") + b"\0", version=2, flags=1) for item in ids]
    # Properties 1 to n: each tile's hvcC; n + 1 a tile's size, n + 2 the grid's.
    properties = [hvcc for hvcc, _ in parts] + [iso_box(b"ispe", struct.pack(">II", *tile_size), version=0)]
    properties.append(iso_box(b"ispe", struct.pack(">II", *size), version=0))
    associations = struct.pack(">HBB", 1, 1, len(tiles) + 2)
    for index, item in enumerate(ids, 1):
        associations += struct.pack(">HBBB", item, 2, 0x80 | index, len(tiles) + 1)  # hvcC essential
    payloads = [grid, *(picture for _, picture in parts)]
    head = [
        iso_box(b"hdlr", bytes(4) + b"pict" + bytes(13), version=0),
        iso_box(b"pitm", struct.pack(">H", 1), version=0),
        iso_box(b"iinf", struct.pack(">H", len(infe)) + b"".join(infe), version=0),
        iso_box(b"iref", iso_box(b"dimg", struct.pack(f">HH{len(tiles)}H", 1, len(tiles), *ids)), version=0),
        iso_box(
            b"iprp",
            iso_box(b"ipco", b"".join(properties))
            + iso_box(b"ipma", struct.pack(">I", 1 + len(tiles)) + associations, version=0),
        ),
    ]
    ftyp = iso_box(b"ftyp", b"heic" + bytes(4) + b"mif1heic")

    def meta(data_start: int) -> bytes:
        """The meta box, with each item's payload at its place in an mdat box's data from `data_start`."""
        extents, offset = b"", data_start
        for item, payload in enumerate(payloads, 1):
            extents += struct.pack(">HHHII", item, 0, 1, offset, len(payload))  # 4-byte offsets and lengths
            offset += len(payload)
        iloc = iso_box(b"iloc", bytes([0x44, 0]) + struct.pack(">H", len(payloads)) + extents, version=0)
        return iso_box(b"meta", b"".join(head) + iloc, version=0)

    data_start = len(ftyp) + len(meta(0)) + 8  # past the mdat box's header
    return ftyp + meta(data_start) + iso_box(b"mdat", b"".join(payloads))


def heif_convert(data: bytes) -> np.ndarray:
    return np.array(
        Image.open(io.BytesIO(through_files(["heif-convert", "IN", "OUT"], data, ".heic", ".png"))).convert("RGBA")
    )


def as_browsers_turn(stored: np.ndarray, options: list[str]) -> np.ndarray:
    """What browsers show of an AVIF stored as `stored` with avifenc's `options`: avifdec ignores
    irot and imir; browsers turn (anticlockwise), then mirror, in the order avifenc writes them."""
    if "--irot" in options:
        stored = np.rot90(stored, int(options[options.index("--irot") + 1]))
    if "--imir" in options:
        stored = np.fliplr(stored) if options[options.index("--imir") + 1] == "1" else np.flipud(stored)
    return stored


def add_heifs(corpus: Corpus) -> None:
    rgb01 = photo(*HEIF_SIZE, seed=31)
    alpha01 = alpha_ramp(*HEIF_SIZE)
    opaque = encoded(Image.fromarray(to8(rgb01), "RGB"), "PNG")
    deep = png16(rgb01)
    grey = encoded(Image.fromarray(to8(rgb01.mean(axis=2)), "L"), "PNG")
    avifs = {
        "8bit-420": (opaque, ["-y", "420"], SUBSAMPLED_TOLERANCE),
        "8bit-444": (opaque, ["-y", "444"], FULL_CHROMA_TOLERANCE),
        "8bit-400-monochrome": (grey, ["-y", "400"], SUBSAMPLED_TOLERANCE),
        "10bit-420": (deep, ["-d", "10", "-y", "420"], SUBSAMPLED_TOLERANCE),
        "12bit-444": (deep, ["-d", "12", "-y", "444"], FULL_CHROMA_TOLERANCE),
        "irot-90": (opaque, ["-y", "420", "--irot", "1"], SUBSAMPLED_TOLERANCE),
        "imir-left-right": (opaque, ["-y", "420", "--imir", "1"], SUBSAMPLED_TOLERANCE),
        "imir-top-bottom": (opaque, ["-y", "420", "--imir", "0"], SUBSAMPLED_TOLERANCE),
        "irot-270-imir-left-right": (opaque, ["-y", "420", "--irot", "3", "--imir", "1"], SUBSAMPLED_TOLERANCE),
    }
    for label, (source, options, tolerance) in avifs.items():
        data = through_files(
            ["avifenc", "-s", "8", "--min", "10", "--max", "10", *options, "IN", "OUT"], source, ".png", ".avif"
        )
        shown = as_browsers_turn(avifdec(data), options)
        corpus.valid(f"avif/{label}.avif", data, shown, f"avifenc {' '.join(options)}", tolerance=tolerance)
    # Colour tags: nclx primaries and transfer (ITU-T H.273 code points), and an ICC profile.
    tagged = {
        "nclx-p3": (["--cicp", "12/13/6"], lambda stored: srgb_decode(stored) @ to_srgb_matrix(P3_PRIMARIES, D65).T),
        "nclx-bt2020": (
            ["--cicp", "9/13/6"],
            lambda stored: srgb_decode(stored) @ to_srgb_matrix(BT2020_PRIMARIES, D65).T,
        ),
        "nclx-p3-gamma2.2": (["--cicp", "12/4/6"], lambda stored: stored**2.2 @ to_srgb_matrix(P3_PRIMARIES, D65).T),
        "nclx-bt601-bt709-transfer": (  # Chromium shows BT.709's transfer as the sRGB curve
            ["--cicp", "6/1/6"],
            lambda stored: srgb_decode(stored) @ to_srgb_matrix(BT601_PRIMARIES, D65).T,
        ),
        "nclx-dci-p3": (
            ["--cicp", "11/13/6"],
            lambda stored: srgb_decode(stored) @ to_srgb_matrix(P3_PRIMARIES, DCI_WHITE).T,
        ),
        "nclx-smpte-240m": (
            ["--cicp", "7/7/6"],
            lambda stored: smpte_240m_decode(stored) @ to_srgb_matrix(BT601_PRIMARIES, D65).T,
        ),
        "nclx-linear": (["--cicp", "1/8/6"], lambda stored: stored),
    }
    for label, (options, to_linear) in tagged.items():
        data = through_files(
            ["avifenc", "-s", "8", "-y", "420", "--min", "10", "--max", "10", *options, "IN", "OUT"],
            opaque,
            ".png",
            ".avif",
        )
        stored = avifdec(data)[..., :3] / 255  # avifdec applies no colour tag
        shown = srgb_encode(to_linear(stored)) * 255
        corpus.valid(f"avif/{label}.avif", data, shown, f"avifenc {' '.join(options)}", tolerance=WIDE_GAMUT_TOLERANCE)
    # HDR: 10 bits of PQ or HLG, which ImageMagick 6 decodes to 8 (as avifdec -d 8 does here).
    for label, (cicp, transfer, primaries) in {
        "nclx-bt2020-pq": ("9/16/9", 16, BT2020_PRIMARIES),
        "nclx-bt709-hlg": ("1/18/1", 18, SRGB_PRIMARIES),
    }.items():
        options = ["-d", "10", "--cicp", cicp]
        data = through_files(
            ["avifenc", "-s", "8", "-y", "444", "--min", "10", "--max", "10", *options, "IN", "OUT"],
            opaque,
            ".png",
            ".avif",
        )
        shown = shown_through_hdr(avifdec(data)[..., :3] / 255, transfer, primaries) * 255
        corpus.valid(f"avif/{label}.avif", data, shown, f"avifenc {' '.join(options)}", tolerance=HDR_TOLERANCE)
    with tempfile.NamedTemporaryFile(suffix=".icc") as profile:
        profile.write(DISPLAY_P3)
        profile.flush()
        data = through_files(
            ["avifenc", "-s", "8", "-y", "420", "--min", "10", "--max", "10", "--icc", profile.name, "IN", "OUT"],
            opaque,
            ".png",
            ".avif",
        )
    corpus.valid(
        "avif/icc-p3.avif",
        data,
        shown_through_icc(avifdec(data)[..., :3], DISPLAY_P3) * 255,
        "avifenc --icc (Display P3)",
        tolerance=WIDE_GAMUT_TOLERANCE,
    )
    transparent = encoded(Image.fromarray(rgba8(rgb01, alpha01), "RGBA"), "PNG")
    clear = through_files(
        ["avifenc", "-s", "8", "-y", "420", "--min", "10", "--max", "10", "IN", "OUT"], transparent, ".png", ".avif"
    )
    corpus.valid(
        "avif/alpha.avif",
        clear,
        avifdec(clear),
        "transparent AVIF: ImageMagick 6.9.11 reads the alpha plane from a copy whose primary item it is",
        tolerance=SUBSAMPLED_TOLERANCE,
        # Debian's Chromium reads this alpha plane (avifenc's and Pillow's alike) as limited range,
        # up to 20/255 more opaque than libavif's own decode (avifdec), which this corpus follows.
        browser=False,
    )
    for label, options in {
        "irot-90": ["--irot", "1"],
        "irot-270-imir-left-right": ["--irot", "3", "--imir", "1"],
    }.items():
        turned = through_files(
            ["avifenc", "-s", "8", "-y", "420", "--min", "10", "--max", "10", *options, "IN", "OUT"],
            transparent,
            ".png",
            ".avif",
        )
        corpus.valid(
            f"avif/alpha-{label}.avif",
            turned,
            as_browsers_turn(avifdec(turned), options),
            f"transparent, avifenc {' '.join(options)}: the alpha plane turned as the colour planes",
            tolerance=SUBSAMPLED_TOLERANCE,
            browser=False,  # as avif/alpha.avif
        )
    premultiplied = through_files(
        ["avifenc", "-s", "8", "-y", "420", "--min", "10", "--max", "10", "--premultiply", "IN", "OUT"],
        transparent,
        ".png",
        ".avif",
    )
    corpus.valid(
        "avif/alpha-premultiplied.avif",
        premultiplied,
        avifdec(premultiplied),
        "premultiplied alpha (a prem reference): the colour planes divided by it",
        tolerance=PREMULTIPLIED_TOLERANCE,
        browser=False,  # as avif/alpha.avif
        visible_from=PREMULTIPLIED_VISIBLE_FROM,
    )
    heics = {"8bit": (opaque, []), "10bit": (deep, ["-b", "10"])}
    for label, (source, options) in heics.items():
        data = through_files(["heif-enc", "-q", "90", *options, "-o", "OUT", "IN"], source, ".png", ".heic")
        corpus.valid(
            f"heic/{label}.heic",
            data,
            heif_convert(data),
            f"heif-enc {' '.join(options)}",
            tolerance=SUBSAMPLED_TOLERANCE,
        )
    # heif-enc codes a picture in 64x64 blocks: tiles of that size fill theirs. Full-resolution
    # colour at quality 98, so that the reference is the truth itself, not libheif's decode (which
    # ImageMagick's shares): a tile out of place would cost ~25 levels.
    tiled = to8(photo(128, 128, seed=32))
    tiles = [
        through_files(
            ["heif-enc", "-q", "98", "-p", "chroma=444", "-o", "OUT", "IN"],
            encoded(Image.fromarray(tile), "PNG"),
            ".png",
            ".heic",
        )
        for rows in np.split(tiled, 2)
        for tile in np.split(rows, 2, axis=1)
    ]
    corpus.valid(
        "heic/grid-2x2.heic",
        heic_grid(tiles, 2, (120, 100), (64, 64)),
        tiled[:100, :120],
        "a 2x2 grid of HEVC tiles, cropped to 120x100: how iPhones store photos",
        tolerance=FULL_CHROMA_TOLERANCE,
    )
    # heif-enc keeps the PNG's ICC profile (colr prof): an iPhone's Display P3 photo, in short.
    data = through_files(
        ["heif-enc", "-q", "90", "-o", "OUT", "IN"],
        encoded(Image.fromarray(to8(rgb01), "RGB"), "PNG", icc_profile=DISPLAY_P3),
        ".png",
        ".heic",
    )
    corpus.valid(
        "heic/icc-p3.heic",
        data,
        shown_through_icc(heif_convert(data)[..., :3], DISPLAY_P3) * 255,
        "heif-enc, a Display P3 ICC profile",
        tolerance=WIDE_GAMUT_TOLERANCE,
    )
    clear = through_files(["heif-enc", "-q", "90", "-o", "OUT", "IN"], transparent, ".png", ".heic")
    corpus.valid(
        "heic/alpha.heic",
        clear,
        heif_convert(clear),
        "transparent HEIC: as transparent AVIF",
        tolerance=SUBSAMPLED_TOLERANCE,
    )
    premultiplied = through_files(
        ["heif-enc", "-q", "90", "--premultiplied-alpha", "-o", "OUT", "IN"],
        encoded(Image.fromarray(rgba8(rgb01 * alpha01[..., None], alpha01), "RGBA"), "PNG"),
        ".png",
        ".heic",
    )
    stored = heif_convert(premultiplied).astype(float)  # its colour left premultiplied
    colour, alpha = stored[..., :3], stored[..., 3:] / 255
    corpus.valid(
        "heic/alpha-premultiplied.heic",
        premultiplied,
        np.dstack([np.divide(colour, alpha, out=np.zeros_like(colour), where=alpha > 0), alpha * 255]),
        "premultiplied alpha (a prem reference): as the premultiplied AVIF",
        tolerance=PREMULTIPLIED_TOLERANCE,
        visible_from=PREMULTIPLIED_VISIBLE_FROM,
    )


# --- TIFF -------------------------------------------------------------------------------------

TIFF_SIZE = (47, 31)


def add_tiffs(corpus: Corpus) -> None:
    rgb01 = photo(*TIFF_SIZE, seed=41)
    alpha01 = alpha_ramp(*TIFF_SIZE)
    image = Image.fromarray(to8(rgb01), "RGB")
    for compression in ("raw", "tiff_lzw", "tiff_adobe_deflate", "packbits"):
        corpus.valid(
            f"tiff/{compression}.tif",
            encoded(image, "TIFF", compression=compression),
            to8(rgb01),
            f"RGB, {compression}",
        )
    jpeg_tiff = encoded(image, "TIFF", compression="jpeg", quality=95)
    corpus.valid(
        "tiff/jpeg.tif", jpeg_tiff, np.array(Image.open(io.BytesIO(jpeg_tiff)).convert("RGBA")), "RGB, JPEG-compressed"
    )
    deep = run([CONVERT, "png:-", "-compress", "LZW", "tiff:-"], png16(rgb01))
    corpus.valid("tiff/16bit-lzw.tif", deep, rgb01 * 255, "16 bits per sample, LZW")
    grey = np.rint(rgb01.mean(axis=2) * 65535).astype(np.uint16)
    corpus.valid(
        "tiff/16bit-grey.tif",
        encoded(Image.fromarray(grey), "TIFF"),
        np.repeat(grey[..., None] / 257, 3, axis=2),
        "16-bit greyscale",
    )
    cmyk = image.convert("CMYK")
    corpus.valid(
        "tiff/cmyk.tif",
        encoded(cmyk, "TIFF", compression="tiff_lzw"),
        np.array(cmyk.convert("RGB")),
        "CMYK without a profile",
    )
    second = Image.fromarray(to8(photo(*TIFF_SIZE, seed=42)), "RGB")
    corpus.valid(
        "tiff/multipage.tif",
        encoded(image, "TIFF", save_all=True, append_images=[second]),
        to8(rgb01),
        "two pages: the first",
    )
    clear = Image.fromarray(rgba8(rgb01, alpha01), "RGBA")
    corpus.valid(
        "tiff/alpha-unassociated.tif",
        encoded(clear, "TIFF", compression="tiff_lzw"),
        rgba8(rgb01, alpha01),
        "RGBA, unassociated alpha",
    )
    associated = run([CONVERT, "png:-", "-define", "tiff:alpha=associated", "tiff:-"], encoded(clear, "PNG"))
    corpus.valid(
        "tiff/alpha-associated.tif", associated, rgba8(rgb01, alpha01), "RGBA, associated (premultiplied) alpha"
    )
    stored = image.transpose(Image.Transpose.ROTATE_90)
    corpus.valid("tiff/orientation-6.tif", encoded(stored, "TIFF", tiffinfo={274: 6}), to8(rgb01), "Orientation tag 6")
    bilevel = image.convert("1", dither=Image.Dither.NONE)
    corpus.valid(
        "tiff/bilevel-g4.tif",
        encoded(bilevel, "TIFF", compression="group4"),
        np.array(bilevel.convert("RGB")),
        "1-bit, CCITT G4",
    )
    corpus.valid(
        "tiff/harmless-unknown-tag.tif",
        encoded(image, "TIFF", tiffinfo={65000: "private"}),
        to8(rgb01),
        "an unknown private tag: libtiff warns; the pixels are whole",
    )


# --- BMP --------------------------------------------------------------------------------------

BMP_SIZE = (35, 21)


def bmp(rows: np.ndarray, bits: int, *, palette: np.ndarray | None = None, masks=None, top_down: bool = False) -> bytes:
    """A BMP of `rows` (top row first; HxW indices or HxWxN bytes, already in file order):
    a BITMAPINFOHEADER with a palette, or a BITMAPV5HEADER with bit masks."""
    height, width = rows.shape[:2]
    stride = (width * bits + 31) // 32 * 4
    if rows.ndim == 2:  # palette indices, packed most significant first
        per_byte = 8 // bits
        padded = np.pad(rows.astype(np.uint8), ((0, 0), (0, -width % per_byte)))
        groups = padded.reshape(height, -1, per_byte) << (bits * np.arange(per_byte - 1, -1, -1)).astype(np.uint8)
        lines = [line.tobytes() for line in groups.sum(axis=2, dtype=np.uint8)]
    else:
        lines = [line.tobytes() for line in rows]
    body = b"".join(line.ljust(stride, b"\0") for line in (lines if top_down else lines[::-1]))
    colours = (
        b"" if palette is None else np.column_stack([palette[:, ::-1], np.zeros(len(palette), np.uint8)]).tobytes()
    )
    size = 124 if masks else 40
    info = struct.pack(
        "<IiiHHIIiiII",
        size,
        width,
        -height if top_down else height,
        1,
        bits,
        3 if masks else 0,
        len(body),
        2835,
        2835,
        len(colours) // 4,
        0,
    )
    if masks:
        info += struct.pack("<4I", *masks) + b"BGRs" + bytes(36 + 12) + struct.pack("<4I", 4, 0, 0, 0)
    offset = 14 + len(info) + len(colours)
    return b"BM" + struct.pack("<IHHI", offset + len(body), 0, 0, offset) + info + colours + body


def add_bmps(corpus: Corpus) -> None:
    rgb01 = photo(*BMP_SIZE, seed=51)
    rgb8 = to8(rgb01)
    bgr = rgb8[..., ::-1]
    for bits in (1, 4, 8):
        indices, palette = palette_of(rgb01, 2**bits)
        corpus.valid(
            f"bmp/{bits}bit-palette.bmp", bmp(indices, bits, palette=palette), palette[indices], f"{bits}-bit palette"
        )
    corpus.valid("bmp/24bit.bmp", bmp(bgr, 24), rgb8, "24-bit, bottom-up")
    corpus.valid("bmp/24bit-top-down.bmp", bmp(bgr, 24, top_down=True), rgb8, "24-bit, top-down (negative height)")
    padded = np.dstack([bgr, np.zeros(rgb8.shape[:2], np.uint8)])
    corpus.valid(
        "bmp/32bit-no-alpha.bmp", bmp(padded, 32), rgb8, "32-bit BI_RGB: the fourth byte is padding (zero), not alpha"
    )
    alpha8 = to8(alpha_ramp(*BMP_SIZE))
    masks = (0x00FF0000, 0x0000FF00, 0x000000FF, 0xFF000000)
    corpus.valid(
        "bmp/32bit-alpha.bmp",
        bmp(np.dstack([bgr, alpha8]), 32, masks=masks),
        np.dstack([rgb8, alpha8]),
        "32-bit, BITMAPV5HEADER with an alpha mask",
    )
    r5, g6, b5 = (np.rint(rgb01[..., index] * top).astype(np.uint16) for index, top in enumerate((31, 63, 31)))
    words = (r5 << 11 | g6 << 5 | b5).astype("<u2")
    widen = [(value << (8 - bits)) | (value >> (2 * bits - 8)) for value, bits in ((r5, 5), (g6, 6), (b5, 5))]
    corpus.valid(
        "bmp/16bit-565.bmp",
        bmp(words.view(np.uint8).reshape(*words.shape, 2), 16, masks=(0xF800, 0x07E0, 0x001F, 0)),
        np.dstack(widen),
        "16-bit 5-6-5 bit fields",
    )
    indices, palette = palette_of(rgb01, 256)
    rle = run([CONVERT, "bmp:-", "-compress", "RLE", "bmp3:-"], bmp(indices, 8, palette=palette))
    corpus.valid("bmp/8bit-rle.bmp", rle, palette[indices], "8-bit palette, RLE8")


# --- Tiny images: below SSIMULACRA2's 8x8 ----------------------------------------------------------


def add_tiny(corpus: Corpus) -> None:
    for width, height in ((1, 1), (2, 1), (7, 7), (8, 8), (1, 40)):
        rgb01 = photo(width, height, seed=width * 10 + height)
        corpus.valid(
            f"tiny/{width}x{height}.png",
            encoded(Image.fromarray(to8(rgb01), "RGB"), "PNG"),
            to8(rgb01),
            f"{width}x{height} RGB",
        )
    indices = np.array([[0, 1]], np.uint8)
    palette = np.array([[200, 30, 40], [20, 90, 220]], np.uint8)
    image = Image.fromarray(indices, "P")
    image.putpalette(palette.flatten().tolist())
    corpus.valid("tiny/2x1-palette.png", encoded(image, "PNG"), palette[indices], "2x1 palette (issue 20)")
    data = cjpeg(to8(photo(3, 2, seed=3)))
    corpus.valid("tiny/3x2.jpg", data, decoded(data), "3x2 JPEG")


# --- Damaged files --------------------------------------------------------------------------------


def animated_webp(*frames: bytes) -> bytes:
    """img2webp's lossless animation of PNG `frames`, 100 ms each."""
    with tempfile.TemporaryDirectory() as folder:
        paths = [Path(folder) / f"{index}.png" for index in range(len(frames))]
        for path, frame in zip(paths, frames, strict=True):
            path.write_bytes(frame)
        target = Path(folder) / "animated.webp"
        run(["img2webp", "-lossless", "-d", "100", *map(str, paths), "-o", str(target)])
        return target.read_bytes()


def add_damaged(corpus: Corpus) -> None:
    big = cjpeg(to8(photo(640, 480, seed=61)), "-quality", "95")
    scan = big.rindex(b"\xff\xda")
    jpegs = {
        "first-30kb": big[:30_000],
        "half": big[: len(big) // 2],
        "last-byte-missing": big[:-1],
        "eoi-missing": big[:-2],
        "headers-only": big[: scan + 14],
        "inside-quantisation-table": big[: big.index(b"\xff\xdb") + 20],
        "scan-cut-then-eoi": big[: len(big) // 2] + b"\xff\xd9",
        "bytes-before-eoi": big[:-2] + b"\0" * 16 + b"\xff\xd9",
    }
    for label, data in jpegs.items():
        corpus.refused(
            f"damaged/jpeg-{label}.jpg", data, f"JPEG {label.replace('-', ' ')}: libjpeg reports corrupt data"
        )
    picture = png_bytes(png_picture(6, 8))
    idat = picture.index(b"IDAT") - 4
    idat_end = picture.index(b"IEND") - 4
    bad_crc = bytearray(picture)
    bad_crc[idat_end - 1] ^= 0xFF
    stream = bytearray(picture[idat + 8 : idat_end - 4])
    stream[-1] ^= 0xFF  # the last byte of zlib's Adler-32, under a correct CRC
    bad_adler = picture[:idat] + png_chunk(b"IDAT", bytes(stream)) + picture[idat_end:]
    pngs = {
        "in-ihdr": picture[:20],
        "before-idat": picture[:idat],
        "idat-third": picture[: idat + (idat_end - idat) // 3],
        "idat-last-bytes": picture[: idat_end - 6],
        "idat-bad-crc": bytes(bad_crc),
        "idat-bad-adler32": bad_adler,
    }
    for label, data in pngs.items():
        corpus.refused(f"damaged/png-{label}.png", data, f"PNG {label.replace('-', ' ')}")
    gif = encoded(gif_picture(71)[0], "GIF", interlace=False)
    _, descriptor = gif_blocks(gif)
    for label, data in {"after-screen": gif[:13], "mid-image": gif[: (descriptor + len(gif)) // 2]}.items():
        corpus.refused(f"damaged/gif-{label}.gif", data, f"GIF truncated {label.replace('-', ' ')}")
    opaque_png = encoded(Image.fromarray(to8(photo(160, 120, seed=72)), "RGB"), "PNG")
    lossy = through_files(["cwebp", "-quiet", "-q", "90", "IN", "-o", "OUT"], opaque_png, ".png", ".webp")
    lossless = through_files(["cwebp", "-quiet", "-lossless", "IN", "-o", "OUT"], opaque_png, ".png", ".webp")
    webps = {
        "lossy-half": lossy[: len(lossy) // 2],
        "lossless-90-percent": lossless[: len(lossless) * 9 // 10],
        "header-only": lossy[:30],
    }
    # ImageMagick 6 reads these with no error and no pixels (a 500 before its reader checked).
    animation = animated_webp(opaque_png, encoded(Image.fromarray(to8(photo(160, 120, seed=75)), "RGB"), "PNG"))
    first_frame = animation.index(b"ANMF") + 8 + 16 + 8  # past ANMF's header, its frame fields, VP8L's header
    webps["animated-first-frame-header-garbled"] = (
        animation[:first_frame]
        + bytes(byte ^ 0xFF for byte in animation[first_frame : first_frame + 8])
        + animation[first_frame + 8 :]
    )
    webps["animated-bytes-inserted-in-first-frame"] = (
        animation[: first_frame + 40] + bytes(37) + animation[first_frame + 40 :]
    )
    for label, data in webps.items():
        corpus.refused(f"damaged/webp-{label}.webp", data, f"WebP {label.replace('-', ' ')}")
    tiff = encoded(Image.fromarray(to8(photo(160, 120, seed=73)), "RGB"), "TIFF")
    corpus.refused("damaged/tiff-strips-cut.tif", tiff[: len(tiff) // 2], "TIFF whose strips end early")
    lzw = encoded(Image.fromarray(to8(photo(160, 120, seed=73)), "RGB"), "TIFF", compression="tiff_lzw")
    corpus.refused(
        "damaged/tiff-lzw-half.tif", lzw[: len(lzw) // 2], "LZW TIFF cut in half (its directory is at the end)"
    )
    bitmap = bmp(to8(photo(64, 48, seed=74))[..., ::-1], 24)
    corpus.refused("damaged/bmp-half.bmp", bitmap[: len(bitmap) // 2], "BMP whose pixel rows end early")
    avif = through_files(["avifenc", "-s", "8", "IN", "OUT"], opaque_png, ".png", ".avif")
    corpus.refused("damaged/avif-half.avif", avif[: len(avif) // 2], "AVIF whose coded frame ends early")
    heic = through_files(["heif-enc", "-q", "90", "-o", "OUT", "IN"], opaque_png, ".png", ".heic")
    corpus.refused("damaged/heic-80-percent.heic", heic[: len(heic) * 8 // 10], "HEIC whose coded frame ends early")


def main(dest: Path) -> None:
    corpus = Corpus(dest)
    for add in (add_pngs, add_jpegs, add_gifs, add_webps, add_heifs, add_tiffs, add_bmps, add_tiny, add_damaged):
        add(corpus)
    corpus.write_manifest()
    counts: dict[str, int] = {}
    for entry in corpus.entries:
        counts[entry.name.split("/")[0]] = counts.get(entry.name.split("/")[0], 0) + 1
    print(f"{len(corpus.entries)} files in {dest}: " + ", ".join(f"{group} {count}" for group, count in counts.items()))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__.split("\n\n")[1])
    main(Path(sys.argv[1]))
