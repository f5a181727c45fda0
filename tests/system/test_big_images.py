"""Big images (issue 14, items 3 and 4): each is optimized or refused with a clear 400
IMAGE_TOO_LARGE, never a 500; the worker that met one goes on working for the next customer; no
worker process peaks above 1 GiB; ImageMagick leaves no temporary file behind. The stack runs one
worker process (CELERY_WORKER_CONCURRENCY=1), so every image here goes through the same one."""

from tests.system import pictures
from tests.system.http import Answer, assert_error, summary
from tests.system.procs import MIB
from tests.system.stack import MARKS, PeakMemory, ServeStack

pytestmark = MARKS

MAX_WORKER_MEMORY = 1024 * MIB
REFUSAL_SECONDS = 30  # a refusal is decided before the long work, not after it


def test_an_image_over_imagemagicks_budget_is_refused_quickly_and_the_worker_goes_on(serve):
    _, api = serve.customer()

    with PeakMemory(serve) as memory:
        huge = api.optimize(pictures.smooth_png(10_000, 10_000), format="avif", maxWidth=16384, smart=False)
        large = api.optimize(pictures.smooth_png(7000, 7000), format="webp", maxWidth=7000)
        small = api.optimize(pictures.small())

    assert_error(huge, 400, "IMAGE_TOO_LARGE")
    assert huge.seconds <= REFUSAL_SECONDS, str(huge)
    _assert_optimized_or_too_large(large)
    assert small.status == 200, str(small)
    _assert_within_bounds(serve, memory)


def test_a_full_size_48_megapixel_photo_is_optimized_or_refused_and_the_worker_goes_on(serve):
    _, api = serve.customer()
    photo = pictures.photo_jpeg(8000, 6000)

    with PeakMemory(serve) as memory:
        as_asked_by_default = api.optimize(photo, maxWidth=8000)
        as_avif = api.optimize(photo, maxWidth=8000, format="avif", smart=False)
        small = api.optimize(pictures.small())

    _assert_optimized_or_too_large(as_asked_by_default)
    _assert_optimized_or_too_large(as_avif)
    assert small.status == 200, str(small)
    _assert_within_bounds(serve, memory)


def test_48_then_100_megapixels_then_a_small_image_are_all_optimized(serve):
    _, api = serve.customer()

    with PeakMemory(serve) as memory:
        answers = [
            api.optimize(pictures.photo_jpeg(8000, 6000)),
            api.optimize(pictures.photo_jpeg(10_000, 10_000)),
            api.optimize(pictures.small()),
        ]

    assert [answer.status for answer in answers] == [200, 200, 200], summary(answers)
    assert [answer.json()["width"] for answer in answers] == [1920, 1920, 256]
    _assert_within_bounds(serve, memory)


def _assert_optimized_or_too_large(answer: Answer) -> None:
    if answer.status != 200:
        assert_error(answer, 400, "IMAGE_TOO_LARGE")
        assert answer.seconds <= REFUSAL_SECONDS, str(answer)


def _assert_within_bounds(stack: ServeStack, memory: PeakMemory) -> None:
    peak, pid = memory.highest()
    assert peak <= MAX_WORKER_MEMORY, f"worker process {pid} peaked at {peak / MIB:.0f} MiB"
    assert stack.leftover_magick_files() == []
