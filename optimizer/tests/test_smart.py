"""Smart compression (optimizer.smart): what quality means, the search, staying smaller than the
source, the budget, and the search's steps. Scores are recomputed independently of the code under
test (optimizer.tests.test_compression.recomputed_score).
"""

import itertools
import math
import random
import threading
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image, ImageDraw

from optimizer import choice as choice_module
from optimizer import encoders, imaging, smart
from optimizer.choice import LOSSLESS_WEBP, OPAQUE_WEBP_METHOD, Trial, plain_settings
from optimizer.compression import choose_encoding
from optimizer.encoders import Encoded, EncoderSettings
from optimizer.formats import OutputFormat, RequestedFormat
from optimizer.smart import WEBP_PRIOR, Budget, Lane, QualityTarget, _next_level, _Search
from optimizer.tests import images
from optimizer.tests.test_compression import image_target, prepared, recomputed_score

KINDS = ["photo", "graphic", "transparent", "jpeg_diagram"]


def first_lane_trial(image, choice) -> Trial:
    """The first trial of `choice` after the yardstick (smart:false's WebP, at quality 80)."""
    yardstick = plain_settings(image.pixels, OutputFormat.WEBP, 80)
    return next(t for t in choice.trials if t.encoded.settings != yardstick)


# --- what quality means ---------------------------------------------------------------------------


def test_quality_maps_to_a_monotone_target_with_a_floor_below_it():
    targets = [QualityTarget.for_quality(quality) for quality in range(1, 101)]

    scores = [target.score for target in targets]
    assert scores == sorted(scores)
    assert QualityTarget.for_quality(80) == QualityTarget(score=75.0, floor=71.0)
    assert QualityTarget.for_quality(100) == QualityTarget(score=100.0, floor=100.0)  # lossless
    assert all(target.floor < target.score for target in targets[:-1])


@pytest.mark.parametrize(("yardstick", "score"), [(90.0, 75.0), (75.0, 75.0), (72.3, 72.3), (71.0, 71.0), (64.0, 71.0)])
def test_an_image_whose_plain_webp_scores_below_the_target_is_held_to_that_score_down_to_the_floor(yardstick, score):
    assert QualityTarget.for_quality(80).for_image(yardstick) == QualityTarget(score=score, floor=71.0)


@pytest.mark.parametrize("quality", [0, 101])
def test_quality_must_be_1_to_100(quality):
    with pytest.raises(ValueError, match="quality"):
        QualityTarget.for_quality(quality)


# --- smart: true ----------------------------------------------------------------------------------


@pytest.mark.parametrize("quality", [30, 80, 95])
@pytest.mark.parametrize("kind", KINDS)
def test_the_search_reaches_the_target_and_reports_the_score_truthfully(request, kind, quality):
    image = request.getfixturevalue(kind)

    choice = choose_encoding(image, format=RequestedFormat.AUTO, quality=quality, smart=True)

    score = recomputed_score(image, choice.encoded.data)
    assert score == pytest.approx(choice.score, abs=0.01)
    assert score >= image_target(image, quality).score


@pytest.mark.parametrize("quality", [80, 90])
def test_where_plain_webp_scores_under_the_target_smart_is_no_larger_and_looks_no_worse(photo, quality):
    """The yardstick: on this photo smart:false's WebP scores 68 at quality 80 (under the floor, 71:
    the target is the floor) and 81 at 90 (under 82: the target is 81)."""
    plain = encoders.encode(photo.pixels, plain_settings(photo.pixels, OutputFormat.WEBP, quality))
    plain_score = recomputed_score(photo, plain.data)
    assert plain_score < QualityTarget.for_quality(quality).score

    choice = choose_encoding(photo, format=RequestedFormat.AUTO, quality=quality, smart=True)

    assert recomputed_score(photo, choice.encoded.data) >= image_target(photo, quality).score
    assert choice.trials[0].encoded.settings == plain.settings  # measured first
    if plain_score >= QualityTarget.for_quality(quality).floor:
        assert len(choice.encoded.data) <= len(plain.data)


@pytest.mark.parametrize("kind", KINDS)
def test_the_result_is_the_smallest_trial_that_reaches_the_target(request, kind):
    image = request.getfixturevalue(kind)
    target = image_target(image, 80).score

    choice = choose_encoding(image, format=RequestedFormat.AUTO, quality=80, smart=True)

    passing = [t for t in choice.trials if t.score >= target]
    assert choice.encoded == min(passing, key=lambda t: t.size).encoded


@pytest.mark.parametrize("quality", [50, 80, 90])
@pytest.mark.parametrize("kind", KINDS)
def test_never_larger_than_smart_false_where_that_reaches_the_target(request, kind, quality):
    image = request.getfixturevalue(kind)
    fixed = choose_encoding(image, format=RequestedFormat.AUTO, quality=quality, smart=False).encoded

    smart = choose_encoding(image, format=RequestedFormat.AUTO, quality=quality, smart=True).encoded

    if recomputed_score(image, fixed.data) >= image_target(image, quality).score:
        assert len(smart.data) <= len(fixed.data)


def test_lossless_and_palette_lose_to_lossy_when_lossy_is_smaller_at_the_target():
    """A diagram with a photograph in it, saved as a quality-60 JPEG: its palette of 256 colours
    (which stands for lossless WebP above 256 colours) bands the photograph, for more bytes."""
    diagram = images.diagram()
    diagram.paste(images.photo(200, 150), (140, 105))
    image = prepared(diagram, "JPEG", quality=60)

    choice = choose_encoding(image, format=RequestedFormat.AUTO, quality=80, smart=True)

    exact = [t for t in choice.trials if t.encoded.settings.lossless]
    assert exact, "a graphic's lossless encoding (here its palette) is a candidate"
    assert not choice.encoded.settings.lossless
    assert all(len(choice.encoded.data) < t.size for t in exact)


def test_lossless_wins_when_it_is_the_smallest(graphic):
    choice = choose_encoding(graphic, format=RequestedFormat.AUTO, quality=80, smart=True)

    assert choice.encoded.settings == LOSSLESS_WEBP
    assert choice.score == 100.0
    assert images.decode(choice.encoded.data).convert("RGB").tobytes() == graphic.pixels.data
    assert all(t.size >= len(choice.encoded.data) for t in choice.trials if t.score >= 75)


