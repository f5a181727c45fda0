"""The README and bench/README.md link to each other's sections: every relative link must reach a
file of the repository, and every #anchor a heading of its file, as GitHub renders them. And
.env.example, which the README says lists every variable with its default, names each one the settings
read, and changes none of them."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", ROOT / "bench" / "README.md"]
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCED = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$", re.MULTILINE)


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(document: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for heading in HEADING.findall(FENCED.sub("", document.read_text())):
        slug = anchor(heading)
        found.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return found


def test_anchor_follows_github():
    assert anchor("`make bench-compression`") == "make-bench-compression"
    assert anchor("The image's budget") == "the-images-budget"
    assert anchor("Smart compression's rules: the measurements") == "smart-compressions-rules-the-measurements"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_resolves(document):
    broken = []
    for target in LINK.findall(FENCED.sub("", document.read_text())):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, fragment = target.partition("#")
        linked = (document.parent / path).resolve() if path else document
        if not linked.exists() or (fragment and linked.suffix == ".md" and fragment not in anchors(linked)):
            broken.append(target)
    assert broken == []


def test_env_example_names_every_variable_the_settings_read():
    read = set(re.findall(r'\benv(?:\.\w+)?\(\s*"([A-Z0-9_]+)"', (ROOT / "smolpix" / "settings.py").read_text()))
    read |= set(re.findall(r'\benv\.\w+\(\s*"([A-Z0-9_]+)"', (ROOT / "gunicorn.conf.py").read_text()))
    listed = set(re.findall(r"^#? ?([A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))

    assert len(read) > 40
    assert read - listed == set()


def test_env_example_copied_as_env_changes_no_setting(tmp_path):
    """Its DATABASE_URL=sqlite:///db.sqlite3 was not the default: relative, it was db.sqlite3 in the
    directory a process started in (from /tmp, /tmp/db.sqlite3), not at the repository's root."""
    example = (ROOT / ".env.example").read_text()
    named = set(re.findall(r"^#? ?([A-Z0-9_]+)=", example, re.MULTILINE))
    values = dict(re.findall(r"^([A-Z0-9_]+)=(.*)$", example, re.MULTILINE))
    unset = {key: value for key, value in os.environ.items() if key not in named} | {"PYTHONPATH": str(ROOT)}
    dump = (  # without a .env of the checkout's own
        "import json; from smolpix import environment; environment.read_env_file = lambda folder: None; "
        "from smolpix import settings; "
        "print(json.dumps({name: repr(value) for name, value in vars(settings).items() if name.isupper()}))"
    )

    def settings(env: dict[str, str]) -> dict[str, str]:
        read = subprocess.run(
            [sys.executable, "-c", dump], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
        )
        return json.loads(read.stdout)

    assert settings(unset | values) == settings(unset)
