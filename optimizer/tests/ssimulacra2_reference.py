"""Slow, literal float64 port of SSIMULACRA 2.1, used only as a test oracle.

Mirrors cloudinary/ssimulacra2 src/ssimulacra2.cc line by line, including the
*recursive* (IIR) Gaussian of libjxl lib/jxl/gauss_blur.cc, run vectorised over
rows/columns. Deliberately unoptimised: its job is to be obviously faithful.
"""

from __future__ import annotations

import math

import numpy as np

from optimizer.ssimulacra2 import WEIGHTS  # the 108 weights are data, checked separately

K_C2 = 0.0009
OPSIN = np.array(
    [
        [0.30, 1.0 - 0.078 - 0.30, 0.078],
        [0.23, 1.0 - 0.078 - 0.23, 0.078],
        [0.24342268924547819, 0.20476744424496821, 1.0 - 0.24342268924547819 - 0.20476744424496821],
    ]
)
BIAS = 0.0037930732552754493


def create_recursive_gaussian(sigma: float) -> tuple[int, list[float], list[float]]:
    """CreateRecursiveGaussian(): Charalampidis 2016 truncated-cosine IIR."""
    radius = float(round(3.2795 * sigma + 0.2546))
    pi_div_2r = math.pi / (2.0 * radius)
    omega = [pi_div_2r, 3.0 * pi_div_2r, 5.0 * pi_div_2r]
    p1 = +1.0 / math.tan(0.5 * omega[0])
    p3 = -1.0 / math.tan(0.5 * omega[1])
    p5 = +1.0 / math.tan(0.5 * omega[2])
    r1 = +p1 * p1 / math.sin(omega[0])
    r3 = -p3 * p3 / math.sin(omega[1])
    r5 = +p5 * p5 / math.sin(omega[2])
    rho = [math.exp(-0.5 * sigma * sigma * w * w) / radius for w in omega]
    d13 = p1 * r3 - r1 * p3
    d35 = p3 * r5 - r3 * p5
    d51 = p5 * r1 - r5 * p1
    zeta15, zeta35 = d35 / d13, d51 / d13
    a = np.array([[p1, p3, p5], [r1, r3, r5], [zeta15, zeta35, 1.0]])
    gamma = np.array([1.0, radius * radius - sigma * sigma, zeta15 * rho[0] + zeta35 * rho[1] + rho[2]])
    beta = np.linalg.solve(a, gamma)
    n2 = [-beta[i] * math.cos(omega[i] * (radius + 1.0)) for i in range(3)]
    d1 = [-2.0 * math.cos(omega[i]) for i in range(3)]
    return int(radius), n2, d1


RG = create_recursive_gaussian(1.5)


def iir_along_axis0(x: np.ndarray) -> np.ndarray:
    """FastGaussian1D / VerticalStrip recursion along axis 0 (zero outside)."""
    n_rad, n2, d1 = RG
    size = x.shape[0]
    out = np.zeros_like(x)
    prev = [np.zeros_like(x[0]) for _ in range(3)]
    prev2 = [np.zeros_like(x[0]) for _ in range(3)]
    zero = np.zeros_like(x[0])
    for n in range(-n_rad + 1, size):
        left, right = n - n_rad - 1, n + n_rad - 1
        s = (x[left] if left >= 0 else zero) + (x[right] if right < size else zero)
        outs = [n2[k] * s - d1[k] * prev[k] - prev2[k] for k in range(3)]
        prev2, prev = prev, outs
        if n >= 0:
            out[n] = outs[0] + outs[1] + outs[2]
    return out


def blur(plane: np.ndarray) -> np.ndarray:
    """FastGaussian(): horizontal pass then vertical pass."""
    tmp = iir_along_axis0(plane.T).T
    return iir_along_axis0(tmp)


def srgb_to_linear(v: np.ndarray) -> np.ndarray:
    v = v / 255.0
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def to_positive_xyb(lin: np.ndarray) -> np.ndarray:
    mixed = np.einsum("ij,hwj->hwi", OPSIN, lin) + BIAS
    mixed = np.cbrt(np.maximum(mixed, 0.0)) - np.cbrt(BIAS)
    x = 0.5 * (mixed[..., 0] - mixed[..., 1])
    y = 0.5 * (mixed[..., 0] + mixed[..., 1])
    b = mixed[..., 2]
    return np.stack([x * 14.0 + 0.42, y + 0.01, (b - y) + 0.55])  # (3, H, W)


def downsample(img: np.ndarray) -> np.ndarray:
    h, w, _ = img.shape
    oh, ow = (h + 1) // 2, (w + 1) // 2
    out = np.zeros((oh, ow, 3))
    for iy in range(2):
        for ix in range(2):
            ys = np.minimum(np.arange(oh) * 2 + iy, h - 1)
            xs = np.minimum(np.arange(ow) * 2 + ix, w - 1)
            out += img[ys][:, xs]
    return out * 0.25


def ssimulacra2_reference(ref: np.ndarray, dist: np.ndarray) -> float:
    lin1, lin2 = srgb_to_linear(ref.astype(np.float64)), srgb_to_linear(dist.astype(np.float64))
    scales = []
    h, w = lin1.shape[:2]
    for scale in range(6):
        if w < 8 or h < 8:
            break
        if scale:
            lin1, lin2 = downsample(lin1), downsample(lin2)
            h, w = lin1.shape[:2]
        img1, img2 = to_positive_xyb(lin1), to_positive_xyb(lin2)
        ssim, edge = np.zeros(6), np.zeros(12)
        for c in range(3):
            a, b = img1[c], img2[c]
            s11, s22, s12 = blur(a * a), blur(b * b), blur(a * b)
            mu1, mu2 = blur(a), blur(b)
            num_m = 1.0 - (mu1 - mu2) ** 2
            num_s = 2 * (s12 - mu1 * mu2) + K_C2
            denom_s = (s11 - mu1 * mu1) + (s22 - mu2 * mu2) + K_C2
            d = np.maximum(1.0 - num_m * num_s / denom_s, 0.0)
            ssim[2 * c] = d.mean()
            ssim[2 * c + 1] = (d**4).mean() ** 0.25
            d1 = (1.0 + np.abs(b - mu2)) / (1.0 + np.abs(a - mu1)) - 1.0
            art, lost = np.maximum(d1, 0.0), np.maximum(-d1, 0.0)
            edge[4 * c : 4 * c + 4] = [art.mean(), (art**4).mean() ** 0.25, lost.mean(), (lost**4).mean() ** 0.25]
        scales.append((ssim, edge))
    total, i = 0.0, 0
    for c in range(3):
        for ssim, edge in scales:
            for n in range(2):
                total += WEIGHTS[i] * abs(ssim[c * 2 + n])
                total += WEIGHTS[i + 1] * abs(edge[c * 4 + n])
                total += WEIGHTS[i + 2] * abs(edge[c * 4 + n + 2])
                i += 3
    total *= 0.9562382616834844
    total = 2.326765642916932 * total - 0.020884521182843837 * total**2 + 6.248496625763138e-05 * total**3
    return 100.0 - 10.0 * total**0.6276336467831387 if total > 0 else 100.0
