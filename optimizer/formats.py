"""The image formats: those a source may be (SourceFormat), those Smolpix encodes (OutputFormat),
and what a request may ask for (RequestedFormat). Plain values, imported by every layer from the
API to the encoders.
"""

from enum import StrEnum


class SourceFormat(StrEnum):
    """Accepted source formats; each value is the ImageMagick coder that decodes it."""

    JPEG = "JPEG"
    PNG = "PNG"
    GIF = "GIF"
    WEBP = "WEBP"
    AVIF = "AVIF"
    HEIC = "HEIC"
    TIFF = "TIFF"
    BMP = "BMP"


# The sources that store their pixels without loss as a rule (a TIFF may hold JPEG data).
LOSSLESS_SOURCES = frozenset({SourceFormat.PNG, SourceFormat.GIF, SourceFormat.BMP, SourceFormat.TIFF})


class OutputFormat(StrEnum):
    WEBP = "webp"
    AVIF = "avif"

    @property
    def content_type(self) -> str:
        return f"image/{self.value}"

    @property
    def coder(self) -> str:
        return self.value.upper()

    @classmethod
    def of_source(cls, source: SourceFormat) -> "OutputFormat | None":
        """The output format a source already is, if any."""
        return {SourceFormat.WEBP: cls.WEBP, SourceFormat.AVIF: cls.AVIF}.get(source)


class RequestedFormat(StrEnum):
    AUTO = "auto"
    WEBP = "webp"
    AVIF = "avif"

    @property
    def candidates(self) -> tuple[OutputFormat, ...]:
        if self is RequestedFormat.AUTO:
            return (OutputFormat.WEBP, OutputFormat.AVIF)
        return (OutputFormat(self.value),)
