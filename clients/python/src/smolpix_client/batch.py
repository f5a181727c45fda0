"""`smolpix optimize`'s work: which images to send and where each result goes (`plan`, which holds
those folders against other runs), what earlier runs finished (`Manifest`), and sending them, several
at once (`run`)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Protocol
from urllib.parse import unquote, urlsplit

from smolpix_client.client import AsyncClient
from smolpix_client.errors import NotSent, PlanRequired, QuotaExceeded, SmolpixError, Unauthorized
from smolpix_client.files import IMAGE_EXTENSIONS, is_image, write_partial
from smolpix_client.protocol import MAX_UPLOAD_BYTES, OUTPUT_FORMATS

try:
    import fcntl
    import resource
except ImportError:  # Windows: runs do not lock the folders they write to
    fcntl = resource = None

MANIFEST_NAME = ".smolpix-manifest.jsonl"
NOT_A_FILE = "not a regular file (a named pipe, a socket or a device)"
NOT_AN_IMAGE = "not an image (by its first bytes: JPEG, PNG, GIF, WebP, AVIF, HEIC, TIFF or BMP)"
LINK_NOT_FOLLOWED = "a link to a folder, not followed (name it on the command line to optimize what it holds)"
NOT_TEXT_URL = "a URL with bytes that are not UTF-8 text (write them as %XX) (not sent)"
TOO_LARGE = f"larger than the {MAX_UPLOAD_BYTES:,} bytes the API takes (not sent)"
# Errors about the account rather than the image: every later request would fail the same way.
ACCOUNT_ERRORS = (Unauthorized, PlanRequired, QuotaExceeded)
# The most bytes in a file name on the file systems results are written to.
NAME_BYTES = 255
# The most bytes of a URL's file name an output's name keeps: file systems allow 255, and the output's
# may add "-<8 hex digits>" and ".avif" (see _name_outputs).
URL_NAME_BYTES = 200
# What a URL's last segment may hold that a file name cannot: NUL, path separators, control characters.
_UNNAMEABLE = re.compile(r"[\x00-\x1f\x7f/\\]")
# Open files a run needs besides two for each folder it writes results to (its lock and its manifest):
# connections, sources being read and results being written, at the highest --concurrency.
SPARE_OPEN_FILES = 256
# What a manifest line must hold to be used; any other line (torn, or not a record) is passed over.
RECORD_FIELDS = {"key": str, "source": str, "output": str, "format": str, "originalSize": int, "optimizedSize": int}
# The API's defaults of the options a run may leave unset (None): given explicitly, they ask for
# what leaving them out does (format auto and smart true are the run's own defaults, never None).
API_DEFAULTS = {"quality": 80, "max_width": 1920}


class CannotStart(Exception):
    """The run cannot start as asked (an --out that is a file, a manifest that cannot be read)."""


@dataclass(frozen=True)
class Options:
    """The API options of a run; part of what makes a file "done" (other options redo it)."""

    format: str = "auto"
    quality: int | None = None  # None: the API's default
    max_width: int | None = None
    smart: bool = True

    def as_arguments(self) -> dict[str, Any]:
        return {"format": self.format, "quality": self.quality, "max_width": self.max_width, "smart": self.smart}

    def keyed(self) -> dict[str, Any]:
        """The options as a manifest's key holds them: one given as the API's default is the same
        option as one left unset, and keyed as such (None), as manifests have always keyed it."""
        arguments = self.as_arguments()
        return {
            name: None if name in API_DEFAULTS and value == API_DEFAULTS[name] else value
            for name, value in arguments.items()
        }

    def possible_formats(self) -> tuple[str, ...]:
        return OUTPUT_FORMATS if self.format == "auto" else (self.format,)


@dataclass
class Job:
    """One image to send."""

    label: str  # how the source is shown: the path as given, or the URL
    source: str  # what identifies it: the absolute path, or the URL
    path: Path | None  # None for a URL
    out_dir: Path  # where its result goes, and its manifest records it
    name: str  # the source's file name
    stem: str = ""  # the output's name without its extension (see _name_outputs)
    size: int | None = None
    mtime_ns: int | None = None

    @property
    def url(self) -> str | None:
        return None if self.path else self.source

    def target(self, format: str) -> Path:
        return self.out_dir / f"{self.stem}.{format}"

    def key(self, options: Options) -> str:
        """The same source (path, size and modification time, or URL) with the same options (see
        Options.keyed: `--quality 80` is the same option as none)."""
        return self._key(options.keyed())

    def keys_recorded(self, options: Options) -> list[str]:
        """What a result of these options may be recorded under: `key`, and what 0.1.0 recorded it
        under when an option was given as the API's default (keyed as given): its runs with
        `--quality 80` are not done again, and charged, after an upgrade."""
        return list(dict.fromkeys([self.key(options), self._key(options.as_arguments())]))

    def _key(self, options: dict[str, Any]) -> str:
        identity = [self.source, self.size, self.mtime_ns, options]
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Outcome:
    label: str
    status: str  # "done", "skipped" (done by an earlier run) or "failed"
    output: Path | None = None
    original_size: int = 0
    optimized_size: int = 0
    format: str | None = None
    reason: str | None = None  # why it failed
    api_savings_percent: int | None = None  # the API's savingsPercent, for a result of this run

    @property
    def savings(self) -> int:
        return self.original_size - self.optimized_size

    @property
    def savings_percent(self) -> int:
        """The API's figure where it gave one, else worked out as it works it out."""
        if self.api_savings_percent is not None:
            return self.api_savings_percent
        return savings_percent(self.original_size, self.optimized_size)


