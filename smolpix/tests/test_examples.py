"""The before/after examples the landing page shows are what their figures say."""

import pytest

from optimizer.formats import OutputFormat, SourceFormat
from optimizer.probe import sniff
from optimizer.tests import images
from smolpix.examples import EXAMPLES_DIR, example_list


@pytest.mark.parametrize("example", example_list(), ids=lambda example: example["name"])
def test_the_figures_match_the_files(example):
    original = (EXAMPLES_DIR / example["original"]).read_bytes()
    optimized = (EXAMPLES_DIR / example["optimized"]).read_bytes()

    assert len(original) == example["originalSize"]
    assert len(optimized) == example["optimizedSize"]
    assert sniff(original) == SourceFormat(example["originalFormat"])
    assert sniff(optimized) == SourceFormat(OutputFormat(example["format"]).coder)
    assert example["savingsPercent"] == (len(original) - len(optimized)) * 100 // len(original)
    assert images.decode(optimized).size == (example["width"], example["height"])
    assert images.decode(original).size == (example["width"], example["height"])
