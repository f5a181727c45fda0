"""SSIMULACRA 2.1 perceptual image metric: a numpy/OpenCV port of the reference.

Ported from cloudinary/ssimulacra2 ``src/ssimulacra2.cc`` @ fb5d0dbe (SSIMULACRA
2.1, April 2023, identical to libjxl ``tools/ssimulacra2.cc`` since then) and the
libjxl code it calls: ``lib/jxl/gauss_blur.cc`` (CreateRecursiveGaussian,
FastGaussian), ``lib/jxl/enc_xyb.cc`` (ToXYB) and ``lib/jxl/cms/opsin_params.h``.

Validated against a C++ build of the 2.1 tool on libjxl 0.7.0 (median |difference|
0.013 over 17 photo pairs, at most 0.3 where the C++ tool's float32 recursive blur
adds rounding noise in flat areas) and against a literal float64 port; the tests
pin both. Deviations, all at float-rounding level: the blur is the recursive
filter's exact 9-tap impulse response applied as an FIR with zero borders; sRGB is
decoded with the exact IEC 61966-2-1 curve; the XYB steps after the cube root are
folded into one matrix. Input is 8-bit sRGB only (flatten alpha first).

Pipeline, per scale (1:1 .. 1:32, halved in *linear* RGB between scales):
  linear sRGB -> XYB -> rescaled "positive" XYB;
  Gaussian blur (sigma 1.5) of img1, img2, img1^2, img2^2, img1*img2;
  error maps: 1 - SSIM', "ringing" (new edges) and "blurring" (lost edges);
  1-norm and 4-norm of each map per channel;
then a weighted sum of the 6 x 3 x 3 x 2 = 108 norms and a fitted curve.

Images are kept interleaved (H, W, 3) float32 throughout, which is OpenCV's
native layout: cv2 does the table lookup, the 3x3 colour matrices, the cube
root (cv2.pow: ~10x faster than numpy's cbrt, within 3e-7 of it), the separable
blur, the 2x box downsampling and the per-channel sums (in double), and numpy
does the element-wise arithmetic. Three shortcuts leave the score as it is, and
one moves it by under a thousandth: each map of a channel is computed only at
the scales where one of its norms has a weight that counts (at full size, the
costliest scale, only Y's: see _NEGLIGIBLE_WEIGHT); what depends on the
reference alone (its local detail and variance) is computed once per reference;
and each scale's bands are shared out to two threads.

Public API: :func:`ssimulacra2`, and :class:`Reference` to score many images against one.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import cv2
import numpy as np
import numpy.typing as npt

__all__ = ["Reference", "ssimulacra2"]

F32 = npt.NDArray[np.float32]

_NUM_SCALES = 6
_C2 = np.float32(0.0009)  # kC2; SSIMULACRA 2.1 has no kC1 (see _ssim_error)

# ---------------------------------------------------------------------------
# Colour: sRGB -> linear -> XYB -> "positive" XYB
# ---------------------------------------------------------------------------


def _srgb_to_linear_lut() -> F32:
    """uint8 sRGB -> linear [0, 1] lookup table (IEC 61966-2-1 EOTF).

    libjxl's CMS applies a rational-polynomial fit of the same curve
    (TF_SRGB::DisplayFromEncoded); the two differ by < 1e-6.
    """
    v = np.arange(256, dtype=np.float64) / 255.0
    lin = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)
    return lin.astype(np.float32)


_SRGB_TO_LINEAR = _srgb_to_linear_lut()

# Opsin absorbance matrix and bias (lib/jxl/cms/opsin_params.h). ToXYB scales
# the matrix by intensity_target / 255, which is exactly 1 for SDR images.
_OPSIN_BIAS = 0.0037930732552754493
_OPSIN = np.array(
    [
        [0.30, 1.0 - 0.078 - 0.30, 0.078],
        [0.23, 1.0 - 0.078 - 0.23, 0.078],
        [0.24342268924547819, 0.20476744424496821, 1.0 - 0.24342268924547819 - 0.20476744424496821],
    ]
)
# As a 3x4 affine matrix for cv2.transform: mixed = M @ rgb + bias.
_LINEAR_TO_MIXED = np.hstack([_OPSIN, np.full((3, 1), _OPSIN_BIAS)]).astype(np.float32)

# ToXYB continues with  m_i = cbrt(mixed_i) - cbrt(bias),
#   X = (m0 - m1) / 2,  Y = (m0 + m1) / 2,  B = m2,
# and ssimulacra2's MakePositiveXYB rescales to roughly 0..1 (SSIM needs
# non-negative values with differences <= 1):
#   X' = 14 X + 0.42,   Y' = Y + 0.01,   B' = (B - Y) + 0.55.
# All of that is affine in the cube roots c_i = cbrt(mixed_i), so it folds
# into one 3x4 matrix (the cbrt(bias) terms cancel in X' and B').
_CBRT_BIAS = float(np.cbrt(np.float32(_OPSIN_BIAS)))
_CUBE_ROOTS_TO_XYB = np.array(
    [
        [7.0, -7.0, 0.0, 0.42],
        [0.5, 0.5, 0.0, 0.01 - _CBRT_BIAS],
        [-0.5, -0.5, 1.0, 0.55],
    ],
    dtype=np.float32,
)


def _positive_xyb(linear: F32, channels: list[int]) -> F32:
    """Linear sRGB (H, W, 3) -> these `channels` of ssimulacra2's positive XYB (H, W, channels)."""
    if len(channels) == 2:  # OpenCV's transform to two channels is ~6x slower than to one or three
        return _channels(_positive_xyb(linear, [0, 1, 2]), channels)
    mixed = cv2.transform(linear, _LINEAR_TO_MIXED)
    # ToXYB clamps mixed at 0 before the cube root; for in-gamut input
    # (0 <= rgb <= 1, all matrix entries positive) mixed >= bias > 0, so the
    # clamp can never trigger here and is left out.
    cv2.pow(mixed, 1 / 3, dst=mixed)
    return cv2.transform(mixed, _CUBE_ROOTS_TO_XYB[channels]).reshape(*linear.shape[:2], len(channels))


