"""Writing that survives a kill: a directory or a JSON file appears complete or not at all.

Atomicity here is against the process being killed (SIGKILL, pre-emption, out-of-memory): `os.replace` of a
directory or a file within one file system is atomic on POSIX. Files are flushed to the operating system, not
`fsync`ed to disk, except in `write_json_atomic`; a power loss can still lose recently written files."""

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def replace_directory(source: str | Path, target: str | Path) -> None:
    """Moves the directory `source` to `target`, replacing an existing `target`.

    A new `target` appears in one `os.replace`. An existing one is first renamed aside and deleted after the move,
    so a kill between the two renames leaves it complete under `.{name}.replaced-*` beside `target`.
    """
    source, target = Path(source), Path(target)
    if not target.exists():
        os.replace(source, target)
        return
    aside = target.with_name(f".{target.name}.replaced-{uuid.uuid4().hex[:8]}")
    os.replace(target, aside)
    os.replace(source, target)
    shutil.rmtree(aside, ignore_errors=True)


@contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yields an empty staging directory beside `path`; on a normal exit it becomes `path` (replacing an existing
    one), on an exception it is deleted and `path` is left as it was.

        with atomic_directory("outputs/published") as staging:
            model.save_pretrained(staging)
            processor.save_pretrained(staging)

    A process killed inside the block leaves `path` untouched and a `.{name}.incomplete-*` directory beside it.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.incomplete-{uuid.uuid4().hex[:8]}")
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    replace_directory(staging, target)


def write_json_atomic(path: str | Path, data: Any, indent: int | None = 2) -> None:
    """Writes `data` as JSON to `path` through a temporary file in the same directory, `fsync`ed and then renamed
    over `path`: a reader or a process killed at any moment sees the old content or the new one, never a part."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=indent)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