def savings_percent(original_size: int, optimized_size: int) -> int:
    """The bytes saved in whole percent of `original_size`, rounded down and never below 0, as the API
    gives its savingsPercent (17,563 of 61,306 bytes saved: 28, not 29)."""
    return max(0, original_size - optimized_size) * 100 // original_size if original_size else 0


class Manifest:
    """What runs wrote into one folder: a JSON line per result, appended (and flushed to disk) just
    before the result is put in place, so every result in place is on record, whenever a run is
    interrupted (at worst with a torn last line, which is ignored, as is any line that is not a whole
    record); a record whose result did not get there is not taken as done. Each result is recorded in
    the folder it is written to, so every run writing there finds it, whichever folder it was named;
    versions before kept one manifest for each folder named (or --out), with the results below it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / MANIFEST_NAME
        self._done: dict[str, dict[str, Any]] = {}  # the latest record of each key
        self._latest: dict[Path, dict[str, Any]] = {}  # the latest record of each output: whose it is
        self._file: Any = None
        self.unreadable: str | None = None  # why it could not be read, if it could not (then read as empty)
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
            if _is_another_users(self.path):  # in /tmp, say: its records would decide what is sent and replaced
                self.unreadable, text = "it is another user's, not trusted", ""
        except (FileNotFoundError, NotADirectoryError):  # no folder there (yet), or a file in its place
            text = ""
        except OSError as error:
            self.unreadable, text = error.strerror or str(error), ""
        # A killed run may have left its last line torn: the next record must not be appended to it.
        self._torn = bool(text) and not text.endswith("\n")
        for line in text.splitlines():
            entry = _record(line)
            if entry:
                self._done[entry["key"]] = entry
                self._latest[folder / entry["output"]] = entry

    def output(self, key: str) -> Path | None:
        """Where the latest result of `key` recorded here was written."""
        entry = self._done.get(key)
        return self.folder / entry["output"] if entry else None

    def latest(self, output: Path) -> dict[str, Any] | None:
        """The latest record here of a result written to `output`."""
        return self._latest.get(output)

    def unappendable(self) -> str | None:
        """Why no record can be appended here, if none can (a read-only manifest in a folder that can
        be written): found before anything is sent, not once each image has been (and charged)."""
        if self._file is not None or not self.path.is_file():
            return None  # a new manifest is made where files can be: that is checked apart
        try:
            with self.path.open("a", encoding="utf-8"):
                pass
        except OSError as error:
            return error.strerror or str(error)
        return None

    def record(self, key: str, job: Job, output: Path, outcome: Outcome) -> None:
        """Append `output`'s record, flushed to disk, before the result is put there."""
        entry = {
            "key": key,
            "source": job.source,
            "output": output.relative_to(self.folder).as_posix(),
            "format": outcome.format,
            "originalSize": outcome.original_size,
            "optimizedSize": outcome.optimized_size,
        }
        try:
            if self._file is None:
                self.folder.mkdir(parents=True, exist_ok=True)
                self._file = self.path.open("a", encoding="utf-8")
                if self._torn:
                    self._file.write("\n")
            self._file.write(json.dumps(entry) + "\n")
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError:
            # Part of the line may be written (a full disk): the next record starts on a line of its own.
            self._torn = True
            self._abandon()
            raise
        self._done[key] = entry
        self._latest[output] = entry

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def _abandon(self) -> None:
        """Close the file after a failed write: what could not be written is dropped."""
        file, self._file = self._file, None
        if file is not None:
            with contextlib.suppress(OSError):  # flushing what is left fails as the write did
                file.close()


