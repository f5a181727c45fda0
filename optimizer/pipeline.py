"""The whole pipeline, pure: source bytes and typed options in, optimized bytes and facts out.

prepare (imaging) -> choose an encoding (compression) -> never grow. No ORM, no network; the
Celery task runs it on bytes it fetched or was handed.
"""

from dataclasses import dataclass

from optimizer.compression import RequestedFormat, choose_encoding
from optimizer.imaging import OutputFormat, PreparedImage, prepare

KEPT_SOURCE_NOTICE = "The original was already smaller than any re-encoding; it is returned unchanged."


@dataclass(frozen=True)
class OptimizeOptions:
    format: RequestedFormat = RequestedFormat.AUTO
    quality: int = 80
    max_width: int = 1920
    smart: bool = True


@dataclass(frozen=True, repr=False)
class Optimized:
    data: bytes
    format: OutputFormat
    width: int
    height: int
    original_size: int
    lossless: bool
    notice: str | None = None

    @property
    def optimized_size(self) -> int:
        return len(self.data)

    @property
    def savings(self) -> int:
        """Bytes saved; never negative (a re-encoding may be larger than a tiny source)."""
        return max(0, self.original_size - self.optimized_size)

    @property
    def savings_percent(self) -> int:
        return self.savings * 100 // self.original_size if self.original_size else 0

    def __repr__(self) -> str:
        return f"Optimized({self.format} {self.width}x{self.height}, {self.original_size} -> {self.optimized_size})"


def optimize(source: bytes, options: OptimizeOptions, *, max_pixels: int) -> Optimized:
    prepared = prepare(source, max_width=options.max_width, max_pixels=max_pixels)
    choice = choose_encoding(prepared, format=options.format, quality=options.quality, smart=options.smart)
    encoded = choice.encoded
    if len(encoded.data) > len(source) and _source_fits(prepared, options, returned=encoded.format):
        # Never grow: the source already is an acceptable answer, and a smaller one.
        return Optimized(
            data=source,
            format=OutputFormat.of_source(prepared.source.format),
            width=prepared.source.width,
            height=prepared.source.height,
            original_size=len(source),
            lossless=False,
            notice=KEPT_SOURCE_NOTICE,
        )
    return Optimized(
        data=encoded.data,
        format=encoded.format,
        width=prepared.pixels.width,
        height=prepared.pixels.height,
        original_size=len(source),
        lossless=encoded.lossless,
        notice=choice.notice,
    )


def _source_fits(prepared: PreparedImage, options: OptimizeOptions, *, returned: OutputFormat) -> bool:
    """Whether the source could be returned as it is: in an acceptable format, within maxWidth."""
    source = prepared.source
    acceptable = {*options.format.candidates, returned}
    return OutputFormat.of_source(source.format) in acceptable and source.width <= options.max_width
