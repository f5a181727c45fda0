"""Pixels: the decoded image every step after preparation passes along (colour conversion, the
encoders, the perceptual score), as plain 8-bit sRGB samples.
"""

from dataclasses import dataclass
from typing import Literal

import numpy as np


@dataclass(frozen=True, repr=False)
class Pixels:
    """8-bit sRGB samples, row by row, without metadata: `RGBA` when any pixel is not fully
    opaque, else `RGB`."""

    data: bytes
    width: int
    height: int
    has_alpha: bool

    @property
    def layout(self) -> Literal["RGB", "RGBA"]:
        return "RGBA" if self.has_alpha else "RGB"

    def alpha_samples(self) -> np.ndarray:
        """The alpha sample of every pixel (255 everywhere for opaque images), as a view of the
        data where there is alpha: no copy."""
        if self.has_alpha:
            return np.frombuffer(self.data, np.uint8)[3::4]
        return np.broadcast_to(np.uint8(255), (self.width * self.height,))

    def __repr__(self) -> str:
        return f"Pixels({self.layout} {self.width}x{self.height})"


# Pixels converted to sRGB, or compared for alpha, at a time: float32 working copies of ~3 MB,
# whatever the image size.
CHUNK_PIXELS = 1 << 18