def _record(line: str) -> dict[str, Any] | None:
    """A manifest line as a record; None for a line that is not one (torn by a killed run, edited, or
    naming an output outside the manifest's folder)."""
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    whole = isinstance(entry, dict) and all(isinstance(entry.get(name), kind) for name, kind in RECORD_FIELDS.items())
    if not whole:
        return None
    output = PurePosixPath(entry["output"])
    return None if output.is_absolute() or ".." in output.parts else entry


def _is_another_users(path: Path) -> bool:
    return hasattr(os, "getuid") and path.stat().st_uid != os.getuid()  # no owners to compare on Windows


@dataclass
class Plan:
    jobs: list[Job] = field(default_factory=list)  # to send
    skipped: list[Outcome] = field(default_factory=list)  # done by an earlier run, unchanged since
    refused: list[Outcome] = field(default_factory=list)  # failed without being sent
    passed_over: set[Path] = field(default_factory=set)  # files in the folders not named like images
    named: set[Path] = field(default_factory=set)  # files named on the command line: sent or refused
    manifests: dict[Path, Manifest] = field(default_factory=dict)  # by folder (see _lock_folders)
    locks: list[int] = field(default_factory=list)  # descriptors of the folders results go to, locked
    warnings: list[str] = field(default_factory=list)  # for stderr: what was passed over, and why

    @property
    def ignored(self) -> int:
        """The files passed over in the folders, but for those named too (done or failed as named)."""
        return len(self.passed_over - self.named)

    def manifest(self, folder: Path) -> Manifest:
        if folder not in self.manifests:
            self.manifests[folder] = Manifest(folder)
        return self.manifests[folder]

    def _nearest_first(self, folder: Path) -> list[Manifest]:
        """The manifests that may record results written to `folder`: its own, where they are
        recorded now, then those of the folders above it, where earlier versions recorded them."""
        return [self.manifest(each) for each in (folder, *folder.parents)]

    def close(self) -> None:
        """Close the manifests, then unlock the folders: other runs may write there now."""
        for manifest in self.manifests.values():
            manifest.close()
        for descriptor in self.locks:
            os.close(descriptor)
        self.locks.clear()

    def latest(self, output: Path) -> dict[str, Any] | None:
        """The record of the result last written to `output`; None if no run wrote it."""
        for manifest in self._nearest_first(output.parent):
            entry = manifest.latest(output)
            if entry:
                return entry
        return None

    def finished(self, job: Job, key: str) -> tuple[Path, dict[str, Any]] | None:
        """Where a run put `job`'s result and its record, if it is in `job`'s output folder, is still
        there and still its result. A result elsewhere (written under another --out) does not count."""
        for manifest in self._nearest_first(job.out_dir):
            output = manifest.output(key)
            if output and output.parent == job.out_dir:
                entry = self.latest(output)
                # A regular file of the recorded size: a record is appended before its result is put in
                # place, and if that failed (a folder in the way) or the run was killed in between,
                # what is there is another thing, none, or an earlier result (other options).
                if entry and entry["key"] == key and _is_file_of_size(output, entry["optimizedSize"]):
                    return output, entry
        return None


def _is_file_of_size(path: Path, size: int) -> bool:
    try:
        return path.is_file() and path.stat().st_size == size
    except OSError:
        return False


