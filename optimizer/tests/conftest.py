"""Fixtures shared by the optimizer's tests: the Celery worker, and prepared images for the
encoding decision's tests (test_compression.py, test_smart.py)."""

import pytest
from PIL import Image

from optimizer.tests import images
from optimizer.tests.celery_worker import post_to_worker, worker, worker_origin  # noqa: F401 (fixtures)
from optimizer.tests.test_compression import prepared


@pytest.fixture(scope="module")
def photo():
    return prepared(images.photo())


@pytest.fixture(scope="module")
def large_photo():
    return prepared(images.photo(840, 600))


@pytest.fixture(scope="module")
def graphic():
    return prepared(images.graphic())


@pytest.fixture(scope="module")
def transparent():
    return prepared(images.transparent())


@pytest.fixture(scope="module")
def jpeg_diagram():
    """Text and boxes saved as a quality-60 JPEG: a graphic whose JPEG noise makes lossless WebP
    larger than the source."""
    return prepared(images.diagram(), "JPEG", quality=60)


@pytest.fixture(scope="module")
def faint_glow():
    """A photo under a faint radial alpha (mean about 0.1), like a soft glow or shadow:
    flattened, its coding errors mostly hide."""
    image = images.photo(840, 600).convert("RGBA")
    image.putalpha(Image.radial_gradient("L").resize(image.size).point(lambda distance: (255 - distance) // 5))
    return prepared(image)
