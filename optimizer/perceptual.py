"""Perceptual quality of an encoding, and the cheap image features the search starts from.

Scores are SSIMULACRA 2.1 (optimizer.ssimulacra2) of the decoded encoding against the prepared
image (decoded, oriented, sRGB, resized: what the customer asked to be compressed), both at full
size. Transparent images are scored flattened onto MAGENTA: a colour no page uses, so damaged
or lost transparency shows as loudly as it can (it reads up to ~3 points lower than the reference
tool's dark and light greys on soft-edged logos: the pessimistic choice).
"""

from concurrent.futures import Executor, Future

import cv2
import numpy as np
import numpy.typing as npt

from optimizer import ssimulacra2
from optimizer.pixels import Pixels

MAGENTA = (255, 0, 255)
# A graphic (logo, chart, screenshot, icon): at least this share of its pixels equal to their
# left neighbour, and at most GRAPHIC_MAX_COLOURS colours in a 1-in-25 sample. Flatness alone
# also matches smooth wallpapers, few colours alone grey photos and scans, where lossless WebP is
# 3-5x larger than lossy.
GRAPHIC_FLATNESS = 0.5
GRAPHIC_MAX_COLOURS = 4096
KEEP_MAX_PIXELS = 5_000_000

Rgb = npt.NDArray[np.uint8]


def flattened(pixels: Pixels, step: int = 1) -> Rgb:
    """(H, W, 3) 8-bit sRGB: the pixels composited onto MAGENTA (a view when opaque), rounded;
    with `step`, only every `step`th pixel of every `step`th row."""
    samples = np.frombuffer(pixels.data, np.uint8).reshape(pixels.height, pixels.width, len(pixels.layout))
    samples = samples[::step, ::step]
    if not pixels.has_alpha:
        return samples
    # Composited onto a channel level of 255, (c a + 255 (255 - a)) / 255 rounds to round(c a / 255)
    # + (255 - a); onto 0, to round(c a / 255) (MAGENTA's levels are 255 and 0). OpenCV's multiply
    # rounds c a / 255 exactly (never within 1/255 of a half), in ~1/7 of numpy's time.
    red, green, blue, alpha = cv2.split(np.ascontiguousarray(samples))
    rest = cv2.bitwise_not(alpha)
    over = cv2.merge([cv2.multiply(channel, alpha, scale=1 / 255) for channel in (red, green, blue)])
    return cv2.add(over, cv2.merge([rest if level == 255 else np.zeros_like(rest) for level in MAGENTA]))


class Reference:
    """The prepared image, ready to score encodings against."""

    def __init__(self, pixels: Pixels) -> None:
        self._pixels = pixels
        self._metric: ssimulacra2.Reference | None = None
        self._prepared: Future[ssimulacra2.Reference] | None = None

    def prepare_on(self, executor: Executor) -> None:
        """Do the reference's half of the metric's work on `executor` (another core) while the
        first encoding runs: the first score then costs what the later ones do."""
        self._prepared = executor.submit(self.prepared)

    def score(self, decoded: Pixels) -> float:
        """SSIMULACRA2 of an encoding (decoded again) against this image."""
        if self._metric is None:
            self._metric = self._prepared.result() if self._prepared else self.prepared()
        return self._metric.score(flattened(decoded))

    def prepared(self) -> ssimulacra2.Reference:
        """The reference's half of the metric's work, done now."""
        # Keeping the reference's half of the metric's work makes every score ~30% cheaper, for
        # ~14 bytes per pixel more: up to 5 megapixels (70 MB), where a worker's peak stays within
        # what the largest accepted AVIF takes (bench/memory.py: up to ~840 MB, of the 1 GiB
        # ceiling); not for larger images, where memory is tight.
        keep = self._pixels.width * self._pixels.height <= KEEP_MAX_PIXELS
        metric = ssimulacra2.Reference(flattened(self._pixels), keep=keep)
        metric.prepare()
        return metric


def is_graphic(pixels: Pixels) -> bool:
    return flatness(pixels) >= GRAPHIC_FLATNESS and sampled_colours(pixels) <= GRAPHIC_MAX_COLOURS


def flatness(pixels: Pixels) -> float:
    """Share of pixels equal to their left neighbour (alpha included), on every fourth row: ~0 for
    photos, > 0.5 for UI, charts and logos. Mostly transparent soft-edged art counts as not flat."""
    rows = np.frombuffer(pixels.data, np.uint8).reshape(pixels.height, pixels.width, len(pixels.layout))
    samples = rows[::4]
    if pixels.width < 2:
        return 0.0
    # Channel by channel: numpy's all() along a 3- or 4-long axis is ~10x slower (12 ms at 2.4 MP).
    same = samples[:, 1:, 0] == samples[:, :-1, 0]
    for channel in range(1, samples.shape[2]):
        same &= samples[:, 1:, channel] == samples[:, :-1, channel]
    if not pixels.has_alpha:
        return float(same.mean())
    opaque = samples[..., 3] == 255
    both = opaque[:, 1:] & opaque[:, :-1]
    return float(same[both].mean()) if both.mean() > 0.1 else 0.0


def detail(pixels: Pixels) -> float:
    """The mean luma step (0-255) between neighbouring pixels, on every other row and column:
    how much texture the image has, which predicts its bytes per pixel well."""
    luma = flattened(pixels, step=2).astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    if min(luma.shape) < 2:
        return 0.0
    return float(np.abs(np.diff(luma, axis=1)).mean() + np.abs(np.diff(luma, axis=0)).mean()) / 2


def has_at_most_colours(pixels: Pixels, limit: int) -> bool:
    """Whether the image has at most `limit` colours, counted exactly: RGBA as stored, every fully
    transparent pixel one colour (libwebp stores them alike). A sample cannot tell: the few pixels
    of anti-aliased edges slip through it (a chart of 1,034 colours shows 235 in sampled_colours).
    The sample first, which settles most images (more than `limit` there is more than `limit` in
    all); then every colour where a run of equal pixels starts (a colour first appears at the start
    of a run, and a graphic's runs are long): ~17 ms at 2.4 MP, ~0.4 ms at 128 x 128."""
    if sampled_colours(pixels) > limit:
        return False
    samples = np.frombuffer(pixels.data, np.uint8).reshape(-1, len(pixels.layout)).astype(np.uint32)
    colours = samples[:, 0] << 16 | samples[:, 1] << 8 | samples[:, 2]
    if pixels.has_alpha:
        colours = colours << 8 | samples[:, 3]
        colours[samples[:, 3] == 0] = 0  # fully transparent: one colour, whatever its RGB
    starts = np.empty(colours.size, np.bool_)
    starts[0] = True
    np.not_equal(colours[1:], colours[:-1], out=starts[1:])
    return np.unique(colours[starts]).size <= limit


def sampled_colours(pixels: Pixels) -> int:
    """Distinct colours (flattened) in every fifth pixel of every fifth row (exact counting
    costs 100+ ms at 1920 px; photos still show tens of thousands in the sample)."""
    sample = flattened(pixels, step=5).reshape(-1, 3).astype(np.uint32)
    return int(np.unique(sample[:, 0] << 16 | sample[:, 1] << 8 | sample[:, 2]).size)
