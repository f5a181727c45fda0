"""What `smolpix optimize` shows: a live progress display (rich) or JSON lines (`--json`)."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable, TextIO

from rich.console import Console, Group
from rich.filesize import decimal
from rich.live import Live
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from smolpix_client.batch import Job, Outcome, Plan, Summary, savings_percent

# C0 and C1 control characters: in a file name, an ESC sequence would colour the terminal, a
# newline split a line of the display.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _printable(text: str) -> str:
    """`text` for the display: its control characters written as Python does (\\x1b, \\n), and
    anything that would read as rich markup escaped."""
    return escape(_CONTROL_CHARACTERS.sub(lambda found: repr(found.group())[1:-1], text))


def shown(path: Path) -> str:
    """A path as short as it can be said: relative to the current folder when it is below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class JsonReporter:
    """One JSON object per file on stdout, as each is known, then one `{"summary": ...}` line. If the
    reader goes away (`| head -1`), the rest goes nowhere and `on_reader_gone` is called."""

    def __init__(self, stream: TextIO = sys.stdout, *, on_reader_gone: Callable[[], None] = lambda: None) -> None:
        self._stream = stream
        self._on_reader_gone = on_reader_gone

    def begin(self, work: Plan) -> None:
        for outcome in work.refused + work.skipped:
            self.finished(outcome)

    def started(self, job: Job) -> None:
        pass  # a line per file once its outcome is known

    def finished(self, outcome: Outcome) -> None:
        self._write(
            {
                "file": outcome.label,
                "status": outcome.status,
                "output": shown(outcome.output) if outcome.output else None,
                "format": outcome.format,
                "originalSize": outcome.original_size,
                "optimizedSize": outcome.optimized_size,
                "savings": outcome.savings,
                "error": outcome.reason,
            }
        )

    def stopping(self) -> None:
        pass  # the summary says so

    def end(self, summary: Summary) -> None:
        self._write(
            {
                "summary": {
                    "files": len(summary.outcomes) + summary.not_started,
                    "done": summary.count("done"),
                    "skipped": summary.count("skipped"),
                    "failed": summary.count("failed"),
                    "notStarted": summary.not_started,
                    "ignored": summary.ignored,
                    "originalSize": summary.original_size,
                    "optimizedSize": summary.optimized_size,
                    "savings": summary.original_size - summary.optimized_size,
                    "savingsPercent": summary.savings_percent,
                    "seconds": round(summary.seconds, 3),
                    "interrupted": summary.interrupted,
                }
            }
        )

    def _write(self, line: dict[str, Any]) -> None:
        try:
            self._stream.write(json.dumps(line) + "\n")
            self._stream.flush()
        except BrokenPipeError:
            # Onto /dev/null, as Python's documentation advises: what is left in the stream's buffer
            # is flushed again at exit, which would fail the same way.
            _to_devnull(self._stream.fileno())
            self._on_reader_gone()


def _to_devnull(fileno: int) -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fileno)
    os.close(devnull)


class _StdoutConsole(Console):
    """rich's Console on stdout, whose reader may go away (`| head -1`): then the rest goes nowhere and
    `on_reader_gone` is called. rich's own way, SystemExit(1), raised in the run's tasks, ended it
    with their tracebacks and without writing the results the server had already answered."""

    def __init__(self, on_reader_gone: Callable[[], None]) -> None:
        super().__init__()
        self._on_reader_gone = on_reader_gone

    def on_broken_pipe(self) -> None:
        self.quiet = True
        _to_devnull(self.file.fileno())  # see JsonReporter._write
        self._on_reader_gone()


class RichReporter:
    """A line per finished file above a live display: the files being optimized, then the overall
    bar with the bytes saved so far and the time left; a summary table at the end. On stdout: if its
    reader goes away, the rest goes nowhere and `on_reader_gone` is called."""

    def __init__(self, *, on_reader_gone: Callable[[], None] = lambda: None) -> None:
        self._console = console = _StdoutConsole(on_reader_gone)
        self._files = Progress(SpinnerColumn(), TextColumn("{task.description}"), console=console)
        self._overall = Progress(
            TextColumn("[bold]Optimizing"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[saved]}"),
            TimeRemainingColumn(),
            console=console,
        )
        self._live = Live(Group(self._files, self._overall), console=console, refresh_per_second=8)
        self._overall_task = self._overall.add_task("", total=0, saved="")
        self._rows: dict[str, TaskID] = {}
        self._before = self._after = 0

    def begin(self, work: Plan) -> None:
        for outcome in work.refused:
            self._print(outcome)
        if work.skipped:
            self._console.print(
                f"Skipping {len(work.skipped)} image(s) done by an earlier run (unchanged, same options)."
            )
        if work.ignored:
            self._console.print(f"Ignoring {work.ignored} file(s) in the folders that are not images.")
        self._overall.update(self._overall_task, total=len(work.jobs))
        if self._console.is_terminal:  # elsewhere (a log, a pipe) the lines alone say it
            self._live.start()

    def started(self, job: Job) -> None:
        self._rows[job.label] = self._files.add_task(_printable(job.label))

    def finished(self, outcome: Outcome) -> None:
        row = self._rows.pop(outcome.label, None)
        if row is not None:
            self._files.remove_task(row)
        self._print(outcome)
        if outcome.status == "done":
            self._before += outcome.original_size
            self._after += outcome.optimized_size
        saved = self._before - self._after
        percent = savings_percent(self._before, self._after)
        self._overall.update(self._overall_task, advance=1, saved=f"saved {decimal(saved)} ({percent}%)")

    def stopping(self) -> None:
        self._console.print("[yellow]Stopping: finishing the images in flight (press Ctrl-C again to stop at once).")

    def end(self, summary: Summary) -> None:
        for row in self._rows.values():  # images stopped before they were sent: not left spinning
            self._files.remove_task(row)
        self._live.stop()
        table = Table(title="Summary")
        for heading in ("Files", "Done", "Skipped", "Failed", "Before → after", "Saved", "Time"):
            table.add_column(heading, justify="right")
        saved = summary.original_size - summary.optimized_size
        table.add_row(
            str(len(summary.outcomes) + summary.not_started),
            str(summary.count("done")),
            str(summary.count("skipped")),
            str(summary.count("failed")),
            f"{decimal(summary.original_size)} → {decimal(summary.optimized_size)}",
            f"{decimal(saved)} ({summary.savings_percent}%)",
            f"{summary.seconds:.1f} s",
        )
        self._console.print(table)
        if summary.failures:
            failures = Table(title="Failures", title_style="bold red")
            failures.add_column("File", overflow="fold")
            failures.add_column("Reason", overflow="fold")
            for outcome in summary.failures:
                failures.add_row(_printable(outcome.label), _printable(outcome.reason or ""))
            self._console.print(failures)
        if summary.interrupted:
            self._console.print(
                f"[yellow]Interrupted: {summary.not_started} image(s) not started. "
                "Run the same command again to go on where it stopped."
            )

    def _print(self, outcome: Outcome) -> None:
        label = _printable(outcome.label)
        if outcome.status == "failed":
            self._console.print(f"[red]✗[/] {label}: {_printable(outcome.reason or '')}")
        elif outcome.output is not None:
            if outcome.savings < 0 < outcome.original_size:  # a re-encoding larger than a tiny source
                change = f"+{-outcome.savings * 100 // outcome.original_size}%"
            else:
                change = f"-{outcome.savings_percent}%"
            self._console.print(
                f"[green]✓[/] {label} → {_printable(shown(outcome.output))}  "
                f"{decimal(outcome.original_size)} → {decimal(outcome.optimized_size)} ({change})"
            )
