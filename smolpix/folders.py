"""Folders of one process's own, for files a process killed outright would leave behind: each
process writes in <root>/<pid>, and whoever makes one first removes those of processes that are gone."""

import os
import shutil
from pathlib import Path


def own_folder(root: Path) -> Path:
    """`root`/<this process's pid>, made (private to the user) after the folders of processes that
    are gone were removed."""
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    for folder in root.iterdir():
        if folder.name.isdigit() and not _process_exists(int(folder.name)):
            shutil.rmtree(folder, ignore_errors=True)
    own = root / str(os.getpid())
    own.mkdir(mode=0o700, exist_ok=True)
    return own


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True
