"""The ImageMagick policy is in force in every process that imports optimizer.magick."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from optimizer import magick

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