def plan(arguments: list[str], *, out: Path | None, options: Options, overwrite: bool) -> Plan:
    """What to do with each file, folder (recursively) and URL named on the command line.

    Outputs go under `out`, keeping the folders' structure, or else beside each source (URLs: in the
    current folder), named after the source with the returned format's extension.
    """
    out = _usable_out(out) if out else None
    result = Plan()
    seen: set[tuple[str, Path | None]] = set()
    for argument in arguments:
        for job in _jobs(argument, out=out, into=result):
            # A file named twice, or inside a folder also named, is done once. Without --out, named
            # through a link in another folder as well, it is done for each: its result goes beside each name.
            once = (job.source, None if out else job.out_dir)
            if once not in seen:
                seen.add(once)
                result.jobs.append(job)
    _name_outputs(result.jobs)
    held = _lock_folders(result)
    try:
        _check_manifests(result, passing_over=held)
    except CannotStart:
        result.close()
        raise
    # --out was found writable. Without it, results go beside their sources, in folders of their own.
    unwritable = {} if out else {folder: _unwritable(folder) for folder in {job.out_dir for job in result.jobs}}
    appendable: dict[Path, str | None] = {}  # why each folder's manifest cannot be appended to, if so
    to_send = []
    for job in result.jobs:
        finished = next(filter(None, (result.finished(job, key) for key in job.keys_recorded(options))), None)
        if finished:
            output, entry = finished
            result.skipped.append(
                Outcome(
                    job.label,
                    "skipped",
                    output=output,
                    original_size=entry["originalSize"],
                    optimized_size=entry["optimizedSize"],
                    format=entry["format"],
                )
            )
            continue
        problem = unwritable.get(job.out_dir)
        manifest = result.manifest(job.out_dir)
        unappendable = appendable.setdefault(job.out_dir, manifest.unappendable())
        refusal = (
            (job.out_dir in held and f"another smolpix run is writing results to {job.out_dir} (not sent)")
            or _name_refusal(job, options)
            or (problem and f"{job.out_dir} cannot be written ({problem}) (not sent)")
            or (unappendable and f"{manifest.path} cannot be appended to ({unappendable}) (not sent)")
            or (None if overwrite else _overwrite_refusal(job, options, result))
        )
        if refusal:
            result.refused.append(Outcome(job.label, "failed", reason=refusal))
        else:
            to_send.append(job)
    result.jobs = to_send
    _warn_of_unread_manifests(result)  # those of the folders results go to stopped the run
    return result


def _lock_folders(work: Plan) -> set[Path]:
    """Lock each folder results go to, for the whole run, and only then read its manifest: a run
    starting while another writes there would send what that one has not finished yet (each image
    charged and written twice), and one starting as another ends reads all it did. Returns the
    folders other runs hold: their images are not sent, and the next run does them."""
    held = set()
    folders = sorted({job.out_dir for job in work.jobs})
    _allow_open_files(2 * len(folders) + SPARE_OPEN_FILES)
    for folder in folders:
        work.manifests.pop(folder, None)  # read while walking the sources, unlocked: read again once held
        # Under --out, made now to be locked: locking the folder above instead would not keep out a
        # run writing into this one once made. A file in the way: no run can write results there.
        with contextlib.suppress(OSError):
            folder.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = _lock(folder)
        except BlockingIOError:
            held.add(folder)
            continue
        except OSError as error:  # NFS, for one, locks only what is open for writing, which a folder cannot be
            if folder.is_dir():
                work.warnings.append(
                    f"Cannot lock {folder} ({error.strerror or error}): "
                    "another smolpix run writing there at the same time would send the same images"
                )
            continue
        if descriptor is not None:
            work.locks.append(descriptor)
    return held


def _allow_open_files(count: int) -> None:
    """Raise the limit on the files the process may have open to `count`, if it is lower, as far as
    the system allows: by default 256 on macOS and 1024 on Linux, too few for the locks and manifests
    of a run writing into a few hundred folders. Beyond it, folders are not locked (with a warning)."""
    if resource is None:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    allowed = count if hard == resource.RLIM_INFINITY else min(count, hard)
    if soft != resource.RLIM_INFINITY and soft < allowed:
        with contextlib.suppress(ValueError, OSError):  # more than the system allows (kern.maxfilesperproc)
            resource.setrlimit(resource.RLIMIT_NOFILE, (allowed, hard))


def _lock(folder: Path) -> int | None:
    """A descriptor of `folder` holding an exclusive lock on it (flock), which closing it releases, as
    does the process ending, however it ends; None where there are no such locks (Windows). Raises
    BlockingIOError if another run holds it (another process, or another plan not closed)."""
    if fcntl is None:
        return None
    descriptor = os.open(folder, os.O_RDONLY)  # the folder itself: no file of ours among the customer's
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(descriptor)
        raise
    return descriptor


