"""Where results are written: a result whose name is near the 255 bytes file systems allow is written
(its temporary file is not named after it), and the file names taken from URLs are ones a file
system takes (no NUL nor separator, not too long, and apart when cut alike)."""

from __future__ import annotations

import pytest
from fake_api import IMAGE

from smolpix_client import Client, batch
from smolpix_client.files import PARTIAL_PREFIX, write_atomically

LONGEST = 255  # bytes in a file name, on the file systems the client writes to


def test_a_file_named_near_the_longest_is_written_whole(tmp_path):
    target = tmp_path / ("a" * (LONGEST - 5) + ".webp")

    write_atomically(target, IMAGE)

    assert [path.name for path in tmp_path.iterdir()] == [target.name]
    assert target.read_bytes() == IMAGE


def test_a_result_saved_under_a_name_near_the_longest_is_written(fake, tmp_path):
    api = fake()
    with Client("pk_live_" + "t" * 38, api.base_url) as client:
        result = client.optimize(file=b"\xff\xd8\xff\xe0 a JPEG", format="webp")

    saved = result.save(tmp_path / ("a" * (LONGEST - 5) + ".jpg"))

    assert saved.name == "a" * (LONGEST - 5) + ".webp"
    assert saved.read_bytes() == IMAGE
    assert not list(tmp_path.glob(f"{PARTIAL_PREFIX}*"))


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://images.example/a%00b.jpg", "a_b.jpg"),
        ("https://images.example/a%2Fb%5Cc.jpg", "a_b_c.jpg"),
        ("https://images.example/line%0Abreak.png", "line_break.png"),
        ("https://images.example/%00", "_"),
        ("https://images.example/photo.jpg?size=2", "photo.jpg"),
        ("https://images.example/", "image"),
    ],
)
def test_a_url_is_named_without_what_a_file_name_cannot_hold(url, name):
    assert batch._url_file_name(url) == name


@pytest.mark.parametrize("segment", ["b" * 300 + ".jpg", "é" * 200 + ".jpg", "b" * 300, "b." + "c" * 300])
def test_a_long_url_name_is_cut_with_a_digest_that_keeps_it_apart(segment):
    first = batch._url_file_name(f"https://images.example/one/{segment}")
    second = batch._url_file_name(f"https://images.example/two/{segment}")

    assert first != second
    for name in (first, second):
        assert len(name.encode()) <= batch.URL_NAME_BYTES
        assert name.startswith(segment[:50])
        assert name.endswith(".jpg") == segment.endswith(".jpg")  # an extension is kept