def test_a_faint_transparent_image_starts_its_search_where_its_errors_hide(faint_glow):
    """Its first trial aims as an opaque image would have to for the same score composited (far
    lower), and the search ends within two trials, at the target or above."""
    photo = prepared(images.photo(840, 600))
    opaque = first_lane_trial(photo, choose_encoding(photo, format=RequestedFormat.AUTO, quality=80, smart=True))

    choice = choose_encoding(faint_glow, format=RequestedFormat.AUTO, quality=80, smart=True)

    first = first_lane_trial(faint_glow, choice).encoded.settings
    assert first.format is opaque.encoded.format and first.quality < opaque.encoded.quality - 20
    assert len(choice.trials) <= 3  # the yardstick and two
    assert recomputed_score(faint_glow, choice.encoded.data) >= image_target(faint_glow, 80).score


def blocks() -> Image.Image:
    """24 x 16 flat blocks, each of its own colour: 384 colours, that a palette of 256 mixes up."""
    colours = random.Random(384)
    image = Image.new("RGB", (480, 320))
    draw = ImageDraw.Draw(image)
    for index in range(24 * 16):
        left, top = index % 24 * 20, index // 24 * 20
        draw.rectangle((left, top, left + 19, top + 19), fill=tuple(colours.randrange(256) for _ in range(3)))
    return image


