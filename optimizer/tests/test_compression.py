"""The encoding decision (optimizer.compression): fixed quality, and the smart search.

Scores are recomputed here independently of the code under test: Pillow decodes the output (its
own libwebp/libavif binding, not ImageMagick), numpy flattens it onto magenta, and the metric
compares it with the prepared image.
"""

import itertools

import numpy as np
import pytest
from PIL import Image, ImageDraw

from optimizer import imaging
from optimizer.compression import (
    FAST_WEBP_METHOD,
    LOSSLESS_WEBP,
    SAFE_WEBP,
    SMALL_IMAGE_PIXELS,
    Budget,
    QualityTarget,
    RequestedFormat,
    Trial,
    _Search,
    choose_encoding,
)
from optimizer.imaging import Encoded, EncoderSettings, OutputFormat
from optimizer.ssimulacra2 import ssimulacra2
from optimizer.tests import images

MAGENTA = np.array([255, 0, 255], np.uint16)


def prepared(image) -> imaging.PreparedImage:
    return imaging.prepare(images.encode(image, "PNG"), max_width=4096, max_pixels=10_000_000)


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


@pytest.fixture(scope="module")
def photo():
    return prepared(images.photo())


@pytest.fixture(scope="module")
def large_photo():
    """Just above the size where `auto` tries AVIF too."""
    image = prepared(images.photo(840, 600))
    assert image.pixels.width * image.pixels.height >= SMALL_IMAGE_PIXELS
    return image


@pytest.fixture(scope="module")
def graphic():
    return prepared(images.graphic())


@pytest.fixture(scope="module")
def transparent():
    return prepared(images.transparent())


