from concurrent.futures import ThreadPoolExecutor

import pytest

from optimizer.choice import plain_settings
from optimizer.encoders import decode, encode
from optimizer.formats import OutputFormat
from optimizer.perceptual import Reference, flatness
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