def _check_manifests(work: Plan, *, passing_over: set[Path]) -> None:
    """Stop the run if a manifest of a folder it writes results to cannot be read: its records would
    be missed, and its results taken for sources, or replaced. A manifest above them is read only for
    the records of earlier versions (see Plan._nearest_first): one that cannot be read (another
    user's, in /tmp or /home) is passed over, with a warning (`_warn_of_unread_manifests`), as is
    one of a folder another run holds (`passing_over`), whose images are not sent."""
    for folder in sorted({job.out_dir for job in work.jobs} - passing_over):
        manifest = work.manifest(folder)
        if manifest.unreadable:
            raise CannotStart(f"Cannot read {manifest.path}: {manifest.unreadable}")


def _warn_of_unread_manifests(work: Plan) -> None:
    work.warnings += [
        f"Passed over {manifest.path}, which cannot be read ({manifest.unreadable}): "
        "results recorded there by earlier versions are not seen"
        for _, manifest in sorted(work.manifests.items())
        if manifest.unreadable
    ]


def _usable_out(out: Path) -> Path:
    """`out`, made if it is not there and shown writable, resolved."""
    try:
        if out.exists() and not out.is_dir():
            raise CannotStart(f"--out {out}: exists and is not a folder")
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CannotStart(f"--out {out}: cannot be written ({error.strerror or error})") from error
    problem = _unwritable(out)
    if problem:
        raise CannotStart(f"--out {out}: cannot be written ({problem})")
    return out.resolve()


