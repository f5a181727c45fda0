"""The ImageMagick policy is in force in every process that imports optimizer.magick."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from optimizer import magick
from optimizer.tests import images

REPO = Path(__file__).resolve().parents[2]

# Coders an attacker would reach for (vector and script formats, delegates, pseudo-images that read
# files or fetch URLs) and ordinary ones we do not accept; none may decode anything.
DENIED_SAMPLES = {
    "SVG": b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>',
    "MSVG": b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>',
    "MVG": b"viewbox 0 0 4 4 image over 0,0 0,0 'text:/etc/passwd'",
    "MSL": b'<?xml version="1.0"?><image><read filename="/etc/passwd"/></image>',
    "TEXT": b"hello",
    "TXT": b"hello",
    "PS": b"%!PS\n",
    "EPS": b"%!PS\n",
    "PDF": b"%PDF-1.4\n",
    "HTML": b"<html></html>",
    "URL": b"http://169.254.169.254/",
    "HTTPS": b"https://example.com/",
    "EPHEMERAL": b"/etc/passwd",
    "LABEL": b"hello",
    "XC": b"red",
    "INFO": b"x",
    "MPC": b"id=MagickCache",
    "PBM": b"P1\n1 1\n0\n",
    "PPM": b"P3\n1 1\n255\n0 0 0\n",
    "PSD": b"8BPS",
    "XPM": b"/* XPM */",
    "ICO": b"\0\0\1\0",
    "TGA": bytes(18),
}


@pytest.mark.parametrize(("coder", "sample"), DENIED_SAMPLES.items())
def test_every_coder_outside_the_allow_list_is_denied(coder, sample):
    with magick.new_image_reader(coder) as image, pytest.raises(magick.exceptions.WandException):
        image.read(blob=sample)


def test_a_coder_the_system_policy_allows_is_denied_by_ours():
    with magick.new_image_reader("PBM") as image, pytest.raises(magick.exceptions.PolicyError):
        image.read(blob=DENIED_SAMPLES["PBM"])


def test_indirect_file_arguments_are_denied():
    with pytest.raises(magick.exceptions.PolicyError):
        magick.Image(filename="@/etc/passwd")


def test_resource_limits_are_in_force():
    assert magick.limits["thread"] == 1
    assert magick.limits["area"] <= 128_000_000
    assert magick.limits["width"] <= 16_000
    assert magick.limits["height"] <= 16_000
    assert magick.limits["memory"] <= 256 * 2**20
    assert magick.limits["map"] <= 512 * 2**20
    assert magick.limits["disk"] <= 2**30


def run_python(code: str) -> subprocess.CompletedProcess:
    """Run `code` in a new Python process, without this process's MAGICK_CONFIGURE_PATH."""
    env = {name: value for name, value in os.environ.items() if name != "MAGICK_CONFIGURE_PATH"}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_a_fresh_process_proves_the_policy_when_it_first_imports_imagemagick():
    result = run_python(
        "import os; from optimizer import magick; magick.assert_policy_in_force();"
        "print(os.environ['MAGICK_CONFIGURE_PATH'])"
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split(":")[0].strip() == str(REPO / "optimizer")


def test_a_process_that_imported_wand_first_refuses_to_go_on():
    result = run_python("import wand.image; import optimizer.magick")

    assert result.returncode != 0
    assert "imported before optimizer.magick" in result.stderr


# Each enum property of an image, and the ImageMagick call that sets its raw value.
ENUM_PROPERTIES = {
    "colorspace": "MagickSetImageColorspace",
    "compression": "MagickSetImageCompression",
    "dispose": "MagickSetImageDispose",
    "gravity": "MagickSetGravity",
    "interlace_scheme": "MagickSetImageInterlaceScheme",
    "orientation": "MagickSetImageOrientation",
    "rendering_intent": "MagickSetImageRenderingIntent",
    "type": "MagickSetImageType",
    "units": "MagickSetImageUnits",
}


@pytest.mark.parametrize(("name", "setter"), ENUM_PROPERTIES.items())
def test_no_enum_property_raises_on_a_value_wands_table_does_not_list(name, setter):
    """ImageMagick adds enum values Wand's tables do not list (6.9.10's linear grey colourspace,
    35, is a PNG with a gAMA of 1.0): Wand looked them up and raised IndexError."""
    with magick.Image(width=2, height=2) as image:
        for value in range(64):
            getattr(magick.library, setter)(image.wand, value)
            assert isinstance(getattr(image, name), str)


def test_an_unlisted_colourspace_names_its_value_and_can_still_be_set():
    with magick.Image(width=2, height=2) as image:
        magick.library.MagickSetImageColorspace(image.wand, 35)

        assert image.colorspace == "unlisted-35"
        image.colorspace = "srgb"
        assert image.colorspace == "srgb"


def read_with_problem(coder: str, data: bytes) -> magick.exceptions.WandException | None:
    with magick.new_image_reader(coder) as image:
        magick.library.MagickReadImageBlob(image.wand, data, len(data))
        problem = magick.read_problem(image)
        assert magick.read_problem(image) is None  # cleared
        return problem


def test_a_warning_a_coder_leaves_on_the_image_is_read():
    """libjpeg's "Premature end of JPEG file" reaches the image, not the wand Wand looks at."""
    whole = images.encode(images.photo(), "JPEG")

    problem = read_with_problem("JPEG", whole[: len(whole) // 2])

    assert isinstance(problem, magick.exceptions.CorruptImageWarning)
    assert "Premature end of JPEG file" in str(problem)
    assert read_with_problem("JPEG", whole) is None


def test_an_error_on_the_wand_is_read():
    whole = images.encode(images.photo(), "GIF")

    assert isinstance(read_with_problem("GIF", whole[: len(whole) // 2]), magick.exceptions.CorruptImageError)


def test_each_process_keeps_its_disk_caches_in_its_own_folder_and_the_gone_ones_are_removed():
    code = "from optimizer import magick, tasks; import os; print(os.environ['MAGICK_TEMPORARY_PATH'])"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "smolpix.settings", "PYTHONPATH": str(REPO)}
    # A process killed before it could clean up leaves its folder, with a cache file in it.
    killed = subprocess.Popen(
        [sys.executable, "-c", code + "; open(os.environ['MAGICK_TEMPORARY_PATH'] + '/magick-x', 'w'); os._exit(0)"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    left_behind = Path(killed.communicate()[0].strip())
    assert (left_behind / "magick-x").exists()

    own = magick.use_own_cache_folder()

    assert own == magick.CACHE_ROOT / str(os.getpid())
    assert os.environ["MAGICK_TEMPORARY_PATH"] == str(own)
    assert not left_behind.exists()


def test_no_cache_stays_taken_once_an_image_is_closed():
    with magick.Image(width=100, height=100):
        assert magick.caches_in_use() > 0
    assert magick.caches_in_use() == 0


@pytest.mark.parametrize(
    ("alpha", "expected"),
    [(None, True), (255, True), (254, False), (0, False)],
    ids=["no alpha", "opaque alpha", "one pixel nearly opaque", "one pixel transparent"],
)
def test_opaque_says_whether_every_pixel_is_fully_opaque(alpha, expected):
    picture = images.photo(64, 48)
    if alpha is not None:
        picture = picture.convert("RGBA")
        picture.putpixel((63, 47), (*picture.getpixel((63, 47))[:3], alpha))

    with magick.new_image_reader("PNG") as image:
        image.read(blob=images.encode(picture, "PNG"))

        assert magick.opaque(image) is expected
