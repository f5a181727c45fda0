from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from optimizer.choice import plain_settings
from optimizer.encoders import decode, encode
from optimizer.formats import OutputFormat
from optimizer.perceptual import MAGENTA, Reference, flatness, flattened
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