def with_rare_colours(image: Image.Image, count: int) -> Image.Image:
    """`image` with `count` more colours, a pixel each, on rows and columns that sampled_colours
    skips (its every fifth row and column): as anti-aliased edges slip through a sample."""
    image = image.copy()
    for index in range(count):
        image.putpixel((1 + index % 50 * 5, 1 + index // 50 * 5), (index, 255 - index, 17))
    return image


def test_a_graphic_is_tried_lossless_up_to_256_colours_and_above_only_where_its_palette_could_not_win(
    monkeypatch,
):
    encoded = []
    real = smart.encode_if_faithful
    monkeypatch.setattr(smart, "encode_if_faithful", lambda pixels, s: encoded.append(s) or real(pixels, s))

    def exact_tried(image: Image.Image) -> tuple[set[EncoderSettings], EncoderSettings]:
        encoded.clear()
        choice = choose_encoding(prepared(image), format=RequestedFormat.AUTO, quality=80, smart=True)
        return {settings for settings in encoded if settings.lossless}, choice.encoded.settings

    assert exact_tried(images.cells(200))[0] == {LOSSLESS_WEBP}  # lossless WebP stores a palette itself
    # 200 colours in the search's sample, 300 in all: more than lossless WebP's palette holds, so
    # the palette goes first, as for any graphic of more colours.
    assert smart.PALETTE_WEBP in exact_tried(with_rare_colours(images.cells(200), 100))[0]
    # The palette passes and is the best: lossless WebP, no smaller, is not worth its time.
    assert exact_tried(images.cells(400)) == ({smart.PALETTE_WEBP}, smart.PALETTE_WEBP)
    # The palette misses (more colours than it holds, each far from the others): lossless wins.
    assert exact_tried(blocks()) == ({smart.PALETTE_WEBP, LOSSLESS_WEBP}, LOSSLESS_WEBP)


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


def test_smart_respects_an_explicit_avif(graphic):
    choice = choose_encoding(graphic, format=RequestedFormat.AVIF, quality=80, smart=True)

    assert choice.encoded.format is OutputFormat.AVIF
    assert choice.score >= image_target(graphic, 80).score


# --- smaller than the source ----------------------------------------------------------------------


def test_a_result_larger_than_the_source_goes_down_to_the_floor_and_says_so(large_photo):
    """At quality 90, where its plain WebP scores above the floor (at 80 it is below: the target
    already is the floor)."""
    target = image_target(large_photo, 90)
    assert target.floor < target.score
    untimed = Budget(seconds=60.0)  # its trials all run, however busy the machine (a search cut short falls back)
    unbounded = choose_encoding(large_photo, format=RequestedFormat.AUTO, quality=90, smart=True, budget=untimed)

    choice = choose_encoding(
        large_photo,
        format=RequestedFormat.AUTO,
        quality=90,
        smart=True,
        max_bytes=len(unbounded.encoded.data) - 1,
        budget=untimed,
    )

    assert len(choice.encoded.data) < len(unbounded.encoded.data)
    assert target.floor <= recomputed_score(large_photo, choice.encoded.data) < target.score
    assert "smaller than the original" in choice.notice


def test_when_nothing_at_the_floor_is_smaller_than_the_source_the_result_says_so(large_photo):
    choice = choose_encoding(large_photo, format=RequestedFormat.AUTO, quality=80, smart=True, max_bytes=100)

    assert recomputed_score(large_photo, choice.encoded.data) >= image_target(large_photo, 80).score
    assert "No encoding of this image at this quality is smaller than the original (100 bytes)" in choice.notice


def test_an_avif_that_misses_the_target_and_is_larger_than_the_source_says_both(graphic):
    """Lossless (quality 100) asked of AVIF alone, which cannot be lossless here (its 4:4:4 is
    still YCbCr): the notice must not claim the quality was kept."""
    choice = choose_encoding(graphic, format=RequestedFormat.AVIF, quality=100, smart=True, max_bytes=100)

    assert recomputed_score(graphic, choice.encoded.data) < 100
    assert choice.notice == (
        "AVIF could not reach the quality target (100) on this image; this is its best. "
        "It is larger than the original (100 bytes)."
    )


def pattern() -> Image.Image:
    """A pattern that is not a graphic (so lossless WebP is not tried from the start) and that no
    lossy encoding keeps at the target in fewer bytes than PNG (38 kB; lossy 54-63 kB)."""
    x, y = np.meshgrid(np.arange(400), np.arange(300))
    return Image.fromarray(np.dstack([x % 256, y % 256, x * y % 256]).astype(np.uint8))


@pytest.mark.parametrize("format", [RequestedFormat.AUTO, RequestedFormat.WEBP])
def test_a_pattern_no_lossy_encoding_keeps_smaller_than_its_png_comes_back_lossless_and_smaller(format):
    """Lossless WebP, 28 kB, keeps it whole."""
    source = images.encode(pattern(), "PNG")
    pattern_png = imaging.prepare(source, max_width=4096, max_pixels=10_000_000)

    choice = choose_encoding(pattern_png, format=format, quality=80, smart=True, max_bytes=len(source))

    assert len(choice.encoded.data) < len(source)
    assert recomputed_score(pattern_png, choice.encoded.data) == 100
    assert choice.notice is None


def test_a_lossy_source_no_encoding_keeps_smaller_than_is_not_tried_lossless():
    """The same pattern as a JPEG: lossless WebP of its decoded pixels is many times its size (a
    second of a worker on a 2,000-pixel photograph, for nothing)."""
    source = images.encode(pattern(), "JPEG", quality=30)
    pattern_jpeg = imaging.prepare(source, max_width=4096, max_pixels=10_000_000)

    choice = choose_encoding(pattern_jpeg, format=RequestedFormat.AUTO, quality=80, smart=True, max_bytes=len(source))

    assert len(choice.encoded.data) > len(source)  # nothing was smaller
    assert LOSSLESS_WEBP not in [trial.encoded.settings for trial in choice.trials]


def gradient(width: int, height: int) -> Image.Image:
    """A smooth gradient, red across and green down (back and forth every 255 pixels): no two
    neighbours alike, so not a graphic, and lossless WebP is not tried from the start."""
    x, y = np.meshgrid(np.arange(width), np.arange(height))
    red, green = np.abs(x % 510 - 255), np.abs(y % 510 - 255)
    return Image.fromarray(np.dstack([red, green, np.full_like(x, 128)]).astype(np.uint8))


@pytest.mark.parametrize("size", [(256, 256), (640, 480)])  # encoded whole for the estimate; a sample of rows
def test_a_png_whose_lossless_webp_is_smaller_than_the_lossy_result_comes_back_lossless(size):
    """The lossy result is already smaller than the PNG (0.5-1.4 kB against 0.8-2 kB), yet lossless
    WebP, 0.1-0.2 kB, is smaller still: it competes whenever it is expected to be smaller."""
    source = images.encode(gradient(*size), "PNG")
    gradient_png = imaging.prepare(source, max_width=4096, max_pixels=10_000_000)

    choice = choose_encoding(gradient_png, format=RequestedFormat.AUTO, quality=80, smart=True, max_bytes=len(source))

    target = image_target(gradient_png, 80).score
    lossy = [t.size for t in choice.trials if not t.encoded.settings.lossless and t.score >= target]
    assert min(lossy) < len(source)
    assert choice.encoded.settings == LOSSLESS_WEBP
    assert len(choice.encoded.data) < min(lossy)
    assert recomputed_score(gradient_png, choice.encoded.data) == 100
    assert choice.notice is None


def test_a_png_photograph_is_not_encoded_whole_lossless_only_a_sample_of_its_rows(large_photo, monkeypatch):
    """Lossless WebP of a photograph is 5-20 times its lossy result, and its encode 6-20 times a
    lossy one: the estimate from a sample of its rows (an eighth here, and every other band of
    that) says so, and it is not made."""
    lossless_pixels = []

    def recording(pixels, settings):
        if settings.lossless:
            lossless_pixels.append(pixels.width * pixels.height)
        return encoders.encode(pixels, settings)

    monkeypatch.setattr(choice_module, "encode", recording)  # every encode a transparency check passes
    choice = choose_encoding(large_photo, format=RequestedFormat.AUTO, quality=80, smart=True)

    assert not any(t.encoded.settings.lossless for t in choice.trials)
    assert len(lossless_pixels) == 2  # the sample, and every other band of it
    assert sum(lossless_pixels) <= large_photo.pixels.width * large_photo.pixels.height / 4


def test_lossless_webp_is_estimated_from_a_sample_of_rows_and_its_fixed_part():
    """A smooth gradient's lossless bytes are mostly the encoding's fixed part: scaled in
    proportion to its rows, its sample would put them at over four times theirs (945 bytes for
    204 here; 334 along the line through the sample and half of it)."""
    pixels = prepared(gradient(640, 480)).pixels
    exact = len(encoders.encode(pixels, LOSSLESS_WEBP).data)

    estimate = smart.lossless_estimate(pixels)

    assert estimate.whole is None
    assert exact / 2 <= estimate.size <= 2 * exact


# --- the budget -----------------------------------------------------------------------------------


def test_the_count_budget_is_respected(photo):
    choice = choose_encoding(photo, format=RequestedFormat.WEBP, quality=80, smart=True, budget=Budget(max_trials=1))

    assert choice.trials[0].encoded.format is OutputFormat.WEBP
    assert choice.score >= image_target(photo, 80).score


def test_with_no_time_left_the_fallback_still_reaches_the_target(photo):
    budget = Budget(seconds=0.0, seconds_per_megapixel=0.0)

    choice = choose_encoding(photo, format=RequestedFormat.AUTO, quality=80, smart=True, budget=budget)

    assert recomputed_score(photo, choice.encoded.data) >= image_target(photo, 80).score


def test_the_time_budget_stops_the_search(large_photo, monkeypatch):
    """On a clock where every reading is 10 s after the last, a budget of 45 s has room for the
    yardstick (which sets the target, whatever the budget), the first trial and no other, where an
    unlimited budget runs several."""
    generous = Budget(max_trials=20, seconds=1000.0)
    unlimited = choose_encoding(large_photo, format=RequestedFormat.AVIF, quality=80, smart=True, budget=generous)
    readings = itertools.count(0, 10)
    monkeypatch.setattr("optimizer.smart.monotonic", lambda: next(readings))
    budget = Budget(max_trials=20, seconds=45.0, seconds_per_megapixel=0.0)

    choice = choose_encoding(large_photo, format=RequestedFormat.AVIF, quality=80, smart=True, budget=budget)

    assert len(unlimited.trials) >= 2
    assert choice.trials[0].encoded.settings == unlimited.trials[0].encoded.settings
    assert unlimited.trials[1].encoded.settings not in [t.encoded.settings for t in choice.trials]


def test_a_trial_is_afforded_on_what_its_own_settings_took_not_the_slowest_of_its_format(photo, monkeypatch):
    """A slow speed-7 AVIF trial says nothing of how long a speed-9 one takes: after 8 s of one,
    2 s before the deadline, another speed-7 trial would end past it, a speed-9 one may still run."""
    clock = [0.0]
    monkeypatch.setattr("optimizer.smart.monotonic", lambda: clock[0])
    search = _Search(photo.pixels, 75.0, Budget(seconds=10.0, seconds_per_megapixel=0.0))
    careful = EncoderSettings(OutputFormat.AVIF, 80, speed=7)

    def eight_seconds(settings: EncoderSettings, **_) -> Trial:
        clock[0] += 8.0
        return Trial(Encoded(bytes(1000), settings), score=70.0, seconds=8.0)

    monkeypatch.setattr(search, "_trial", eight_seconds)
    search.run(careful)

    assert not search.affordable(replace(careful, quality=90))
    assert search.affordable(EncoderSettings(OutputFormat.AVIF, 60, speed=9, full_chroma=True))


def test_levels_whose_alpha_is_lost_are_timed_so_no_trial_starts_without_the_time_to_end(photo, monkeypatch):
    """7.8 MP of noise with random alpha lost it at four levels, 3 s each, while the search thought
    such trials took no time: it went on climbing past its deadline."""
    clock, encoded = [0.0], []
    monkeypatch.setattr("optimizer.smart.monotonic", lambda: clock[0])

    def four_seconds_then_lost(pixels, settings):
        clock[0] += 4.0
        encoded.append(settings.quality)

    monkeypatch.setattr(smart, "encode_if_faithful", four_seconds_then_lost)
    search = _Search(photo.pixels, 75.0, Budget(seconds=10.0, seconds_per_megapixel=0.0))
    lane = Lane(lambda q: EncoderSettings(OutputFormat.AVIF, q, speed=9), prior=((0, 0.0), (100, 100.0)))

    search.lane(lane)

    assert len(encoded) == 2  # at 0 and 4 s; a third would end at 12, past the deadline at 10


def test_when_nothing_reaches_the_target_the_search_ends_once_the_budget_passed_twice(photo, monkeypatch):
    """8.4 MP of transparent noise reached no target: the closest miss went on, then the last tries,
    7-9 s each whatever the time, 47 s of a task's 50. On a clock where each trial takes 8 s and
    misses, with a budget of 10 s: the closest miss goes on once (a second would end at 24 s, past
    20), no last try starts, and lossless WebP keeps the target."""
    clock = [0.0]
    monkeypatch.setattr("optimizer.smart.monotonic", lambda: clock[0])
    search = _Search(photo.pixels, 99.0, Budget(seconds=10.0, seconds_per_megapixel=0.0))

    def eight_seconds_and_a_miss(settings: EncoderSettings, **_) -> Trial:
        clock[0] += 8.0
        return Trial(Encoded(bytes(1000), settings), score=50.0, seconds=8.0)

    monkeypatch.setattr(search, "_trial", eight_seconds_and_a_miss)
    search.run(EncoderSettings(OutputFormat.AVIF, 80, speed=9))
    search.closest_goes_on()
    best, notice = search.fallback([OutputFormat.AVIF, OutputFormat.WEBP])

    assert [t.encoded.settings.lossless for t in search.trials] == [False, False, True]
    assert best.encoded.settings == LOSSLESS_WEBP and notice is None


@pytest.mark.parametrize("formats", [[OutputFormat.AVIF], [OutputFormat.AVIF, OutputFormat.WEBP]])
def test_a_last_try_that_passes_far_above_the_target_comes_down_between_it_and_the_miss_below(
    photo, monkeypatch, formats
):
    """At quality 50 a photograph fitted to 100 pixels missed its target (59) with everything the
    lanes tried, AVIF 4:4:4 at 42 included, and the last try (AVIF 4:4:4 at 90) passed at 78.6: it
    was the answer, byte for byte quality 80's (the API audit, 2026-12-07). Its settings come down
    between the two: here a score of (level - 10) lands at the target at once."""
    search = _Search(photo.pixels, 59.0, Budget())
    full_chroma = smart.LAST_TRIES[0]
    levels: list[int] = []
    monkeypatch.setattr(search, "_trial", scored_by_level(lambda level: level - 10.0, levels))
    search.trials.append(trial(260 * 42, 32.0, replace(full_chroma, quality=42)))

    best, notice = search.fallback(formats)

    assert levels[0] == 90 and len(levels) == 2 and 59 <= levels[1] - 10 <= 61
    assert (best.encoded.settings, notice) == (replace(full_chroma, quality=levels[1]), None)


def test_a_last_try_comes_down_only_with_the_time_its_own_settings_took(photo, monkeypatch):
    """On a clock where a trial of the last try's settings takes 12 s, with a budget of 10 s (20 of
    overtime): the last try ends at 12 s, and another of its settings would end at 24: none starts.
    Its time was not recorded (the review, 2026-12-07): it was taken to be 0."""
    clock = [0.0]
    monkeypatch.setattr("optimizer.smart.monotonic", lambda: clock[0])
    search = _Search(photo.pixels, 59.0, Budget(seconds=10.0, seconds_per_megapixel=0.0))
    full_chroma = smart.LAST_TRIES[0]
    search.trials.append(trial(260 * 42, 32.0, replace(full_chroma, quality=42)))
    levels: list[int] = []
    scored = scored_by_level(lambda level: level - 10.0, levels)

    def twelve_seconds(settings: EncoderSettings, **kwargs) -> Trial:
        clock[0] += 12.0
        return replace(scored(settings, **kwargs), seconds=12.0)

    monkeypatch.setattr(search, "_trial", twelve_seconds)

    best, _ = search.fallback([OutputFormat.AVIF])

    assert levels == [90] and best.encoded.settings == full_chroma


def test_a_trial_keeps_its_bytes_not_the_pixels_decoded_to_check_its_alpha(transparent):
    """4 bytes a pixel for each trial of a transparent image: 250 MB for eight at 7.8 MP."""
    choice = choose_encoding(transparent, format=RequestedFormat.AUTO, quality=80, smart=True)

    assert choice.trials
    assert all(trial.encoded.decoded is None for trial in choice.trials)


# --- the second core -------------------------------------------------------------------------------


def _search_recording_threads(pixels, monkeypatch, before=lambda settings: None):
    """smart_choice on `pixels`, recording the thread each encoding ran on; `before(settings)` runs
    first, on that thread (to hold one thread until the other got somewhere)."""
    threads = {}
    real = smart.encode_if_faithful

    def recording(pixels, settings):
        threads.setdefault(settings, threading.current_thread())
        before(settings)
        return real(pixels, settings)

    monkeypatch.setattr(smart, "encode_if_faithful", recording)
    choice = smart.smart_choice(pixels, format=RequestedFormat.AUTO, quality=80, max_bytes=None, budget=Budget())
    return choice, threads


def _on_the_search_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


# A thread held for another waits at most this long (seconds): the test fails then, without hanging.
HOLD = 3


def test_smart_false_encodings_the_first_lane_cannot_settle_are_encoded_on_the_second_core(graphic, monkeypatch):
    """A graphic's AVIF (its WebP is the yardstick, measured first on the search's own thread)."""
    pixels = graphic.pixels
    rival = plain_settings(pixels, OutputFormat.AVIF, 80)
    yardstick = plain_settings(pixels, OutputFormat.WEBP, 80)
    begun = threading.Event()

    def before(settings):
        if settings == rival:
            begun.set()
        elif _on_the_search_thread() and not settings.lossless and settings != yardstick:
            begun.wait(timeout=HOLD)  # the search's trials leave the second core time to begin it

    _, threads = _search_recording_threads(pixels, monkeypatch, before)

    assert threads[yardstick] is threading.main_thread()
    assert threads[rival] is not threading.main_thread()


def test_smart_false_encoding_of_the_first_lanes_kind_goes_to_the_second_core_when_that_lane_left_it_unsettled(
    photo, monkeypatch
):
    avif = plain_settings(photo.pixels, OutputFormat.AVIF, 80)
    yardstick = plain_settings(photo.pixels, OutputFormat.WEBP, 80)
    missed = replace(avif, quality=5)
    real_lane = _Search.lane

    def lane(search, lane):
        if lane.settings(80) == avif:  # the first lane: one trial, far below the target, settles nothing at q80
            search.run(missed)
        else:
            real_lane(search, lane)

    begun = threading.Event()

    def before(settings):
        if settings == avif:
            begun.set()
        elif _on_the_search_thread() and settings not in (missed, yardstick) and not settings.lossless:
            begun.wait(timeout=HOLD)

    monkeypatch.setattr(_Search, "lane", lane)

    _, threads = _search_recording_threads(photo.pixels, monkeypatch, before)

    assert threads[avif] is not threading.main_thread()


def test_a_graphic_search_goes_on_to_its_next_lane_while_lossless_webp_is_encoded(graphic, monkeypatch):
    next_lane = threading.Event()
    real_lane = _Search.lane

    def lane(search, lane):
        if lane.format is OutputFormat.AVIF:
            next_lane.set()
        real_lane(search, lane)

    lossless_waited = []

    def before(settings):
        if settings == LOSSLESS_WEBP:
            lossless_waited.append(next_lane.wait(timeout=HOLD))

    monkeypatch.setattr(_Search, "lane", lane)

    choice, _ = _search_recording_threads(graphic.pixels, monkeypatch, before)

    assert lossless_waited == [True]  # the AVIF lane began before lossless WebP was done...
    assert any(t.encoded.settings == LOSSLESS_WEBP for t in choice.trials)  # ...which still competed


def test_lossless_webp_done_during_a_trial_competes_before_that_trial_is_scored(graphic, monkeypatch):
    encodings = []
    real_exact_when_done = _Search.exact_when_done

    def exact_when_done(search, encoding):
        encodings.append(encoding)
        real_exact_when_done(search, encoding)

    yardstick = plain_settings(graphic.pixels, OutputFormat.WEBP, 80)

    def before(settings):
        if _on_the_search_thread() and not settings.lossless:
            encodings[0].result(timeout=HOLD)  # lossless WebP is done before this trial's encode

    monkeypatch.setattr(_Search, "exact_when_done", exact_when_done)

    choice, threads = _search_recording_threads(graphic.pixels, monkeypatch, before)

    lossless = next(t for t in choice.trials if t.encoded.settings == LOSSLESS_WEBP)
    assert any(s.format is OutputFormat.WEBP and not s.lossless for s in threads)  # the WebP lane's first trial
    # Every lossy encoding larger than NO_CHANCE times lossless WebP went unscored (but the yardstick,
    # which sets the target).
    lossy = [t for t in choice.trials if not t.encoded.lossless and t.encoded.settings != yardstick]
    assert all(t.size <= round(lossless.size * smart.NO_CHANCE) for t in lossy)


def test_a_smart_false_encoding_the_busy_second_core_has_not_begun_is_encoded_by_the_search_itself(
    graphic, monkeypatch
):
    rival = plain_settings(graphic.pixels, OutputFormat.AVIF, 80)  # queued behind lossless WebP
    taken_over = threading.Event()
    lossless_waited = []

    def before(settings):
        if settings == LOSSLESS_WEBP:
            lossless_waited.append(taken_over.wait(timeout=HOLD))  # the second core stays busy
        elif settings == rival and _on_the_search_thread():
            taken_over.set()

    choice, threads = _search_recording_threads(graphic.pixels, monkeypatch, before)

    assert threads[rival] is threading.main_thread()
    assert lossless_waited == [True]
    assert any(t.encoded.settings == LOSSLESS_WEBP for t in choice.trials)  # lossless still competed


def _avif_lane_first(settings: EncoderSettings) -> bool:
    return settings.format is OutputFormat.AVIF and settings.full_chroma


def test_a_graphics_palette_and_next_lane_are_encoded_on_the_second_core_while_the_first_lane_runs(monkeypatch):
    pixels = prepared(images.cells(400)).pixels
    yardstick = plain_settings(pixels, OutputFormat.WEBP, 80)
    next_lane_begun = threading.Event()

    def before(settings):
        if _avif_lane_first(settings) and not _on_the_search_thread():
            next_lane_begun.set()  # after the palette, on the same core
        elif _on_the_search_thread() and settings.format is OutputFormat.WEBP and settings != yardstick:
            next_lane_begun.wait(timeout=HOLD)  # the WebP lane leaves the second core time for both

    with monkeypatch.context() as patch:
        patch.setattr(_Search, "encode_ahead", lambda search, settings: None)
        on_one_core = smart.smart_choice(
            pixels, format=RequestedFormat.AUTO, quality=80, max_bytes=None, budget=Budget()
        )
    choice, threads = _search_recording_threads(pixels, monkeypatch, before)

    ahead = [s for s in threads if s == smart.PALETTE_WEBP or _avif_lane_first(s)]
    assert len(ahead) == 2
    assert all(threads[s] is not threading.main_thread() for s in ahead)
    # Encoded ahead or not, the search decides the same.
    assert [(t.encoded.settings, t.size) for t in choice.trials] == [
        (t.encoded.settings, t.size) for t in on_one_core.trials
    ]
    assert choice.encoded.data == on_one_core.encoded.data


def test_a_trial_the_busy_second_core_has_not_begun_is_encoded_by_the_search_itself(monkeypatch):
    pixels = prepared(images.cells(400)).pixels
    rival = plain_settings(pixels, OutputFormat.AVIF, 80)  # the palette is queued behind it
    taken_over = threading.Event()
    rival_waited = []

    def before(settings):
        if settings == rival and not _on_the_search_thread():
            rival_waited.append(taken_over.wait(timeout=HOLD))  # the second core stays busy
        elif settings == smart.PALETTE_WEBP and _on_the_search_thread():
            taken_over.set()

    _, threads = _search_recording_threads(pixels, monkeypatch, before)

    assert threads[smart.PALETTE_WEBP] is threading.main_thread()
    assert rival_waited == [True]


def test_while_the_second_core_encodes_a_trial_the_search_waits_for_it_encodes_those_queued_behind(monkeypatch):
    pixels = prepared(images.cells(400)).pixels
    yardstick = plain_settings(pixels, OutputFormat.WEBP, 80)
    palette_begun, taken_over = threading.Event(), threading.Event()
    palette_held = []

    def before(settings):
        if settings == smart.PALETTE_WEBP and not _on_the_search_thread():
            palette_begun.set()
            palette_held.append(taken_over.wait(timeout=HOLD))  # the second core stays on the palette
        elif _avif_lane_first(settings) and _on_the_search_thread():
            taken_over.set()
        elif _on_the_search_thread() and settings.format is OutputFormat.WEBP and settings != yardstick:
            palette_begun.wait(timeout=HOLD)  # the WebP lane leaves the second core time to begin it

    _, threads = _search_recording_threads(pixels, monkeypatch, before)

    assert palette_held == [True]  # the next lane's first trial was encoded while the palette was
    assert threads[smart.PALETTE_WEBP] is not threading.main_thread()
    assert [threads[s] for s in threads if _avif_lane_first(s)] == [threading.main_thread()]


def test_a_rival_is_scored_ahead_only_when_smaller_than_every_encoding_that_may_reach_the_target(photo):
    """The second core scores smart:false's encoding as soon as it is encoded if rivals will most
    likely need its score: it is smaller than the trial being scored and than every pass."""
    search = _Search(photo.pixels, 75.0, Budget())
    search.lanes_done()  # else rival waits for a trial to be scored
    webp = plain_settings(photo.pixels, OutputFormat.WEBP, 80)
    size = len(smart.encode_if_faithful(photo.pixels, webp).data)
    avif = EncoderSettings(OutputFormat.AVIF, 60, speed=9)

    def scored_ahead(*, scoring: int | None = None, passes: tuple[int, ...] = ()) -> bool:
        search._scoring = Encoded(b"x" * scoring, avif) if scoring else None
        search.trials = [trial(bytes_, 76.0, avif) for bytes_ in passes]
        encoded, ahead = search.rival(webp)
        assert encoded is not None and len(encoded.data) == size
        return ahead is not None

    assert scored_ahead(scoring=size + 1)
    assert scored_ahead(passes=(size + 1,))
    assert not scored_ahead()  # nothing to compare with yet
    assert not scored_ahead(scoring=size - 1)
    assert not scored_ahead(scoring=size + 1, passes=(size - 1,))


# --- the search's steps ---------------------------------------------------------------------------


SOME_WEBP = EncoderSettings(OutputFormat.WEBP, 30)


def trial(size: int, score: float, settings: EncoderSettings = SOME_WEBP) -> Trial:
    return Trial(Encoded(bytes(size), settings), score=score, seconds=0.0)


def test_after_a_far_miss_the_slower_lane_starts_up_from_the_level_that_missed(photo, monkeypatch):
    """Speed 7 scores at least what speed 9 did at the same level: its first trial goes up from
    the far miss along the slope (at most MAX_STEP), not back to where the prior put it."""
    search = _Search(photo.pixels, 75.0, Budget())
    missed_at = 80
    search.far_miss = trial(10_000, 50.0, EncoderSettings(OutputFormat.AVIF, missed_at, speed=9))
    levels = []
    monkeypatch.setattr(search, "run", lambda settings: levels.append(settings.quality))  # no trial: the lane ends
    careful = next(
        lane for lane in smart._lanes(photo.pixels, [OutputFormat.AVIF], graphic=False) if lane.after_a_far_miss
    )

    search.lane(careful)

    assert missed_at < levels[0] <= missed_at + smart.MAX_STEP


def test_the_next_level_lies_between_a_miss_and_a_pass_and_none_when_they_are_adjacent():
    lane = Lane(lambda q: EncoderSettings(OutputFormat.AVIF, q), prior=((0, 0.0), (100, 100.0)))

    between = _next_level({50: trial(1, 70.0), 60: trial(2, 80.0)}, 75.5, lane)
    adjacent = _next_level({50: trial(1, 70.0), 51: trial(2, 80.0)}, 75.5, lane)
    upwards = _next_level({50: trial(1, 70.0)}, 75.5, lane)

    assert between in (55, 56)
    assert adjacent is None
    assert 52 <= upwards <= 65  # at least two levels up, at most MAX_STEP


def test_a_lane_stops_once_a_trial_that_missed_is_already_no_smaller_than_the_rival(photo):
    """Bytes grow with the level: every level that reaches the target is at least as large as a
    trial that missed it."""
    search = _Search(photo.pixels, 75.0, Budget())
    rival = trial(40_000, 100.0, LOSSLESS_WEBP)

    assert search._cannot_win({30: trial(42_000, 70.4)}, rival)
    assert not search._cannot_win({30: trial(38_000, 70.4)}, rival)
    assert not search._cannot_win({30: trial(42_000, 76.0)}, rival)  # a pass bounds nothing


def test_smart_false_encodings_are_skipped_only_when_a_trial_already_settled_them(photo):
    search = _Search(photo.pixels, 75.0, Budget())
    webp = EncoderSettings(OutputFormat.WEBP, 60, method=OPAQUE_WEBP_METHOD)
    search.trials = [trial(30_000, 76.0, webp), trial(20_000, 70.0, replace(webp, quality=50))]

    def settled(**settings) -> bool:
        return search.settled(replace(webp, **settings))

    assert settled(quality=80)  # at least as large as the passing q60, the best
    assert settled(quality=45)  # misses, as q50 did
    assert not settled(quality=55)  # might pass, smaller
    assert not settled(quality=80, method=4)  # other settings
    assert not settled(quality=80, format=OutputFormat.AVIF)


def scored_by_level(curve, levels: list[int]):
    """A stand-in for _Search._trial: a trial of `settings` scores curve(level), its size growing
    with the level; each level tried is recorded in `levels`."""

    def fake_trial(settings: EncoderSettings, *, with_a_chance: bool = False) -> Trial:
        levels.append(settings.quality)
        return trial(260 * settings.quality, curve(settings.quality), settings)

    return fake_trial


def test_a_step_down_from_a_pass_far_above_the_target_that_misses_goes_on_between_them(photo, monkeypatch):
    """A pass 15 points above the target wastes ~50% of the bytes: after a step down missed, the
    lane interpolates between the two, as it would had it come up from the miss."""
    search = _Search(photo.pixels, 75.0, Budget())
    search.detail_shift = 0.0  # the first trial at the prior's level for 78: 78
    levels: list[int] = []
    monkeypatch.setattr(search, "_trial", scored_by_level(lambda level: 90.0 if level >= 70 else 70.0, levels))
    lane = Lane(lambda q: EncoderSettings(OutputFormat.AVIF, q, speed=9), prior=((0, 0.0), (100, 100.0)))

    search.lane(lane)

    assert levels[:2] == [78, 63]  # a far pass, then a step down (MAX_STEP) that misses
    assert len(levels) == 3 and 63 < levels[2] < 78


@pytest.mark.parametrize(("rival_size", "levels"), [(19_500, [78, 74]), (15_000, [78])])
def test_a_pass_larger_than_the_best_so_far_goes_on_down_where_it_may_win_at_the_target(
    photo, monkeypatch, rival_size, levels
):
    """A pass 4 points above the target (20.3 kB) cannot be the answer while a smaller result
    passes (19.5 kB, the yardstick say): at the target its lane is expected to take ~18% less
    (BYTES_PER_POINT), so it goes on down, however close it passed (plasma-ColorfulCups: AVIF q56,
    95.9 kB at 74.1, then q54, 87.0 kB at 72.6, against the yardstick's 93.1 kB at 72.2). Against a
    rival smaller than that expectation, the lane ends there."""
    search = _Search(photo.pixels, 75.0, Budget())
    search.detail_shift = 0.0  # the first trial at the prior's level for 78: 78
    search.trials.append(trial(rival_size, 75.0))
    tried: list[int] = []
    monkeypatch.setattr(search, "_trial", scored_by_level(lambda level: 75.0 + (level - 74), tried))
    lane = Lane(lambda q: EncoderSettings(OutputFormat.AVIF, q, speed=9), prior=((0, 0.0), (100, 100.0)))

    assert search.lane(lane)

    assert tried == levels
    assert search.best().size == min(rival_size, 260 * 74)


def test_a_pass_far_above_the_target_ends_its_lane_where_even_at_the_target_it_would_not_beat_the_best(
    photo, monkeypatch
):
    """15 points above the target, 20.3 kB is expected to take ~9.6 kB at the target
    (BYTES_PER_POINT): against a 5 kB result no level of its lane can win, so no more trials
    (they went on down before, as from any pass that far above)."""
    search = _Search(photo.pixels, 75.0, Budget())
    search.detail_shift = 0.0  # the first trial at the prior's level for 78: 78
    search.trials.append(trial(5_000, 75.0))
    tried: list[int] = []
    monkeypatch.setattr(search, "_trial", scored_by_level(lambda level: 90.0 if level >= 70 else 70.0, tried))
    lane = Lane(lambda q: EncoderSettings(OutputFormat.AVIF, q, speed=9), prior=((0, 0.0), (100, 100.0)))

    search.lane(lane)

    assert tried == [78]


@pytest.mark.parametrize(
    ("lost", "tried", "returned"),
    [({63}, [78, 63, 70], 70), (set(range(63, 78)), [78, 63, 70, 74, 76, 77], 78)],
)
def test_a_step_down_to_a_level_whose_alpha_is_lost_goes_on_halfway_back_to_the_pass(
    photo, monkeypatch, lost, tried, returned
):
    """AVIF's alpha at the colour's quality can be lost at one level and kept at a lower one
    (art-gulp at quality 30: lost at 5, kept at 10): a step down from a pass far above the target
    to such a level goes on halfway back up, not home with that pass (27 kB at 70.7 for a target
    of 51, where the search now returns 11 kB at 59.9); where every level between is lost, the
    pass it is."""
    search = _Search(photo.pixels, 75.0, Budget())
    search.detail_shift = 0.0  # the first trial at the prior's level for 78: 78
    levels: list[int] = []
    scored = scored_by_level(lambda level: 90.0 if level >= 72 else 76.0 if level >= 66 else 70.0, levels)

    def alpha_lost_at(settings: EncoderSettings, *, with_a_chance: bool = False) -> Trial | None:
        if settings.quality in lost:
            levels.append(settings.quality)
            search._alpha_lost.add(settings)
            return None
        return scored(settings)

    monkeypatch.setattr(search, "_trial", alpha_lost_at)
    lane = Lane(lambda q: EncoderSettings(OutputFormat.AVIF, q, speed=9), prior=((0, 0.0), (100, 100.0)))

    assert search.lane(lane)

    assert levels == tried  # 63: a step down (MAX_STEP), its alpha lost
    assert search.best().encoded.quality == returned


@pytest.mark.parametrize(("rise", "levels"), [(1.5, [78, 83, 82]), (1.1, [78, 83])])
def test_a_pass_more_than_two_points_above_a_miss_goes_on_between_them(photo, monkeypatch, rise, levels):
    """Up from a miss (70 at 78), a pass 2.5 points above the target (77.5 at 83; ~12% of its
    bytes) is worth one more trial, interpolated between two measurements; one 0.5 above is not.
    Without a miss below, a pass up to CLOSE_ENOUGH above ends the lane (the test above)."""
    search = _Search(photo.pixels, 75.0, Budget())
    search.detail_shift = 0.0  # the first trial at the prior's level for 78: 78
    tried: list[int] = []
    monkeypatch.setattr(search, "_trial", scored_by_level(lambda level: 70.0 + (level - 78) * rise, tried))
    lane = Lane(lambda q: EncoderSettings(OutputFormat.AVIF, q, speed=9), prior=((0, 0.0), (100, 100.0)))

    assert search.lane(lane)

    assert tried == levels


def test_a_miss_a_level_short_goes_on_when_the_best_result_passed_far_above_it(photo, monkeypatch):
    """A lane out of trials one point under the target, while smart:false's encoding passed at 3x
    its bytes: its settings go on up, past the budget, until one passes."""
    search = _Search(photo.pixels, 75.0, Budget(max_trials=2))
    full_chroma = EncoderSettings(OutputFormat.AVIF, 40, speed=9, full_chroma=True)
    search.trials = [trial(10_500, 72.0, full_chroma), trial(11_600, 74.5, replace(full_chroma, quality=44))]
    search.trials.append(trial(37_000, 83.6, EncoderSettings(OutputFormat.AVIF, 80, speed=9)))
    levels: list[int] = []
    monkeypatch.setattr(search, "_trial", scored_by_level(lambda level: 30.0 + level, levels))

    search.closest_goes_on()

    assert levels == [46]  # 45.5 along the measured slope: the first pass ends it
    assert search.best().encoded.settings == replace(full_chroma, quality=46)

    search.trials = search.trials[:3]
    search.deadline = 0.0  # past: with a result in hand, no trial beyond the time budget
    search.closest_goes_on()

    assert levels == [46]


def test_a_miss_does_not_go_on_when_the_best_result_is_about_what_it_would_take(photo, monkeypatch):
    search = _Search(photo.pixels, 75.0, Budget())
    webp = EncoderSettings(OutputFormat.WEBP, 40)
    search.trials = [trial(10_000, 74.0, webp), trial(12_000, 76.0, EncoderSettings(OutputFormat.AVIF, 50, speed=9))]
    levels: list[int] = []
    monkeypatch.setattr(search, "_trial", scored_by_level(lambda level: 30.0 + level, levels))

    search.closest_goes_on()

    assert levels == []


def test_settings_far_under_the_target_along_a_flat_curve_are_never_expected_to_reach_it(photo, monkeypatch):
    """An image these settings cannot render (a fuzzed CMYK JPEG: -64.2 at every level, to a hair)
    measures a bytes-per-point rate so steep that its extrapolation to the target overflows a float:
    such settings are never expected to reach the target, and the search goes on without them."""
    search = _Search(photo.pixels, 71.0, Budget())
    careful = EncoderSettings(OutputFormat.AVIF, 83, speed=7)
    search.trials = [trial(2_876, -64.2304, careful), trial(5_407, -64.2292, replace(careful, quality=98))]
    levels: list[int] = []
    monkeypatch.setattr(search, "_trial", scored_by_level(lambda level: -64.0, levels))

    assert search._bytes_at_target(search.trials[0]) == math.inf
    search.closest_goes_on()  # no OverflowError

    assert levels == [99]  # what is left of the lane, tried since nothing reached the target


@pytest.mark.parametrize(("score", "target"), [(72.3, 72.3), (64.0, 71.0), (88.0, 75.0)])
@pytest.mark.parametrize("candidate", [True, False])
def test_the_yardstick_sets_the_target_and_competes_where_webp_may_be_returned(
    photo, monkeypatch, score, target, candidate
):
    search = _Search(photo.pixels, 75.0, Budget())
    monkeypatch.setattr(search, "_trial", scored_by_level(lambda level: score, []))
    webp = plain_settings(photo.pixels, OutputFormat.WEBP, 80)

    assert search.measure_yardstick(webp, QualityTarget.for_quality(80), candidate=candidate) == QualityTarget(
        score=target, floor=71.0
    )
    assert search.target == target
    assert [t.encoded.settings for t in search.trials] == ([webp] if candidate else [])


def test_a_lane_whose_settings_were_measured_just_above_the_target_runs_no_trial(photo, monkeypatch):
    search = _Search(photo.pixels, 75.0, Budget())
    levels: list[int] = []
    monkeypatch.setattr(search, "_trial", scored_by_level(lambda level: 70.0, levels))
    webp = Lane(lambda q: EncoderSettings(OutputFormat.WEBP, q, method=2), WEBP_PRIOR)
    search.trials = [trial(5000, 77.0, webp.settings(80))]  # the yardstick

    assert search.lane(webp) is False
    assert levels == []


def test_a_lane_starts_from_what_was_measured_of_its_settings_not_from_its_prior(photo, monkeypatch):
    """A yardstick 15.2 points above the prior at its level (q80: 74.8): the lane's first trial goes
    where the prior, moved up as much, puts the aim (78: the prior's 62.8, between q40 at 62.2 and
    q50 at 65.5), far below where the prior's slope at q80 would reach in one step (MAX_STEP)."""
    search = _Search(photo.pixels, 75.0, Budget())
    levels: list[int] = []
    monkeypatch.setattr(search, "_trial", scored_by_level(lambda level: 60.0 + level / 2, levels))
    webp = Lane(lambda q: EncoderSettings(OutputFormat.WEBP, q, method=2), WEBP_PRIOR)
    search.trials = [trial(5000, 90.0, webp.settings(80))]

    assert search.lane(webp) is True
    assert levels[0] == 42 < 80 - smart.MAX_STEP


@pytest.mark.parametrize(("more", "trials"), [(None, 1), (2, 2)])
def test_a_lanes_trial_limit_counts_what_was_measured_of_its_settings_before(photo, monkeypatch, more, trials):
    """The WebP lane of a graphic has 2 trials, the yardstick one of them; `below` asks for more."""
    search = _Search(photo.pixels, 75.0, Budget())
    levels: list[int] = []
    monkeypatch.setattr(
        search, "_trial", scored_by_level(lambda level: 90.0 if level >= 80 else 40.0 + level / 2, levels)
    )
    webp = Lane(lambda q: EncoderSettings(OutputFormat.WEBP, q, method=2), WEBP_PRIOR, max_trials=2)
    search.trials = [trial(5000, 90.0, webp.settings(80))]

    search.lane(webp, more=more)

    assert len(levels) == trials


def test_the_closest_miss_is_judged_on_the_bytes_per_point_its_own_settings_measured(photo, monkeypatch):
    """A flat AVIF 4:2:0 curve (1.2 points for 19% more bytes: 15% a point) is expected to take
    more at the target than a far 4:4:4 miss at the usual 5% a point: the 4:4:4 settings go on."""
    search = _Search(photo.pixels, 71.0, Budget())
    levels: list[int] = []
    monkeypatch.setattr(search, "_trial", scored_by_level(lambda level: 72.0, levels))
    avif = EncoderSettings(OutputFormat.AVIF, 78, speed=9)
    full_chroma = EncoderSettings(OutputFormat.AVIF, 57, speed=9, full_chroma=True)
    search.trials = [
        Trial(Encoded(bytes(12858), avif), score=68.9, seconds=0.0),
        Trial(Encoded(bytes(15269), replace(avif, quality=86)), score=70.1, seconds=0.0),
        Trial(Encoded(bytes(8110), full_chroma), score=59.1, seconds=0.0),
    ]

    search.closest_goes_on()

    assert search.trials[-1].encoded.settings.full_chroma


def test_lossless_webp_of_a_short_wide_image_is_estimated_from_its_one_band_in_proportion():
    """With one band, every other band of it is the same rows: the line through the two was flat,
    and the estimate 8 rows' bytes, an eighth of a photograph's (review, 2026-12-07)."""
    pixels = prepared(images.photo(4000, 60)).pixels
    exact = len(encoders.encode(pixels, LOSSLESS_WEBP).data)

    estimate = smart.lossless_estimate(pixels)

    assert exact / 2 <= estimate.size <= 2 * exact
