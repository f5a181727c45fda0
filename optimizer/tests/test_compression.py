"""The simple encoding decision (optimizer.compression)."""

import pytest

from optimizer import imaging
from optimizer.compression import GRAPHIC_MAX_COLOURS, RequestedFormat, choose_encoding
from optimizer.imaging import OutputFormat
from optimizer.tests import images


def prepared(image) -> imaging.PreparedImage:
    return imaging.prepare(images.encode(image, "PNG"), max_width=4096, max_pixels=10_000_000)


@pytest.fixture(scope="module")
def photo():
    return prepared(images.photo())


@pytest.fixture(scope="module")
def graphic():
    return prepared(images.graphic())


@pytest.fixture(scope="module")
def transparent():
    return prepared(images.transparent())


@pytest.mark.parametrize("output", OutputFormat)
def test_an_explicit_format_is_encoded_at_the_requested_quality(photo, output):
    choice = choose_encoding(photo, format=RequestedFormat(output.value), quality=60, smart=False)

    assert choice.encoded.data == imaging.encode(photo.pixels, output, quality=60).data
    assert choice.notice is None


@pytest.mark.parametrize("quality", [1, 50, 100])
def test_auto_returns_the_smaller_of_webp_and_avif(photo, quality):
    sizes = {output: len(imaging.encode(photo.pixels, output, quality=quality).data) for output in OutputFormat}

    choice = choose_encoding(photo, format=RequestedFormat.AUTO, quality=quality, smart=False)

    assert len(choice.encoded.data) == min(sizes.values())
    assert choice.encoded.format is min(sizes, key=sizes.get)


def test_transparent_images_are_not_given_to_an_encoder_that_drops_alpha(transparent):
    choice = choose_encoding(transparent, format=RequestedFormat.AUTO, quality=80, smart=False)

    assert choice.encoded.format is OutputFormat.WEBP
    assert choice.notice is None
    assert images.decode(choice.encoded.data).getchannel("A").tobytes() == transparent.pixels.alpha()


def test_asking_for_avif_with_transparency_returns_webp_and_says_why(transparent):
    choice = choose_encoding(transparent, format=RequestedFormat.AVIF, quality=80, smart=False)

    assert choice.encoded.format is OutputFormat.WEBP
    assert "transparency" in choice.notice
    assert images.decode(choice.encoded.data).getchannel("A").tobytes() == transparent.pixels.alpha()


def test_smart_keeps_lossless_webp_for_a_graphic_when_it_is_smaller(graphic):
    assert imaging.count_colours(graphic.pixels) <= GRAPHIC_MAX_COLOURS
    lossy = choose_encoding(graphic, format=RequestedFormat.WEBP, quality=80, smart=False).encoded

    smart = choose_encoding(graphic, format=RequestedFormat.WEBP, quality=80, smart=True).encoded

    assert smart.lossless
    assert len(smart.data) < len(lossy.data)
    assert images.decode(smart.data).convert("RGB").tobytes() == graphic.pixels.data


def test_smart_encodes_photos_at_the_requested_quality(photo):
    smart = choose_encoding(photo, format=RequestedFormat.WEBP, quality=80, smart=True).encoded

    assert not smart.lossless
    assert smart.data == imaging.encode(photo.pixels, OutputFormat.WEBP, quality=80).data


def test_smart_respects_an_explicit_avif(graphic):
    choice = choose_encoding(graphic, format=RequestedFormat.AVIF, quality=80, smart=True)

    assert choice.encoded.format is OutputFormat.AVIF
