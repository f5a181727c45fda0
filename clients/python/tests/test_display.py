"""What `smolpix optimize` shows of its results: percentages as the API works out its savingsPercent
(rounded down), and for a result of the run, the API's own figure."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from smolpix_client import batch
from smolpix_client.display import JsonReporter, RichReporter

# As the site answered them: 17,563 of 61,306 bytes saved is 28.6%, and 4,871 of 5,691 is 85.6%.
SITE_RESULTS = [(61306, 61306 - 17563, 28), (5691, 5691 - 4871, 85)]


def outcome(original: int, optimized: int, *, api_savings_percent: int | None = None) -> batch.Outcome:
    """A result of this run (with the API's figure), or else one skipped, whose figures are its record's."""
    return batch.Outcome(
        f"{original}.jpg",
        "skipped" if api_savings_percent is None else "done",
        output=Path(f"/out/{original}.webp"),
        original_size=original,
        optimized_size=optimized,
        format="webp",
        api_savings_percent=api_savings_percent,
    )


def summary(outcomes: list[batch.Outcome]) -> batch.Summary:
    return batch.Summary(outcomes=outcomes, not_started=0, ignored=0, seconds=1.0, interrupted=False)


@pytest.mark.parametrize(("original", "optimized", "percent"), SITE_RESULTS)
@pytest.mark.parametrize("answered", [True, False], ids=["done", "skipped"])
def test_a_results_line_and_the_summary_say_the_apis_savings_percent(
    original, optimized, percent, answered, capsys, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "200")
    result = outcome(original, optimized, api_savings_percent=percent if answered else None)
    done = outcome(original, optimized, api_savings_percent=percent)  # the summary's sizes are of those done
    json_lines = io.StringIO()

    reporter = RichReporter()
    reporter.finished(result)
    reporter.end(summary([done]))
    JsonReporter(json_lines).end(summary([done]))

    line, *table = capsys.readouterr().out.splitlines()
    assert line.endswith(f"(-{percent}%)")
    assert f"({percent}%)" in "\n".join(table)
    assert json.loads(json_lines.getvalue())["summary"]["savingsPercent"] == percent


def test_a_result_of_the_run_shows_the_apis_own_figure(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")

    RichReporter().finished(outcome(1000, 500, api_savings_percent=49))

    assert capsys.readouterr().out.rstrip().endswith("(-49%)")
