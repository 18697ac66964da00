"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Everything salt-vla writes that a user relies on (checkpoints, cache metadata, reports) goes through
these helpers: write to a temporary sibling, flush and fsync, then ``os.replace`` (atomic on POSIX and
Windows within one filesystem). A process killed mid-write leaves the previous version intact.

The temporary files and directories come from :mod:`tempfile`, which creates them private (0600/0700);
before the rename they get the mode a plain ``open``/``mkdir`` would give (0666/0777 less the process
umask), so teammates on a shared cluster can read reports, videos and checkpoints when the umask allows.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # not supported (e.g. Windows); the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def current_umask() -> int:
    """The process umask, read without changing it where the platform allows (Linux ``/proc``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # no /proc: read by setting, then restore at once
    os.umask(mask)
    return mask


def _default_mode(path: str | os.PathLike[str], *, directory: bool, keep_exec: bool = False) -> None:
    """Give a ``tempfile``-made file or directory the mode ``open``/``mkdir`` would have given it."""
    base = 0o777 if directory else 0o666
    if keep_exec and not directory:
        base |= os.stat(path).st_mode & 0o111
    try:
        os.chmod(path, base & ~current_umask())
    except OSError:  # e.g. a filesystem without POSIX modes; the file stays private, which is safe
        pass


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically, creating parent directories. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        _default_mode(tmp, directory=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any, *, indent: int = 2) -> Path:
    """Write ``obj`` as JSON (sorted keys are not forced; insertion order is kept) atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=indent, allow_nan=False) + "\n")


@contextmanager
def atomic_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Build a directory in a temporary sibling and swap it into place when the block succeeds.

    ``with atomic_directory("ckpt/last") as tmp: save_into(tmp)``. If the block raises (or the process
    dies), ``path`` keeps its previous contents. Everything in the new directory gets the mode a plain
    ``open``/``mkdir`` gives under the current umask (some writers, safetensors among them, create 0600 files). An existing ``path`` is replaced only after the new
    directory is complete; the swap leaves a window of two renames in which ``path`` is briefly absent,
    during which ``<path>.old`` still holds the previous version. A write that fails on a full disk is raised
    as ``OSError(ENOSPC)`` naming ``path`` (torch's own message would be ``unexpected pos ...``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        _default_mode(tmp, directory=True)
        yield tmp
        for child in tmp.rglob("*"):
            if child.is_symlink():
                continue
            # Writers that save atomically themselves (safetensors does) leave private 0600 files: give every
            # entry the mode a plain open/mkdir would have, keeping execute bits.
            _default_mode(child, directory=child.is_dir(), keep_exec=True)
            if child.is_file():
                with open(child, "rb") as handle:
                    os.fsync(handle.fileno())
        old = path.with_name(path.name + ".old")
        if old.exists():
            shutil.rmtree(old)
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
        if old.exists():
            shutil.rmtree(old)
    except BaseException as error:
        full = isinstance(error, (OSError, RuntimeError)) and disk_full(error, path.parent)
        shutil.rmtree(tmp, ignore_errors=True)
        if full:  # named once, by the outermost directory (a nested one's error says where it happened)
            source = error.__cause__ if isinstance(error, NoSpaceError) and error.__cause__ else error
            raise no_space_error(path, source) from source
        raise


FULL_DISK_BYTES = 1 << 20
"""Free bytes below which a failed write is reported as a full disk (torch does not say so itself)."""


def disk_full(error: BaseException, directory: Path) -> bool:
    """Whether ``error``, raised while writing into ``directory``, came from a full disk.

    ``ENOSPC`` says so; torch's writer instead reports ``unexpected pos 82240 vs 82128``, so the free space
    of the filesystem decides.
    """
    if getattr(error, "errno", None) == errno.ENOSPC:
        return True
    try:
        return shutil.disk_usage(directory).free < FULL_DISK_BYTES
    except OSError:
        return False


class NoSpaceError(OSError):
    """``ENOSPC``: a write failed on a full disk; the message names what was being written."""


def no_space_error(path: Path, error: BaseException) -> NoSpaceError:
    """The ``ENOSPC`` error for a write of ``path`` that failed on a full disk, naming the path and the fix."""
    try:
        free = f"{shutil.disk_usage(path.parent).free} bytes free"
    except OSError:
        free = "free space unknown"
    return NoSpaceError(errno.ENOSPC, f"No space left on device while writing {path} ({free}; the write said: {error}). "
                   "Free some space or write to a larger disk, then re-run: the previous version is intact.")


def recover_directory(path: str | os.PathLike[str]) -> Path | None:
    """After a crash between the two renames of :func:`atomic_directory`, restore ``<path>.old``.

    Returns the usable directory (``path``), or ``None`` if neither exists.
    """
    path = Path(path)
    old = path.with_name(path.name + ".old")
    if not path.exists() and old.exists():
        os.replace(old, path)
    return path if path.exists() else None
