"""Atomic report files: every file written to a temporary name, renamed only when all are.

:func:`write_files` writes a set of files (and removes obsolete ones) all or nothing: each
is written to a temporary file next to its target, then all are renamed; an error rolls every
target back to what it held before, so no report is ever half-written or left beside a stale
sibling.  :func:`write_text` is the one-file case.  File modes follow the umask.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["write_files", "write_text"]


def _roll_back(done: list[Path], previous: dict[Path, bytes | None]) -> None:
    """Put back what the already-renamed (or removed) targets held before (or remove new
    ones)."""
    for path in done:
        old = previous[path]
        if old is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(old)


def _commit(temps: list[tuple[str, Path]], remove: Sequence[Path]) -> None:
    """Rename every temporary file onto its target, then remove ``remove``; on an error put
    every target back as it was."""
    previous = {
        path: path.read_bytes() if path.exists() else None
        for path in [*(p for _, p in temps), *remove]
    }
    done: list[Path] = []
    try:
        for tmp, path in temps:
            os.replace(tmp, path)
            done.append(path)
        for path in remove:
            path.unlink()
            done.append(path)
    except OSError:
        _roll_back(done, previous)
        raise


def write_files(outputs: Mapping[Path, bytes], remove: Sequence[Path] = ()) -> None:
    """Write every ``path: data`` of ``outputs`` and remove ``remove``, all or nothing.

    The parent directories must exist.  Raises ``OSError`` (with every target as before and
    no temporary file left) when anything fails.
    """
    temps: list[tuple[str, Path]] = []
    umask = os.umask(0)
    os.umask(umask)
    try:
        for path, data in outputs.items():
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            temps.append((tmp, path))
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, 0o666 & ~umask)
        _commit(temps, remove)
    except OSError:
        for tmp, _ in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """``text`` (UTF-8, ``\\n`` line ends) to ``path`` atomically; its directory must exist."""
    write_files({Path(path): text.encode("utf-8")})