@pytest.fixture(scope="module")
def faint_glow():
    """A large photo under a faint radial alpha (mean about 0.1), like a soft glow or shadow:
    flattened, its coding errors mostly hide."""
    image = images.photo(840, 600).convert("RGBA")
    image.putalpha(Image.radial_gradient("L").resize(image.size).point(lambda distance: (255 - distance) // 5))
    glow = prepared(image)
    assert glow.pixels.width * glow.pixels.height >= SMALL_IMAGE_PIXELS
    return glow


# --- what quality means ---------------------------------------------------------------------------


def test_quality_maps_to_a_monotone_floor_and_a_price_per_point():
    targets = [QualityTarget.for_quality(quality) for quality in range(1, 101)]

    floors = [target.floor for target in targets]
    assert floors == sorted(floors)
    assert QualityTarget.for_quality(80).floor == 72
    assert QualityTarget.for_quality(100).floor == 100  # lossless
    assert QualityTarget.for_quality(90).bytes_per_point == 2 * QualityTarget.for_quality(80).bytes_per_point


@pytest.mark.parametrize("quality", [0, 101])
def test_quality_must_be_1_to_100(quality):
    with pytest.raises(ValueError, match="quality"):
        QualityTarget.for_quality(quality)


# --- smart: false -----------------------------------------------------------------------------------


@pytest.mark.parametrize("output", OutputFormat)
def test_an_explicit_format_is_encoded_at_the_requested_quality(photo, output):
    choice = choose_encoding(photo, format=RequestedFormat(output.value), quality=60, smart=False)

    expected = EncoderSettings(output, 60, method=FAST_WEBP_METHOD)  # the WebP effort below 1 MP
    assert choice.encoded.data == imaging.encode(photo.pixels, expected).data
    assert choice.notice is None
    assert choice.score is None  # nothing is measured without smart
    assert choice.trials == ()


@pytest.mark.parametrize("quality", [1, 50, 100])
def test_auto_returns_the_smaller_of_webp_and_avif(large_photo, quality):
    pixels = large_photo.pixels  # under FAST_WEBP_MAX_PIXELS
    sizes = {
        output: len(imaging.encode(pixels, EncoderSettings(output, quality, method=FAST_WEBP_METHOD)).data)
        for output in OutputFormat
    }

    choice = choose_encoding(large_photo, format=RequestedFormat.AUTO, quality=quality, smart=False)

    assert len(choice.encoded.data) == min(sizes.values())
    assert choice.encoded.format is min(sizes, key=sizes.get)


def test_auto_does_not_try_avif_on_small_images(photo):
    choice = choose_encoding(photo, format=RequestedFormat.AUTO, quality=80, smart=False)

    expected = EncoderSettings(OutputFormat.WEBP, 80, method=FAST_WEBP_METHOD)
    assert choice.encoded.data == imaging.encode(photo.pixels, expected).data


def test_transparent_images_are_not_given_to_an_encoder_that_drops_alpha(transparent):
    choice = choose_encoding(transparent, format=RequestedFormat.AUTO, quality=80, smart=False)

    assert choice.encoded.format is OutputFormat.WEBP
    assert choice.notice is None
    assert images.decode(choice.encoded.data).getchannel("A").tobytes() == transparent.pixels.alpha_samples().tobytes()


@pytest.mark.parametrize("smart", [False, True])
def test_asking_for_avif_with_transparency_returns_webp_and_says_why(transparent, smart):
    choice = choose_encoding(transparent, format=RequestedFormat.AVIF, quality=80, smart=smart)

    assert choice.encoded.format is OutputFormat.WEBP
    assert "transparency" in choice.notice
    assert images.decode(choice.encoded.data).getchannel("A").tobytes() == transparent.pixels.alpha_samples().tobytes()


# --- smart: true ----------------------------------------------------------------------------------


@pytest.mark.parametrize("quality", [30, 80, 95])
@pytest.mark.parametrize("kind", ["photo", "graphic", "transparent"])
def test_the_search_meets_the_floor_and_reports_the_score_truthfully(request, kind, quality):
    image = request.getfixturevalue(kind)

    choice = choose_encoding(image, format=RequestedFormat.AUTO, quality=quality, smart=True)

    score = recomputed_score(image, choice.encoded.data)
    assert score == pytest.approx(choice.score, abs=0.01)
    assert score >= QualityTarget.for_quality(quality).floor


def test_the_returned_encoding_is_the_cheapest_trial_that_meets_the_floor(photo):
    target = QualityTarget.for_quality(80)

    choice = choose_encoding(photo, format=RequestedFormat.AUTO, quality=80, smart=True)

    passing = [t for t in choice.trials if t.score >= target.floor]
    assert choice.encoded == min(passing, key=lambda t: target.cost(t.size, t.score)).encoded


def test_auto_searches_both_formats_and_picks_the_better_by_the_same_rule(large_photo):
    target = QualityTarget.for_quality(80)

    choice = choose_encoding(large_photo, format=RequestedFormat.AUTO, quality=80, smart=True)

    assert {t.encoded.format for t in choice.trials} == set(OutputFormat)
    passing = [t for t in choice.trials if t.score >= target.floor]
    winner = min(passing, key=lambda t: target.cost(t.size, t.score))
    assert choice.encoded == winner.encoded
    for other in passing:
        # Every other encoding that meets the floor is larger, or not better by as much as it costs.
        assert other.size >= winner.size or other.score < winner.score
        assert other.score - winner.score <= (other.size - winner.size) / target.bytes_per_point


def test_a_flat_graphic_goes_lossless(graphic):
    choice = choose_encoding(graphic, format=RequestedFormat.AUTO, quality=80, smart=True)

    assert choice.encoded.lossless
    assert choice.score == 100.0
    assert images.decode(choice.encoded.data).convert("RGB").tobytes() == graphic.pixels.data


def test_a_faint_transparent_image_starts_its_search_where_its_errors_hide(faint_glow):
    """An opaque image's first guess (about WebP 74 for a floor of 72) scores near 95 here; the
    search starts much lower and stops within two trials, at the floor or above, without sharp
    YUV (time and bytes for nothing under faint alpha)."""
    choice = choose_encoding(faint_glow, format=RequestedFormat.AUTO, quality=80, smart=True)

    assert len(choice.trials) <= 2
    assert choice.trials[0].encoded.settings.quality <= 30
    assert not any(trial.encoded.settings.sharp_yuv for trial in choice.trials)
    assert recomputed_score(faint_glow, choice.encoded.data) >= QualityTarget.for_quality(80).floor


def test_a_format_stops_once_a_trial_below_the_floor_already_loses_to_the_rival(photo):
    """Bytes grow with the level: every level that meets the floor is at least as large as a trial
    that missed it, so at 2,000 bytes a point and 90 at best, 42 kB against lossless 60 kB at 100
    cannot win (42,000 - 180,000 > 60,000 - 200,000); 38 kB still might."""
    search = _Search(photo.pixels, QualityTarget.for_quality(80), Budget())
    lossless = Trial(Encoded(bytes(60_000), LOSSLESS_WEBP), score=100.0, seconds=0.0)

    def lossy(size: int, score: float) -> dict[int, Trial]:
        return {30: Trial(Encoded(bytes(size), EncoderSettings(OutputFormat.WEBP, 30)), score=score, seconds=0.0)}

    assert search._cannot_win(lossy(42_000, 70.4), lossless)
    assert not search._cannot_win(lossy(38_000, 70.4), lossless)
    assert not search._cannot_win(lossy(42_000, 75.0), lossless)  # above the floor it bounds nothing


def test_the_palette_is_tried_only_on_graphics_with_a_few_hundred_colours():
    def palette_tried(colours: int) -> bool:
        image = Image.new("RGB", (400, 300), (255, 255, 255))
        draw = ImageDraw.Draw(image)
        for index in range(colours):  # a flat 20 x 5 cell of each colour: every cell is sampled
            left, top = index % 20 * 20, index // 20 * 5
            draw.rectangle((left, top, left + 19, top + 4), fill=(index % 256, index // 256 * 40, 128))
        trials = choose_encoding(prepared(image), format=RequestedFormat.AUTO, quality=80, smart=True).trials
        return any(trial.encoded.settings.palette for trial in trials)

    assert not palette_tried(200)  # lossless WebP already stores a palette itself
    assert palette_tried(400)
    assert not palette_tried(1200)


def test_higher_quality_never_scores_lower(photo):
    scores = [
        choose_encoding(photo, format=RequestedFormat.WEBP, quality=quality, smart=True).score
        for quality in (40, 70, 90)
    ]

    assert scores == sorted(scores)


def test_quality_100_is_lossless(photo):
    choice = choose_encoding(photo, format=RequestedFormat.AUTO, quality=100, smart=True)

    assert choice.encoded.lossless
    assert images.decode(choice.encoded.data).convert("RGB").tobytes() == photo.pixels.data


def test_the_count_budget_is_respected(photo):
    choice = choose_encoding(photo, format=RequestedFormat.WEBP, quality=80, smart=True, budget=Budget(max_trials=1))

    search = [t for t in choice.trials if t.encoded.settings not in (SAFE_WEBP, LOSSLESS_WEBP)]
    assert len(search) == 1
    assert choice.score >= QualityTarget.for_quality(80).floor


def test_with_no_time_left_the_safe_fallback_still_meets_the_floor(photo):
    budget = Budget(seconds=0.0, seconds_per_megapixel=0.0)

    choice = choose_encoding(photo, format=RequestedFormat.AUTO, quality=80, smart=True, budget=budget)

    # No search trial could start: only the fallback ran (a high-quality WebP, then lossless).
    assert [t.encoded.settings for t in choice.trials] in ([SAFE_WEBP], [SAFE_WEBP, LOSSLESS_WEBP])
    assert recomputed_score(photo, choice.encoded.data) >= QualityTarget.for_quality(80).floor


def test_the_time_budget_stops_the_search(large_photo, monkeypatch):
    """On a clock where every reading is 10 s after the last, a budget of 25 s has room for the
    first trial (10 s) and no other, where an unlimited budget runs several."""
    unlimited = choose_encoding(large_photo, format=RequestedFormat.AUTO, quality=80, smart=True, budget=Budget(20))
    readings = itertools.count(0, 10)
    monkeypatch.setattr("optimizer.compression.monotonic", lambda: next(readings))
    budget = Budget(max_trials=20, seconds=25.0, seconds_per_megapixel=0.0)

    choice = choose_encoding(large_photo, format=RequestedFormat.AUTO, quality=80, smart=True, budget=budget)

    assert len(unlimited.trials) >= 2
    search = [t for t in choice.trials if t.encoded.settings not in (SAFE_WEBP, LOSSLESS_WEBP)]
    assert [t.encoded.settings for t in search] == [unlimited.trials[0].encoded.settings]


def test_images_too_large_to_measure_are_encoded_at_the_requested_quality_and_say_so(photo, monkeypatch):
    monkeypatch.setattr("optimizer.compression.SMART_MAX_PIXELS", photo.pixels.width * photo.pixels.height - 1)

    choice = choose_encoding(photo, format=RequestedFormat.WEBP, quality=80, smart=True)

    plain = choose_encoding(photo, format=RequestedFormat.WEBP, quality=80, smart=False)
    assert choice.encoded.data == plain.encoded.data
    assert choice.score is None
    assert "8 megapixels" in choice.notice


def test_smart_respects_an_explicit_avif(graphic):
    choice = choose_encoding(graphic, format=RequestedFormat.AVIF, quality=80, smart=True)

    assert choice.encoded.format is OutputFormat.AVIF
