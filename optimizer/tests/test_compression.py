"""The encoding decision (optimizer.compression): fixed quality, and images too large for smart
compression to measure. The smart search itself is test_smart.py.

Scores are recomputed here independently of the code under test: Pillow decodes the output (its
own libwebp/libavif binding), numpy flattens it onto magenta, and the metric compares it with the
prepared image.
"""

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from optimizer import choice as choice_module
from optimizer import compression, encoders, imaging
from optimizer.choice import AVIF_SPEED, OPAQUE_WEBP_METHOD, plain_settings
from optimizer.compression import choose_encoding
from optimizer.encoders import EncoderSettings
from optimizer.formats import OutputFormat, RequestedFormat
from optimizer.smart import QualityTarget
from optimizer.ssimulacra2 import ssimulacra2
from optimizer.tests import images

MAGENTA = np.array([255, 0, 255], np.uint16)


def prepared(image, format: str = "PNG", **params) -> imaging.PreparedImage:
    return imaging.prepare(images.encode(image, format, **params), max_width=4096, max_pixels=10_000_000)


def on_magenta(rgba: np.ndarray) -> np.ndarray:
    if rgba.shape[2] == 3:
        return rgba
    alpha = rgba[..., 3:].astype(np.uint16)
    return ((rgba[..., :3] * alpha + MAGENTA * (255 - alpha) + 127) // 255).astype(np.uint8)


def recomputed_score(prepared_image: imaging.PreparedImage, data: bytes) -> float:
    pixels = prepared_image.pixels
    reference = np.frombuffer(pixels.data, np.uint8).reshape(pixels.height, pixels.width, len(pixels.layout))
    decoded = images.decode(data)
    decoded = np.asarray(decoded.convert("RGBA" if pixels.has_alpha else "RGB"))
    return ssimulacra2(on_magenta(reference), on_magenta(decoded))


def image_target(image, quality: int) -> QualityTarget:
    """The target of `image` at `quality`, worked out apart from the search: the quality's, lowered
    to what a plain WebP at that quality scores on the image, down to the floor."""
    plain = encoders.encode(image.pixels, plain_settings(image.pixels, OutputFormat.WEBP, quality))
    return QualityTarget.for_quality(quality).for_image(recomputed_score(image, plain.data))


def mean_alpha_difference(prepared_image: imaging.PreparedImage, data: bytes) -> float:
    alpha = np.asarray(images.decode(data).getchannel("A"), np.int16).ravel()
    return float(np.abs(alpha - prepared_image.pixels.alpha_samples()).mean())


# --- smart: false -----------------------------------------------------------------------------------


@pytest.mark.parametrize("output", OutputFormat)
def test_an_explicit_format_is_encoded_at_the_requested_quality(photo, output):
    choice = choose_encoding(photo, format=RequestedFormat(output.value), quality=60, smart=False)

    expected = EncoderSettings(output, 60, method=OPAQUE_WEBP_METHOD, speed=AVIF_SPEED)
    assert choice.encoded.data == encoders.encode(photo.pixels, expected).data
    assert choice.notice is None
    assert choice.score is None  # nothing is measured without smart
    assert choice.trials == ()


def test_a_result_larger_than_the_source_says_so(photo):
    exact = choose_encoding(photo, format=RequestedFormat.WEBP, quality=100, smart=False)

    larger = choose_encoding(
        photo, format=RequestedFormat.WEBP, quality=100, smart=False, max_bytes=len(exact.encoded.data) - 1
    )
    within = choose_encoding(
        photo, format=RequestedFormat.WEBP, quality=100, smart=False, max_bytes=len(exact.encoded.data)
    )

    assert larger.encoded.data == exact.encoded.data  # smart: false encodes as asked, whatever the size
    assert f"larger than the original ({len(exact.encoded.data) - 1:,} bytes)" in larger.notice
    assert within.notice is None


def test_a_result_too_large_to_measure_and_larger_than_the_source_says_both(photo, monkeypatch):
    """A 14.7 MP JPEG at its own width came back 2% larger, its notice saying only that it was too
    large to measure (the audit, 2026-12-07)."""
    monkeypatch.setattr(compression, "SMART_MAX_PIXELS", photo.pixels.width * photo.pixels.height - 1)
    plain = choose_encoding(photo, format=RequestedFormat.AUTO, quality=80, smart=False)

    choice = choose_encoding(
        photo, format=RequestedFormat.AUTO, quality=80, smart=True, max_bytes=len(plain.encoded.data) - 1
    )

    larger = f"It is larger than the original ({len(plain.encoded.data) - 1:,} bytes)."
    assert choice.notice == f"{compression.TOO_LARGE_TO_MEASURE} {larger}"


@pytest.mark.parametrize("quality", [1, 50, 100])
def test_auto_returns_the_smaller_of_webp_and_avif(large_photo, quality):
    sizes = {
        output: len(encoders.encode(large_photo.pixels, EncoderSettings(output, quality, method=2, speed=9)).data)
        for output in OutputFormat
    }

    choice = choose_encoding(large_photo, format=RequestedFormat.AUTO, quality=quality, smart=False)

    assert len(choice.encoded.data) == min(sizes.values())
    assert choice.encoded.format is min(sizes, key=sizes.get)


@pytest.mark.parametrize("smart", [False, True])
@pytest.mark.parametrize("format", RequestedFormat)
def test_transparency_survives_every_format(transparent, format, smart):
    choice = choose_encoding(transparent, format=format, quality=80, smart=smart)

    assert choice.encoded.format in format.candidates
    assert choice.notice is None
    assert mean_alpha_difference(transparent, choice.encoded.data) <= encoders.ALPHA_MEAN_TOLERANCE


@pytest.fixture(scope="module")
def sprite() -> imaging.PreparedImage:
    """A small sprite: a flat disc with a hard edge, whose alpha AVIF's at quality 30 or below
    loses (over 2/255 on average): it comes back as AVIF with its alpha exact."""
    height, width = 52, 70
    y, x = np.mgrid[:height, :width]
    disc = (y - height / 2) ** 2 + (x - width / 2) ** 2 < (height / 2.5) ** 2
    rgba = np.dstack([np.full((height, width, 3), (30, 160, 90), np.uint8), np.where(disc, 255, 0).astype(np.uint8)])
    return prepared(Image.fromarray(rgba, "RGBA"))


@pytest.mark.parametrize("quality", [1, 30])
def test_avif_asked_for_alone_keeps_an_alpha_its_quality_would_lose_exact(sprite, quality):
    lossy_alpha = EncoderSettings(OutputFormat.AVIF, quality, speed=AVIF_SPEED)
    with pytest.raises(encoders.TransparencyLost):  # the case in point
        encoders.encode(sprite.pixels, lossy_alpha)

    choice = choose_encoding(sprite, format=RequestedFormat.AVIF, quality=quality, smart=False)

    assert choice.encoded.settings == replace(lossy_alpha, exact_alpha=True)
    assert mean_alpha_difference(sprite, choice.encoded.data) == 0
    assert choice.notice is None


def test_a_smart_search_goes_up_from_levels_whose_avif_loses_the_alpha(sprite):
    """At quality 30 the sprite's AVIF loses its alpha at the levels a search would try first: its
    lanes go up to where the alpha holds, instead of ending there (the search then fell back to
    its last try, AVIF 4:4:4 at 90)."""
    last_try = encoders.encode(
        sprite.pixels, EncoderSettings(OutputFormat.AVIF, 90, speed=AVIF_SPEED, full_chroma=True)
    )

    choice = choose_encoding(sprite, format=RequestedFormat.AVIF, quality=30, smart=True)

    assert choice.encoded.format is OutputFormat.AVIF and not choice.encoded.settings.exact_alpha
    assert choice.score >= image_target(sprite, 30).score
    assert recomputed_score(sprite, choice.encoded.data) == pytest.approx(choice.score, abs=0.01)
    assert mean_alpha_difference(sprite, choice.encoded.data) <= encoders.ALPHA_MEAN_TOLERANCE
    assert len(choice.encoded.data) < len(last_try.data)


def test_a_smart_avif_asked_for_alone_keeps_the_alpha_exact_where_no_level_carries_it(sprite, monkeypatch):
    """Where AVIF's alpha at the colour's quality is lost at every level tried, the top included
    (Pillow's encoder made to return the image opaque here), the search's last try keeps it exact."""
    opaque = images.encode(Image.new("RGB", (sprite.pixels.width, sprite.pixels.height)), "AVIF")
    monkeypatch.setattr(encoders, "_encode_transparent_avif", lambda pixels, settings: opaque)

    choice = choose_encoding(sprite, format=RequestedFormat.AVIF, quality=80, smart=True)

    assert choice.encoded.format is OutputFormat.AVIF and choice.encoded.settings.exact_alpha
    assert mean_alpha_difference(sprite, choice.encoded.data) == 0


def test_auto_returns_webp_where_avif_s_alpha_would_be_lost(sprite):
    choice = choose_encoding(sprite, format=RequestedFormat.AUTO, quality=30, smart=False)

    assert choice.encoded.format is OutputFormat.WEBP
    assert mean_alpha_difference(sprite, choice.encoded.data) == 0


def test_an_avif_that_cannot_carry_the_alpha_at_all_comes_back_as_webp_saying_so(sprite, monkeypatch):
    """The last resort, should libavif ever lose an alpha it was asked to keep exact."""
    real_encode = choice_module.encode

    def alpha_lost_as_avif(pixels, settings):
        if settings.format is OutputFormat.AVIF:
            raise encoders.TransparencyLost("avif returned the image opaque")
        return real_encode(pixels, settings)

    monkeypatch.setattr(choice_module, "encode", alpha_lost_as_avif)

    choice = choose_encoding(sprite, format=RequestedFormat.AVIF, quality=80, smart=False)

    assert choice.encoded.format is OutputFormat.WEBP
    assert choice.notice == "AVIF could not carry this image's transparency; returned WebP instead."


def test_images_too_large_to_measure_are_encoded_at_the_requested_quality_and_say_so(photo, monkeypatch):
    monkeypatch.setattr("optimizer.compression.SMART_MAX_PIXELS", photo.pixels.width * photo.pixels.height - 1)

    choice = choose_encoding(photo, format=RequestedFormat.WEBP, quality=80, smart=True)

    plain = choose_encoding(photo, format=RequestedFormat.WEBP, quality=80, smart=False)
    assert choice.encoded.data == plain.encoded.data
    assert choice.score is None
    assert "8 megapixels" in choice.notice
