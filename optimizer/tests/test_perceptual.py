from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from optimizer.choice import plain_settings
from optimizer.encoders import decode, encode
from optimizer.formats import OutputFormat
from optimizer.perceptual import MAGENTA, Reference, flatness, flattened, has_at_most_colours, sampled_colours
from optimizer.pixels import Pixels


def test_a_reference_prepared_on_another_thread_scores_as_one_prepared_by_its_first_score(photo):
    encoded = encode(photo.pixels, plain_settings(photo.pixels, OutputFormat.WEBP, 60))
    decoded = decode(encoded.data, OutputFormat.WEBP)

    with ThreadPoolExecutor(max_workers=1) as side:
        ahead = Reference(photo.pixels)
        ahead.prepare_on(side)
        metric = ahead._prepared.result()

    assert metric._kept  # the reference's half of the work, done on the other thread before any score
    assert ahead.score(decoded) == pytest.approx(Reference(photo.pixels).score(decoded), abs=1e-9)


@pytest.mark.parametrize("alpha", [b"", b"\xff"])
@pytest.mark.parametrize("channel", [0, 1, 2])
def test_flatness_counts_a_pixel_as_its_neighbours_twin_only_when_every_channel_is_equal(alpha, channel):
    """One row, A A B A A, where B differs from A in one channel alone: two of the four
    neighbour pairs are equal."""
    a = bytes([10, 20, 30]) + alpha
    b = bytearray(a)
    b[channel] += 1
    pixels = Pixels(data=a + a + bytes(b) + a + a, width=5, height=1, has_alpha=bool(alpha))

    assert flatness(pixels) == 0.5


def test_flattening_composites_every_colour_and_alpha_onto_magenta_rounded_to_nearest():
    """Every 8-bit level in every channel under every alpha: (c a + m (255 - a)) / 255, rounded."""
    colour, alpha = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    rgba = np.stack([colour, colour, colour, alpha], axis=-1).astype(np.uint8)
    pixels = Pixels(data=rgba.tobytes(), width=256, height=256, has_alpha=True)

    composite = (colour[..., None] * alpha[..., None] + np.array(MAGENTA) * (255 - alpha[..., None]) + 127) // 255

    np.testing.assert_array_equal(flattened(pixels), composite)


@pytest.mark.parametrize(("width", "height"), [(1, 1), (7, 3), (64, 45)])
@pytest.mark.parametrize("alpha", [False, True])
def test_flattening_every_nth_pixel_gives_those_pixels_of_the_whole(width, height, alpha):
    rgba = np.random.default_rng(width).integers(0, 256, (height, width, 4 if alpha else 3), dtype=np.uint8)
    pixels = Pixels(data=rgba.tobytes(), width=width, height=height, has_alpha=alpha)

    whole = flattened(pixels)

    assert whole.shape == (height, width, 3)
    for step in (2, 5):
        np.testing.assert_array_equal(flattened(pixels, step=step), whole[::step, ::step])


def few_colours_with_rare_ones(rare: int, *, alpha: bool = False) -> Pixels:
    """100 x 100 of 50 flat colours in rows 2 high, and `rare` more colours, one pixel each, on rows
    the 1-in-5 sample skips (anti-aliased edges, say)."""
    rows = np.repeat(np.arange(50, dtype=np.uint8)[:, None] * 5, 2, axis=0)
    rgba = np.stack([rows, 255 - rows, np.full_like(rows, 7), np.full_like(rows, 255)], axis=-1)
    rgba = np.repeat(rgba, 100, axis=1)
    for index in range(rare):
        rgba[1 + index // 99 * 5, index % 99] = (index % 256, index // 256, 200, 255)
    samples = rgba if alpha else rgba[..., :3]
    return Pixels(data=np.ascontiguousarray(samples).tobytes(), width=100, height=100, has_alpha=alpha)


@pytest.mark.parametrize("alpha", [False, True])
def test_colours_are_counted_exactly_where_a_sample_misses_some(alpha):
    pixels = few_colours_with_rare_ones(300, alpha=alpha)

    assert sampled_colours(pixels) <= 256  # the sample sees none of the rare ones
    assert not has_at_most_colours(pixels, 256)
    assert has_at_most_colours(pixels, 350)
    assert has_at_most_colours(few_colours_with_rare_ones(206, alpha=alpha), 256)
    assert not has_at_most_colours(few_colours_with_rare_ones(207, alpha=alpha), 256)


def test_with_alpha_a_colour_counts_once_per_alpha_and_every_fully_transparent_pixel_as_one():
    rgba = np.zeros((10, 30, 4), np.uint8)
    rgba[..., 0] = np.arange(30)  # 30 colours
    rgba[:5, :, 3] = 255
    rgba[5:, :, 3] = 128  # each again, half transparent: 60
    pixels = Pixels(data=rgba.tobytes(), width=30, height=10, has_alpha=True)
    assert has_at_most_colours(pixels, 60)
    assert not has_at_most_colours(pixels, 59)

    rgba[5:, :, 3] = 0  # fully transparent, of 30 RGB values: one colour
    pixels = Pixels(data=rgba.tobytes(), width=30, height=10, has_alpha=True)
    assert has_at_most_colours(pixels, 31)
    assert not has_at_most_colours(pixels, 30)
