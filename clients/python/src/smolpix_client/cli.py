"""The `smolpix` command: `smolpix optimize PATH...` and `smolpix usage`."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import signal
import sys
import time
from pathlib import Path
from typing import Callable

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from smolpix_client import batch
from smolpix_client.client import AsyncClient, Client
from smolpix_client.display import JsonReporter, RichReporter
from smolpix_client.errors import InvalidApiKey, InvalidBaseUrl, MissingApiKey, SmolpixError

EXIT_FAILED = 1  # some file failed
EXIT_USAGE = 2  # argparse's, a missing or malformed key, and a base URL or --out that cannot be used
EXIT_INTERRUPTED = 130  # as a shell reports a command stopped by Ctrl-C
COMMANDS = ("optimize", "usage")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser, optimize = _parsers()
    # The options are the subcommand's: before it (`smolpix --no-smart optimize`) they would be
    # dropped without a word, so they are refused, as any unknown option is.
    before = list(itertools.takewhile(lambda argument: argument not in COMMANDS, argv))
    if before and before[0].startswith("-") and not {"-h", "--help"} & set(before):
        parser.error(f"unrecognized arguments: {' '.join(before)} (options go after the command)")
    arguments, _ = parser.parse_known_args(argv)
    if arguments.command == "optimize":
        # Paths and options in any order (`optimize a --out x b`), which subcommands cannot parse, and
        # after "--", paths alone (`optimize -- -dash.jpg`), which parse_intermixed_args cannot.
        rest = argv[argv.index("optimize") + 1 :]
        cut = rest.index("--") if "--" in rest else len(rest)
        arguments = optimize.parse_intermixed_args(rest[:cut], namespace=argparse.Namespace(command="optimize"))
        arguments.paths += rest[cut + 1 :]
        if not arguments.paths:
            optimize.error("the following arguments are required: PATH")
    else:
        arguments = parser.parse_args(argv)
    errors = Console(stderr=True, soft_wrap=True)  # a message stays one line, whatever the width
    try:
        if arguments.command == "optimize":
            return asyncio.run(_optimize(arguments))
        return _usage(arguments)
    except (MissingApiKey, InvalidApiKey, InvalidBaseUrl, batch.CannotStart) as error:
        errors.print(f"[red]{escape(str(error))}[/]")
        return EXIT_USAGE
    except SmolpixError as error:
        errors.print(f"[red]{escape(str(error))}[/]")
        return EXIT_FAILED
    except KeyboardInterrupt:  # a second Ctrl-C
        return EXIT_INTERRUPTED


def _parsers() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The command's parser, and its `optimize` subcommand's."""
    server = argparse.ArgumentParser(add_help=False)
    server.add_argument("--api-key", metavar="KEY", help="the API key (default: $SMOLPIX_API_KEY)")
    server.add_argument(
        "--base-url", metavar="URL", help="the server (default: $SMOLPIX_BASE_URL or https://smolpix.co)"
    )
    server.add_argument("--json", action="store_true", help="print JSON lines instead of the display")

    parser = argparse.ArgumentParser(prog="smolpix", description="Optimize images with the Smolpix API.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    optimize = commands.add_parser(
        "optimize",
        parents=[server],
        help="optimize image files, folders (recursively) and URLs",
        description="Optimize image files, folders (recursively) and URLs. Each result is written as "
        "<name>.webp or <name>.avif (the format the API returns) under --out, keeping the folders' "
        "structure, or else beside its source (URLs: in the current folder). A source is never replaced "
        "without --overwrite. Runs are resumable: files done by an earlier run with the same options, "
        "and unchanged since, are skipped.",
    )
    # One or more (checked after parsing: see main).
    optimize.add_argument("paths", nargs="*", metavar="PATH", help="an image file, a folder or an http(s) URL")
    optimize.add_argument("--out", type=Path, metavar="DIR", help="write the results here")
    optimize.add_argument(
        "--format", choices=["auto", "webp", "avif"], default="auto", help="auto: the smaller of WebP and AVIF"
    )
    optimize.add_argument("--quality", type=_ranged(1, 100), metavar="N", help="1-100 (the API's default: 80)")
    optimize.add_argument("--max-width", type=_ranged(1, 16384), metavar="N", help="pixels (default: 1920)")
    optimize.add_argument("--no-smart", action="store_true", help="encode at --quality, without measuring")
    optimize.add_argument(
        "--concurrency", type=_ranged(1, 64), default=4, metavar="N", help="images at once (default: 4)"
    )
    optimize.add_argument("--overwrite", action="store_true", help="replace existing files, sources included")
    commands.add_parser("usage", parents=[server], help="this month's use and the account's limits")
    return parser, optimize


