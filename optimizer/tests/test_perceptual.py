from concurrent.futures import ThreadPoolExecutor

import pytest

from optimizer.choice import plain_settings
from optimizer.encoders import decode, encode
from optimizer.formats import OutputFormat
from optimizer.perceptual import Reference


def test_a_reference_prepared_on_another_thread_scores_as_one_prepared_by_its_first_score(photo):
    encoded = encode(photo.pixels, plain_settings(photo.pixels, OutputFormat.WEBP, 60))
    decoded = decode(encoded.data, OutputFormat.WEBP)

    with ThreadPoolExecutor(max_workers=1) as side:
        ahead = Reference(photo.pixels)
        ahead.prepare_on(side)
        metric = ahead._prepared.result()

    assert metric._kept  # the reference's half of the work, done on the other thread before any score
    assert ahead.score(decoded) == pytest.approx(Reference(photo.pixels).score(decoded), abs=1e-9)
