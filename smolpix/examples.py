"""The before/after examples on the landing and pricing pages: real results of our pipeline,
made by `make examples` (scripts/make_examples.py) into static/img/examples/."""

import functools
import json

from django.conf import settings

EXAMPLES_DIR = settings.BASE_DIR / "static" / "img" / "examples"


@functools.cache
def example_list() -> list[dict]:
    """Each example's files (relative to the static root) and figures, as examples.json has them."""
    examples = json.loads((EXAMPLES_DIR / "examples.json").read_text())
    for example in examples:
        for part in ("original", "optimized"):
            example[f"{part}Path"] = f"img/examples/{example[part]}"
    return examples