def _ranged(low: int, high: int):
    def number(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not between {low} and {high}")
        return value

    return number


async def _optimize(arguments: argparse.Namespace) -> int:
    started = time.monotonic()
    options = batch.Options(
        format=arguments.format, quality=arguments.quality, max_width=arguments.max_width, smart=not arguments.no_smart
    )
    client = AsyncClient(arguments.api_key, arguments.base_url)
    work = batch.plan(arguments.paths, out=arguments.out, options=options, overwrite=arguments.overwrite)
    warnings = Console(stderr=True, soft_wrap=True)  # never on stdout: with --json, it is JSON only
    for warning in work.warnings:
        warnings.print(f"[yellow]{escape(warning)}[/]")
    stopping = asyncio.Event()

    def stop() -> None:
        """No new image starts, nor does one waiting for the rate limit; those in flight finish and
        are recorded, so the next run resumes without doing any twice."""
        if not stopping.is_set():
            stopping.set()
            client.stop_waiting()
            reporter.stopping()

    # A reader of stdout that goes away (`| head -1`) stops the run as Ctrl-C does.
    reporter = JsonReporter(on_reader_gone=stop) if arguments.json else RichReporter(on_reader_gone=stop)
    _stop_on_signals(stop)
    try:
        async with client:
            reporter.begin(work)
            outcomes = await batch.run(
                work, client, options, concurrency=arguments.concurrency, reporter=reporter, stopping=stopping
            )
    finally:
        work.close()
    summary = batch.Summary(
        outcomes=work.refused + work.skipped + outcomes,
        not_started=len(work.jobs) - len(outcomes),
        ignored=work.ignored,
        seconds=time.monotonic() - started,
        interrupted=stopping.is_set(),
    )
    reporter.end(summary)
    if summary.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if summary.failures else 0


def _stop_on_signals(stop: Callable[[], None]) -> None:
    """The first Ctrl-C (or SIGTERM) calls `stop`; a second one acts as usual."""
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)

    def first_signal() -> None:
        for number in signals:
            loop.remove_signal_handler(number)
        stop()

    for number in signals:
        try:
            loop.add_signal_handler(number, first_signal)
        except NotImplementedError:  # Windows' event loops: Ctrl-C stops at once
            break


def _usage(arguments: argparse.Namespace) -> int:
    with Client(arguments.api_key, arguments.base_url) as client:
        usage = client.usage()
    if arguments.json:
        # As the API answers (GET /api/v1/usage), in camelCase like `optimize --json`.
        fields = {
            "plan": usage.plan,
            "monthlyLimit": usage.monthly_limit,
            "used": usage.used,
            "remaining": usage.remaining,
            "month": usage.month,
            "resetsAt": usage.resets_at.isoformat().replace("+00:00", "Z"),
            "rateLimitPerMinute": usage.rate_limit_per_minute,
        }
        print(json.dumps(fields))
        return 0
    table = Table(show_header=False, box=None)
    table.add_row("Plan", usage.plan)
    if usage.monthly_limit is None:
        table.add_row("This month", f"{usage.used:,} images ({usage.month}), no monthly limit")
    else:
        table.add_row(
            "This month", f"{usage.used:,} of {usage.monthly_limit:,} images ({usage.month}), {usage.remaining:,} left"
        )
    table.add_row("Starts again", f"{usage.resets_at:%Y-%m-%d %H:%M} UTC")
    table.add_row("Rate limit", f"{usage.rate_limit_per_minute:,} requests a minute")
    Console().print(table)
    return 0