def _downsample_2x(img: F32) -> F32:
    """2x2 box average; an odd last row/column is averaged with itself.

    Same as the reference Downsample(), which clamps coordinates to the edge.
    cv2's INTER_AREA at exactly 1/2 computes ((a + b) + c + d) * 0.25.
    """
    h, w = img.shape[:2]
    if h % 2 or w % 2:
        img = cv2.copyMakeBorder(img, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)
    return cv2.resize(img, ((w + 1) // 2, (h + 1) // 2), interpolation=cv2.INTER_AREA)


# ---------------------------------------------------------------------------
# Gaussian blur, sigma 1.5
# ---------------------------------------------------------------------------


def _recursive_gaussian_taps(sigma: float) -> npt.NDArray[np.float64]:
    """Impulse response of libjxl's CreateRecursiveGaussian(sigma) filter.

    libjxl blurs with Charalampidis' (2016) recursive "truncated cosine" IIR
    filter. Its impulse response is finite, so we run the recursion of
    FastGaussian1D once over a unit impulse and use the result as an FIR
    kernel: same filter up to float rounding, and vectorisable. Equation
    numbers refer to the paper, as in gauss_blur.cc.
    """
    radius = float(round(3.2795 * sigma + 0.2546))  # (57), "N"
    pi_div_2r = math.pi / (2.0 * radius)
    omega = [pi_div_2r, 3.0 * pi_div_2r, 5.0 * pi_div_2r]
    p = [1.0 / math.tan(0.5 * omega[0]), -1.0 / math.tan(0.5 * omega[1]), 1.0 / math.tan(0.5 * omega[2])]  # (37)
    r = [p[0] ** 2 / math.sin(omega[0]), -(p[1] ** 2) / math.sin(omega[1]), p[2] ** 2 / math.sin(omega[2])]  # (44)
    rho = [math.exp(-0.5 * sigma * sigma * w * w) / radius for w in omega]  # (50)
    d_13 = p[0] * r[1] - r[0] * p[1]
    d_35 = p[1] * r[2] - r[1] * p[2]
    d_51 = p[2] * r[0] - r[2] * p[0]
    zeta_15, zeta_35 = d_35 / d_13, d_51 / d_13  # (52)
    a = np.array([p, r, [zeta_15, zeta_35, 1.0]])  # (56)
    gamma = np.array([1.0, radius * radius - sigma * sigma, zeta_15 * rho[0] + zeta_35 * rho[1] + rho[2]])  # (55)
    beta = np.linalg.solve(a, gamma)  # (53)
    n2 = [-beta[k] * math.cos(omega[k] * (radius + 1.0)) for k in range(3)]  # (33)
    d1 = [-2.0 * math.cos(omega[k]) for k in range(3)]  # (33)

    # FastGaussian1D over a zero row holding one impulse: out[n] is driven by
    # in[n - N - 1] + in[n + N - 1] and the two previous outputs of each of the
    # three cosine terms; it starts at n = 1 - N with zero state.
    n_rad = int(radius)
    width = 4 * n_rad + 1
    centre = width // 2
    response = np.zeros(width)
    prev, prev2 = [0.0] * 3, [0.0] * 3
    for n in range(1 - n_rad, width):
        s = float(n - n_rad - 1 == centre) + float(n + n_rad - 1 == centre)
        out = [n2[k] * s - d1[k] * prev[k] - prev2[k] for k in range(3)]
        prev2, prev = prev, out
        if n >= 0:
            response[n] = sum(out)
    taps = response[centre - n_rad + 1 : centre + n_rad]  # taps at +-N are ~1e-16
    if abs(np.abs(response).sum() - np.abs(taps).sum()) >= 1e-12:
        raise RuntimeError("the recursive Gaussian's response reaches beyond its radius")
    return taps


_TAPS = _recursive_gaussian_taps(1.5).astype(np.float32)  # 9 taps, sum 1


def _blur(img: F32) -> F32:
    """Separable Gaussian blur, horizontal then vertical, zero outside the image.

    libjxl's recursion reads zeros beyond the borders, hence BORDER_CONSTANT.
    """
    return cv2.sepFilter2D(img, cv2.CV_32F, _TAPS, _TAPS, borderType=cv2.BORDER_CONSTANT)


# ---------------------------------------------------------------------------
# Error maps and pooling
# ---------------------------------------------------------------------------


def _ssim_error(mu1: F32, mu2: F32, variance1: F32, s22: F32, s12: F32) -> F32:
    """SSIMMap()'s error map max(1 - SSIM', 0), per pixel and channel (`variance1`: the
    reference's s11 - mu1^2, the same for every distorted image).

    SSIM' keeps SSIM's contrast-structure term but replaces the luminance term
    2 mu1 mu2 / (mu1^2 + mu2^2 + C1) by 1 - (mu1 - mu2)^2: XYB is already
    perceptually uniform, so errors in the darks are not weighted up again
    ("no double gamma correction"). There is no C1.
    """
    num_m = mu1 - mu2
    num_m *= num_m
    np.subtract(1.0, num_m, out=num_m)  # 1 - (mu1 - mu2)^2
    num_s = s12 - mu1 * mu2
    num_s *= 2.0
    num_s += _C2  # 2 (sigma12 - mu1 mu2) + C2
    denom_s = s22 - mu2 * mu2
    denom_s += variance1
    denom_s += _C2  # (sigma11 - mu1^2) + (sigma22 - mu2^2) + C2
    d = num_m
    d *= num_s
    d /= denom_s
    np.subtract(1.0, d, out=d)
    return np.maximum(d, 0.0, out=d)


def _detail(img: F32, mu: F32) -> F32:
    """1 + |img - mu|: an image's local detail, as the edge maps compare it."""
    detail = img - mu
    np.abs(detail, out=detail)
    detail += 1.0
    return detail


def _edge_errors(detail1: F32, img2: F32, mu2: F32) -> tuple[F32, F32]:
    """EdgeDiffMap()'s "ringing" (artifact) and "blurring" (detail lost) maps.

    d1 = (1 + |img2 - mu2|) / (1 + |img1 - mu1|) - 1 compares local detail (`detail1`, the
    reference's, is the denominator): d1 > 0 where the distorted image has edges the original
    lacks (ringing, banding, blocking), d1 < 0 where original detail was smoothed away.
    """
    d1 = img2 - mu2
    np.abs(d1, out=d1)
    d1 += 1.0
    d1 /= detail1
    d1 -= 1.0
    artifact = np.maximum(d1, 0.0)
    detail_lost = np.subtract(artifact, d1, out=d1)  # == max(-d1, 0), exactly
    return artifact, detail_lost


def _power_sums(err: F32) -> npt.NDArray[np.float64]:
    """Per-channel sums of err and err^4 as a (2, channels) array.

    cv2.sumElems accumulates in double, as the reference does.
    """
    channels = err.shape[2]
    p4 = err * err
    p4 *= p4
    return np.array([cv2.sumElems(err)[:channels], cv2.sumElems(p4)[:channels]])


# Each scale is processed in horizontal bands of about _BAND_PIXELS pixels, each read with
# _HALO extra rows above and below (the blur's reach; beyond the image, the blur's own zero
# border, as the reference's): the result is exactly that of the whole image, but memory holds a few
# band-sized float32 arrays instead of a dozen full-size ones (about 250 MB at 1920x1152). Inside
# a band the error maps are evaluated in strips of about _STRIP_PIXELS, which stay in cache
# (~25% faster than full-size temporaries at 1080p). With one channel at full size (_Channels),
# strips of 131072 pixels score 13-18% faster than strips of 32768 did (0.26 to 5 MP, measured).
_BAND_PIXELS = 262144
_STRIP_PIXELS = 131072
_HALO = len(_TAPS) // 2
# Bands are scored by this many threads at once (a worker's machine has two cores or more), and
# a scale of at least _SHARED_PIXELS is cut into that many bands at least: below, a thread costs
# more than it saves (measured).
SCORE_THREADS = 2
_SHARED_PIXELS = 65536


def _band_xyb(lin: F32, top: int, bottom: int, channels: list[int]) -> F32:
    """Positive XYB (`channels` of it) of rows [top - _HALO, bottom + _HALO), cut at the image's
    edges (where the blur's zero border stands for the rows beyond)."""
    return _positive_xyb(lin[max(0, top - _HALO) : min(lin.shape[0], bottom + _HALO)], channels)


def _inner(top: int, bottom: int) -> slice:
    """Where rows [top, bottom) lie in their band read by _band_xyb."""
    start = min(top, _HALO)
    return slice(start, start + bottom - top)


class _ReferenceBand(NamedTuple):
    """The reference's half of the work on one band of one scale, the same for every distorted
    image: for the channels whose edge maps count at that scale, its local detail (_detail); for
    those whose SSIM' map counts, its XYB with the halo, blurred mean and variance."""

    top: int
    bottom: int
    detail: F32
    ssim_xyb: F32
    ssim_mu: F32
    ssim_variance: F32


# A weight this small counts for nothing: the 27 such weights (0.0021 at most; the smallest that
# counts is 0.285) move the tests' scores, heavy blocking and noise included, by 0.0006 at most,
# and 295 encodings of the benchmark's images by 0.0002 at the median, 0.0022 at most. Leaving out
# their maps spares the X and B channels at full size, the costliest scale: a score takes ~20-25%
# less time.
_NEGLIGIBLE_WEIGHT = 0.01


class _Channels(NamedTuple):
    """The channels computed at one scale: those whose SSIM' map counts, and those whose edge
    maps (ringing, blurring) count (see _counting)."""

    ssim: list[int]
    edges: list[int]

    @classmethod
    def at(cls, scale: int, num_scales: int) -> _Channels:
        return cls(_counting(scale, num_scales, maps=(0,)), _counting(scale, num_scales, maps=(1, 2)))

    @property
    def used(self) -> list[int]:
        return sorted(set(self.ssim) | set(self.edges))

    def of_used(self, channels: list[int]) -> list[int]:
        """Where `channels` lie among the used ones."""
        return [self.used.index(c) for c in channels]


def _counting(scale: int, num_scales: int, maps: tuple[int, ...]) -> list[int]:
    """The channels with a weight that counts (_NEGLIGIBLE_WEIGHT) for one of `maps` at `scale`
    (of `num_scales`): only those are computed; the maps left out are taken as 0."""
    weights = {c: [WEIGHTS[_weight_index(c, scale, n, m, num_scales)] for n in (0, 1) for m in maps] for c in range(3)}
    return [c for c, each in weights.items() if max(each) >= _NEGLIGIBLE_WEIGHT]


def _channels(img: F32, channels: list[int]) -> F32:
    """`img` (H, W, C) cut to `channels`, as a contiguous (H, W, len(channels)) array."""
    return img if channels == list(range(img.shape[2])) else np.ascontiguousarray(img[..., channels])


def _blur_channels(img: F32) -> F32:
    """_blur, keeping the channel axis that OpenCV drops from a one-channel image."""
    return _blur(img).reshape(img.shape)


def _band_rows(height: int, width: int) -> list[tuple[int, int]]:
    """Bands of about _BAND_PIXELS, and (from _SHARED_PIXELS) at least one for each thread."""
    band_rows = max(1, _BAND_PIXELS // width)
    if height * width >= _SHARED_PIXELS:
        band_rows = min(band_rows, -(-height // SCORE_THREADS))
    return [(top, min(height, top + band_rows)) for top in range(0, height, band_rows)]


def _reference_band(lin1: F32, top: int, bottom: int, channels: _Channels) -> _ReferenceBand:
    inner = _inner(top, bottom)
    xyb = _band_xyb(lin1, top, bottom, channels.used)
    mu = _blur_channels(xyb)[inner]
    ssim, edges = channels.of_used(channels.ssim), channels.of_used(channels.edges)
    ssim_xyb = _channels(xyb, ssim)
    ssim_mu = _channels(mu, ssim)
    variance = _blur_channels(ssim_xyb * ssim_xyb)[inner]
    variance -= ssim_mu * ssim_mu
    detail = _detail(_channels(xyb[inner], edges), _channels(mu, edges))
    return _ReferenceBand(top, bottom, detail, ssim_xyb, ssim_mu, variance)


def _band_sums(reference: _ReferenceBand, lin2: F32, channels: _Channels) -> npt.NDArray[np.float64]:
    """The sums of the three error maps and their 4th powers over one band, as a (map, power,
    channel) array; those of channels whose map does not count (_Channels) are left at 0."""
    top, bottom = reference.top, reference.bottom
    strip_rows = max(1, _STRIP_PIXELS // lin2.shape[1])
    inner = _inner(top, bottom)
    xyb2 = _band_xyb(lin2, top, bottom, channels.used)
    mu2 = _blur_channels(xyb2)[inner]
    ssim, edges = channels.of_used(channels.ssim), channels.of_used(channels.edges)
    ssim_xyb2 = _channels(xyb2, ssim)
    s22 = _blur_channels(ssim_xyb2 * ssim_xyb2)[inner]
    s12 = _blur_channels(reference.ssim_xyb * ssim_xyb2)[inner]
    ssim_mu2 = _channels(mu2, ssim)
    img2, edge_mu2 = _channels(xyb2[inner], edges), _channels(mu2, edges)
    sums = np.zeros((3, 2, 3))
    for y in range(0, bottom - top, strip_rows):
        strip = slice(y, y + strip_rows)
        ssim_error = _ssim_error(
            reference.ssim_mu[strip], ssim_mu2[strip], reference.ssim_variance[strip], s22[strip], s12[strip]
        )
        sums[0][:, channels.ssim] += _power_sums(ssim_error)
        artifact, detail_lost = _edge_errors(reference.detail[strip], img2[strip], edge_mu2[strip])
        sums[1][:, channels.edges] += _power_sums(artifact)
        sums[2][:, channels.edges] += _power_sums(detail_lost)
    return sums


def _scale_features(
    kept: list[_ReferenceBand] | None, lin1: F32 | None, lin2: F32, channels: _Channels, pool: ThreadPoolExecutor
) -> npt.NDArray[np.float64]:
    """The 18 norms of one scale as a (3 channels, 2 norms, 3 maps) array, its bands shared out
    to `pool` (the reference's half of each band from `kept`, or computed there).

    Maps are [SSIM', ringing, blurring]; norms are the 1-norm (mean) and the
    4-norm ((mean of x^4)^(1/4)) over all pixels.
    """
    h, w = lin2.shape[:2]
    if not channels.used:  # nothing of this scale counts (the smallest of six; else both kinds of map do)
        return np.zeros((3, 2, 3))

    def band(index: int, top: int, bottom: int) -> npt.NDArray[np.float64]:
        reference = kept[index] if kept else _reference_band(lin1, top, bottom, channels)
        return _band_sums(reference, lin2, channels)

    rows = [(band.top, band.bottom) for band in kept] if kept else _band_rows(h, w)
    # A lone band is scored here: a thread would cost more than it saves.
    sums = sum(pool.map(band, range(len(rows)), *zip(*rows, strict=True)) if len(rows) > 1 else [band(0, *rows[0])])
    means = sums / (h * w)
    means[:, 1] = np.sqrt(np.sqrt(means[:, 1]))  # 4-norm
    return means.transpose(2, 1, 0)


# ---------------------------------------------------------------------------
# Final score
# ---------------------------------------------------------------------------

# Msssim::Score() weights, in the reference's order: for channel (X, Y, B),
# for scale (1:1 .. 1:32), for norm (1, 4): [SSIM', ringing, blurring].
WEIGHTS: tuple[float, ...] = (
    0.0, 0.0007376606707406586, 0.0,
    0.0, 0.0007793481682867309, 0.0,
    0.0, 0.0004371155730107379, 0.0,
    1.1041726426657346, 0.00066284834129271, 0.00015231632783718752,
    0.0, 0.0016406437456599754, 0.0,
    1.8422455520539298, 11.441172603757666, 0.0,
    0.0007989109436015163, 0.000176816438078653, 0.0,
    1.8787594979546387, 10.94906990605142, 0.0,
    0.0007289346991508072, 0.9677937080626833, 0.0,
    0.00014003424285435884, 0.9981766977854967, 0.00031949755934435053,
    0.0004550992113792063, 0.0, 0.0,
    0.0013648766163243398, 0.0, 0.0,
    0.0, 0.0, 0.0,
    7.466890328078848, 0.0, 17.445833984131262,
    0.0006235601634041466, 0.0, 0.0,
    6.683678146179332, 0.00037724407979611296, 1.027889937768264,
    225.20515300849274, 0.0, 0.0,
    19.213238186143016, 0.0011401524586618361, 0.001237755635509985,
    176.39317598450694, 0.0, 0.0,
    24.43300999870476, 0.28520802612117757, 0.0004485436923833408,
    0.0, 0.0, 0.0,
    34.77906344483772, 44.835625328877896, 0.0,
    0.0, 0.0, 0.0,
    0.0, 0.0, 0.0,
    0.0, 0.0008680556573291698, 0.0,
    0.0, 0.0, 0.0,
    0.0, 0.0005313191874358747, 0.0,
    0.00016533814161379112, 0.0, 0.0,
    0.0, 0.0, 0.0,
    0.0004179171803251336, 0.0017290828234722833, 0.0,
    0.0020827005846636437, 0.0, 0.0,
    8.826982764996862, 23.19243343998926, 0.0,
    95.1080498811086, 0.9863978034400682, 0.9834382792465353,
    0.0012286405048278493, 171.2667255897307, 0.9807858872435379,
    0.0, 0.0, 0.0,
    0.0005130064588990679, 0.0, 0.00010854057858411537,
)  # fmt: skip


def _weight_index(channel: int, scale: int, norm: int, map: int, num_scales: int) -> int:
    """Where the weight of one norm is in WEIGHTS, for an image with `num_scales` scales."""
    return ((channel * num_scales + scale) * 2 + norm) * 3 + map


def _score(scales: list[npt.NDArray[np.float64]]) -> float:
    """Msssim::Score(): weighted sum of the norms, then the fitted curve.

    With fewer than 6 scales (small images) the reference still takes the
    weights one after another, so scale/weight pairs shift between channels;
    this is reproduced on purpose.
    """
    total = 0.0
    for c in range(3):
        for s, features in enumerate(scales):
            for n in range(2):
                for m in range(3):
                    total += WEIGHTS[_weight_index(c, s, n, m, len(scales))] * abs(float(features[c, n, m]))
    total *= 0.9562382616834844
    total = 2.326765642916932 * total - 0.020884521182843837 * total**2 + 6.248496625763138e-05 * total**3
    if total > 0.0:
        return 100.0 - 10.0 * total**0.6276336467831387
    return 100.0


def ssimulacra2(reference: npt.NDArray[np.uint8], distorted: npt.NDArray[np.uint8]) -> float:
    """SSIMULACRA 2.1 score of `distorted` against `reference`.

    Both must be uint8 sRGB arrays of shape (H, W, 3) and the same shape.
    100 means identical; lower is worse and the score can go negative. Rough
    guide from the authors: 90 visually lossless, 70 high, 50 medium, 30 low
    quality. The metric is asymmetric (swapping the arguments changes it).

    Like the reference library, a scale is computed only while the previous
    one is at least 8x8 pixels, so images under 8 pixels in either direction
    get no scale at all and score 100.0. (The reference command-line tool
    refuses such images; callers may want to do the same.)
    """
    return Reference(reference).score(distorted)


class Reference:
    """A reference image, for scoring one or many distorted versions of it.

    With `keep`, the reference's half of the work (band by band at every scale: see
    _ReferenceBand) is done once, by `prepare` or else the first score, and kept instead of its
    linear image: each later score costs about 30% less, for about 26 bytes per pixel of memory
    (12 without).
    """

    def __init__(self, reference: npt.NDArray[np.uint8], *, keep: bool = False) -> None:
        _check_image("reference", reference)
        if reference.size == 0:
            raise ValueError("empty image")
        self.shape = reference.shape
        # cv2 wants contiguous input; views from slicing are common in callers.
        self._linear: F32 | None = cv2.LUT(np.ascontiguousarray(reference), _SRGB_TO_LINEAR)
        self._keep = keep
        self._kept: list[list[_ReferenceBand]] = []

    def score(self, distorted: npt.NDArray[np.uint8]) -> float:
        _check_image("distorted", distorted)
        if distorted.shape != self.shape:
            raise ValueError(f"shape mismatch: {self.shape} vs {distorted.shape}")
        linear = cv2.LUT(np.ascontiguousarray(distorted), _SRGB_TO_LINEAR)
        self.prepare()
        channels = self._channels()
        if self._kept:
            references, pyramid = self._kept, [None] * len(channels)
        else:
            references, pyramid = [None] * len(channels), _pyramid(self._linear)
        scales = zip(references, pyramid, _pyramid(linear), channels, strict=True)
        # Bands are independent: two threads share them out (OpenCV and numpy release the GIL),
        # 1.5x faster on two cores.
        with ThreadPoolExecutor(max_workers=SCORE_THREADS) as pool:
            return _score([_scale_features(*scale, pool) for scale in scales])

    def prepare(self) -> None:
        """With `keep`, do the reference's half of the work now (else the first score does it)."""
        if self._keep and not self._kept:
            self._kept = [
                [_reference_band(lin1, top, bottom, channels) for top, bottom in _band_rows(*lin1.shape[:2])]
                if channels.used
                else []
                for lin1, channels in zip(_pyramid(self._linear), self._channels(), strict=True)
            ]
            self._linear = None  # what the scores need of it is kept

    def _channels(self) -> list[_Channels]:
        num_scales = _num_scales(*self.shape[:2])
        return [_Channels.at(scale, num_scales) for scale in range(num_scales)]


def _num_scales(height: int, width: int) -> int:
    """A scale is computed only while the previous one is at least 8x8 pixels (tested before
    downsampling, as in the reference)."""
    scales = 0
    while scales < _NUM_SCALES and height >= 8 and width >= 8:
        if scales:
            height, width = (height + 1) // 2, (width + 1) // 2
        scales += 1
    return scales


def _pyramid(linear: F32) -> Iterator[F32]:
    """The image at each scale, each half the last."""
    for scale in range(_num_scales(*linear.shape[:2])):
        if scale:
            linear = _downsample_2x(linear)
        yield linear


def _check_image(name: str, image: npt.NDArray[np.uint8]) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise TypeError(f"{name} must be a uint8 numpy array")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{name} must have shape (H, W, 3), got {image.shape}")
