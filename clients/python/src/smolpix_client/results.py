"""What the API answers, as typed values."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Union

from smolpix_client.files import IMAGE_EXTENSIONS, write_atomically

PathLike = Union[str, os.PathLike]
# The extensions `save` replaces by the result's, as the command names its results: any other ending
# is part of the name.
IMAGE_SUFFIXES = IMAGE_EXTENSIONS


@dataclass(frozen=True)
class QualityScore:
    """The measured perceptual quality of a result (with `smart`): 100 is identical to the source."""

    metric: str  # "ssimulacra2"
    score: float


@dataclass(frozen=True)
class OptimizeResult:
    """One optimized image: the figures the API returned and the image itself (`data`)."""

    original_size: int
    optimized_size: int
    savings: int
    savings_percent: int
    format: str  # "webp" or "avif"
    width: int
    height: int
    content_type: str
    lossless: bool
    notice: str | None  # why the result differs from what was asked, if it does
    quality: QualityScore | None  # None with smart=False: nothing was measured
    data: bytes

    def __repr__(self) -> str:  # not the bytes
        return (
            f"OptimizeResult({self.format} {self.width}x{self.height}, "
            f"{self.original_size} -> {self.optimized_size} bytes, -{self.savings_percent}%)"
        )

    def save(self, path: PathLike) -> Path:
        """Write the image to `path` with the returned format's extension (`photo.jpg` and `photo`
        become `photo.webp` or `photo.avif`; `img.1` and `holiday.2024`, whose endings are not an
        image format's, become `img.1.webp` and `holiday.2024.webp`), atomically, and return the
        path written."""
        target = Path(path)
        suffix = f".{self.format}"
        if target.suffix.lower() in IMAGE_SUFFIXES:
            target = target.with_suffix(suffix)
        else:  # Path.with_suffix would take ".1" for an extension: `img.1` and `img.2` would meet
            target = target.with_name(target.name + suffix)
        write_atomically(target, self.data)
        return target


@dataclass(frozen=True)
class Usage:
    """The account's plan, limits and this month's use (`GET /api/v1/usage`)."""

    plan: str
    monthly_limit: int | None  # None: unlimited
    used: int
    remaining: int | None  # None: unlimited
    month: str  # "2025-06"
    resets_at: datetime  # when `used` starts again from zero (UTC)
    rate_limit_per_minute: int

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Usage:
        return cls(
            plan=body["plan"],
            monthly_limit=body["monthlyLimit"],
            used=body["used"],
            remaining=body["remaining"],
            month=body["month"],
            # Python < 3.11 does not read the "Z" suffix.
            resets_at=datetime.fromisoformat(body["resetsAt"].replace("Z", "+00:00")),
            rate_limit_per_minute=body["rateLimitPerMinute"],
        )