def _unwritable(folder: Path) -> str | None:
    """Why no file can be made in `folder`, if none can: a folder that cannot be written is found
    before anything is sent (and charged), not once every image has been."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        return error.strerror or str(error)
    return None


def _jobs(argument: str, *, out: Path | None, into: Plan) -> list[Job]:
    if argument.lower().startswith(("http://", "https://")):
        try:
            argument.encode()
        except UnicodeEncodeError:  # bytes the shell passed that are no UTF-8, kept as surrogates
            shown = os.fsencode(argument).decode(errors="backslashreplace")
            into.refused.append(Outcome(shown, "failed", reason=NOT_TEXT_URL))
            return []
        folder = out or Path.cwd()
        name = _url_file_name(argument)
        return [Job(label=argument, source=argument, path=None, out_dir=folder, name=name)]
    path = Path(argument)
    if path.is_dir():
        return _folder_jobs(path, out=out, into=into)
    if not path.exists():
        into.refused.append(Outcome(argument, "failed", reason="no such file or folder"))
        return []
    into.named.add(_resolved(path))
    refusal = _refusal(path)
    if refusal:
        into.refused.append(Outcome(argument, "failed", reason=refusal))
        return []
    # Beside the path as named: a link's result goes next to the link, not next to what it links to.
    return [_file_job(path, label=argument, out_dir=out or path.parent.resolve())]


def _refusal(path: Path) -> str | None:
    """Why `path` is not sent, if it is not: not an image, too large, or unreadable. Only regular files
    are opened: reading a named pipe or a device named like a photo would wait forever. A file the API
    would refuse for its size is not read at all (a 1 GB file took 4 GB of memory to be refused)."""
    try:
        if path.exists() and not path.is_file():
            return NOT_A_FILE
        if not is_image(path):
            return NOT_AN_IMAGE
        if path.stat().st_size > MAX_UPLOAD_BYTES:
            return TOO_LARGE
    except OSError as error:
        return _reason(error)
    return None


def _reason(error: OSError) -> str:
    return f"{type(error).__name__}: {error}"


def _folder_jobs(folder: Path, *, out: Path | None, into: Plan) -> list[Job]:
    jobs = []

    def unreadable(error: OSError) -> None:
        into.refused.append(Outcome(str(error.filename), "failed", reason=_reason(error)))

    for directory, subdirectories, files in os.walk(folder, onerror=unreadable):
        here = Path(directory)
        # Hidden folders are not photos; the output folder may be inside the one being read.
        subdirectories[:] = sorted(
            name for name in subdirectories if not name.startswith(".") and _resolved(here / name) != out
        )
        # os.walk does not follow links (one may lead back up, or out of the folder): say so.
        for name in [name for name in subdirectories if (here / name).is_symlink()]:
            subdirectories.remove(name)
            into.refused.append(Outcome(str(here / name), "failed", reason=LINK_NOT_FOLLOWED))
        for name in sorted(files):
            path = here / name
            resolved = _resolved(path)
            if name.startswith(".") or into.latest(resolved):  # a result of a run
                continue
            if path.suffix.lower() not in IMAGE_EXTENSIONS:
                into.passed_over.add(resolved)
            elif refusal := _refusal(path):
                into.refused.append(Outcome(str(path), "failed", reason=refusal))
            else:
                out_dir = out / here.relative_to(folder) if out else here.resolve()
                jobs.append(_file_job(path, label=str(path), out_dir=out_dir))
    return jobs


def _resolved(path: Path) -> Path:
    """`path` resolved, or as it is if it is a link in a loop: then like a link to nothing, it is no
    output of a run, and _refusal says why it is not sent."""
    try:
        return path.resolve()
    except (RuntimeError, OSError):  # RuntimeError up to Python 3.12, OSError (ELOOP) since
        return path


def _file_job(path: Path, *, label: str, out_dir: Path) -> Job:
    stat = path.stat()
    source = path.resolve()
    return Job(
        label=label,
        source=str(source),
        path=source,
        out_dir=out_dir,
        name=path.name,
        size=stat.st_size,
        mtime_ns=stat.st_mtime_ns,
    )


def _url_file_name(url: str) -> str:
    """The file name a URL's result is named after: its last path segment, without the characters a
    file name cannot hold (NUL, path separators, control characters), and if it is longer than
    URL_NAME_BYTES, cut, with a digest of the URL that keeps it apart from other URLs cut alike."""
    try:
        path = urlsplit(url).path
    except ValueError:  # e.g. an unclosed IPv6 bracket: sent all the same, for the site to refuse
        path = ""
    name = _UNNAMEABLE.sub("_", unquote(PurePosixPath(path).name))
    if name in ("", ".", ".."):
        return "image"
    if len(name.encode()) <= URL_NAME_BYTES:
        return name
    stem, suffix = os.path.splitext(name)
    if len(suffix.encode()) > 10:  # not an extension: cut with the rest
        stem, suffix = name, ""
    tail = f"-{hashlib.sha256(url.encode()).hexdigest()[:8]}{suffix}"
    # Cut in bytes, then without the last character if it was cut through.
    return stem.encode()[: URL_NAME_BYTES - len(tail.encode())].decode(errors="ignore") + tail


def _name_outputs(jobs: list[Job]) -> None:
    """Each output is named after its source's stem (photo.jpg -> photo.webp). Sources that would
    share an output name keep their extension in it (photo.jpg.webp, photo.png.webp), and if that
    is not enough either, a digest of the source (two URLs ending in the same name)."""
    for job in jobs:
        job.stem = Path(job.name).stem or job.name
    renames: list[Callable[[Job], str]] = [
        lambda job: job.name,
        lambda job: f"{job.name}-{hashlib.sha256(job.source.encode()).hexdigest()[:8]}",
    ]
    for rename in renames:
        groups: dict[tuple[Path, str], list[Job]] = defaultdict(list)
        for job in jobs:
            groups[(job.out_dir, job.stem.casefold())].append(job)
        for group in groups.values():
            if len(group) > 1:
                for job in group:
                    job.stem = rename(job)


def _name_refusal(job: Job, options: Options) -> str | None:
    """Why `job`'s output cannot be written whatever it holds: a name longer than file systems allow
    (a source's name near the limit, with the result's extension). Found before the image is sent."""
    for format in options.possible_formats():
        name = job.target(format).name
        if len(os.fsencode(name)) > NAME_BYTES:
            return f"the {format.upper()} result's name would be longer than {NAME_BYTES} bytes (not sent)"
    return None


def _overwrite_refusal(job: Job, options: Options, work: Plan) -> str | None:
    """Why `job` may not write its output without --overwrite: it would replace its own source, a
    file no run wrote, or another source's result (of an earlier run: those of one run are named
    apart). Checked for every format the API may return, before anything is sent."""
    for format in options.possible_formats():
        target = job.target(format)
        if target == job.path:
            return f"the {format.upper()} result would replace the source (use --out DIR, or --overwrite)"
        if not target.exists():
            continue
        entry = work.latest(target)
        if entry is None or not target.is_file():  # a folder in the way of a recorded result is not one
            return f"{target} exists and was not written by smolpix (use --overwrite to replace it)"
        if entry["source"] != job.source:
            return f"{target} holds the result of {entry['source']} (use --overwrite to replace it)"
    return None


class Reporter(Protocol):
    def started(self, job: Job) -> None: ...

    def finished(self, outcome: Outcome) -> None: ...


async def run(
    work: Plan,
    client: AsyncClient,
    options: Options,
    *,
    concurrency: int,
    reporter: Reporter,
    stopping: asyncio.Event,
) -> list[Outcome]:
    """Send the planned jobs, `concurrency` at a time, writing each output and recording it in its
    manifest as it arrives. Once `stopping` is set no new job starts (those in flight finish; the
    caller calls `client.stop_waiting()` so that those waiting to be sent are not). An error about
    the account (key, plan, monthly quota) fails the jobs not yet sent, those waiting to be too."""
    outcomes: list[Outcome] = []
    pending = iter(work.jobs)
    account_error: list[SmolpixError] = []

    async def worker() -> None:
        for job in pending:
            outcome = None
            if not account_error:
                reporter.started(job)
                outcome = await _optimize(job, client, options, work.manifest(job.out_dir), account_error)
            if outcome is None:  # not sent
                if not account_error:  # stopped (Ctrl-C): not started, left for the next run
                    return
                outcome = Outcome(job.label, "failed", reason=f"not sent: {account_error[0]}")
            outcomes.append(outcome)
            reporter.finished(outcome)
            if stopping.is_set():
                return

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return outcomes


async def _optimize(
    job: Job, client: AsyncClient, options: Options, manifest: Manifest, account_error: list[SmolpixError]
) -> Outcome | None:
    """What became of `job`; None if the client was stopped before sending it."""
    try:
        # Read in a thread: a large file would hold up the other uploads.
        source = await asyncio.to_thread(job.path.read_bytes) if job.path else None
        result = await client.optimize(url=job.url, file=source, **options.as_arguments())
        asked = options.possible_formats()
        if result.format not in asked:
            # Its output's name was not checked before sending (see _overwrite_refusal): it may be a source's.
            reason = f"the API returned {result.format.upper()}, not the {' or '.join(asked).upper()} asked for"
            return Outcome(job.label, "failed", reason=f"{reason} (not written)")
        output = job.target(result.format)
        outcome = Outcome(
            job.label,
            "done",
            output=output,
            original_size=result.original_size,
            optimized_size=len(result.data),  # what is written, and checked on the next run (Plan.finished)
            format=result.format,
            api_savings_percent=result.savings_percent,
        )
        partial = await asyncio.to_thread(write_partial, output, result.data)
        try:
            # Recorded before it is put in place: a result in place without a record would fail as
            # if it were not there, and the next run would take it for a new source and send both. A
            # record whose result is not put in place (a folder in the way, a run killed in between)
            # is not taken as done (Plan.finished): the source is sent again.
            manifest.record(job.key(options), job, output, outcome)
            os.replace(partial, output)
        except OSError:  # what is there stays
            partial.unlink(missing_ok=True)
            raise
    except NotSent:
        return None
    except ACCOUNT_ERRORS as error:
        account_error.append(error)
        client.stop_waiting()  # before any request waiting for the rate limit is sent
        return Outcome(job.label, "failed", reason=str(error))
    except SmolpixError as error:
        return Outcome(job.label, "failed", reason=str(error))
    except OSError as error:  # reading the source or writing the output
        return Outcome(job.label, "failed", reason=_reason(error))
    return outcome


@dataclass(frozen=True)
class Summary:
    outcomes: list[Outcome]  # every file of the run: done, skipped and failed
    not_started: int  # left for the next run by an interruption
    ignored: int
    seconds: float
    interrupted: bool

    def count(self, status: str) -> int:
        return sum(outcome.status == status for outcome in self.outcomes)

    @property
    def failures(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.status == "failed"]

    @property
    def original_size(self) -> int:
        """Of the images optimized in this run."""
        return sum(outcome.original_size for outcome in self.outcomes if outcome.status == "done")

    @property
    def optimized_size(self) -> int:
        return sum(outcome.optimized_size for outcome in self.outcomes if outcome.status == "done")

    @property
    def savings_percent(self) -> int:
        return savings_percent(self.original_size, self.optimized_size)
