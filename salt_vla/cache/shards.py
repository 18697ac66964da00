"""Shard files: written append-only, finished atomically, checked by SHA-256.

A cache directory::

    metadata.json        the whole cache (written last, by rank 0)
    build.json           the build settings, checked when an interrupted build is resumed
    shards/00000.bin     records of entries [0, S)
    shards/00000.json    that shard's sidecar: entry range, bytes, sha256, views, fidelity sums
    shards/00001.bin     ...

A shard is written to a hidden ``.NNNNN.bin.partial`` file, fsynced, then renamed; its sidecar is
written (atomically) only after that, so a sidecar always describes a complete file. A killed build
leaves at most one partial file per rank, which the resumed build deletes and redoes. A finished
file is never rewritten in place, so a reader holding it memory-mapped never sees it shrink (a
shrinking mapped file is a ``SIGBUS``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from salt_vla.io import atomic_write_json

SHARD_DIR = "shards"
METADATA = "metadata.json"
BUILD = "build.json"
READ_CHUNK = 16 << 20


class CacheIntegrityError(RuntimeError):
    """A shard is missing, truncated, or fails its checksum; ``shards`` names the bad files."""

    def __init__(self, message: str, shards: list[str]) -> None:
        super().__init__(message)
        self.shards = shards


class CacheRebuildWarning(UserWarning):
    """A cache build found shards already there that were not intact (corrupt, truncated, unfinished) and
    rebuilds them; the message names each shard and why."""


def shard_file(index: int) -> str:
    return f"{index:05d}.bin"


def sidecar_path(directory: Path, index: int) -> Path:
    return directory / SHARD_DIR / f"{index:05d}.json"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class ShardWriter:
    """Appends records to one shard; :meth:`finish` makes it complete.

    Args:
        directory: the cache directory.
        index: shard number.
        first_entry: global entry number of the shard's first record.
        count: records the shard will hold.
        record_bytes: bytes per record.
    """

    def __init__(self, directory: Path, index: int, first_entry: int, count: int, record_bytes: int) -> None:
        self.directory, self.index, self.first_entry, self.count = directory, index, first_entry, count
        self.record_bytes = record_bytes
        self.final = directory / SHARD_DIR / shard_file(index)
        self.partial = self.final.with_name(f".{self.final.name}.partial")
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(self.partial, "wb")
        self._digest = hashlib.sha256()
        self._views: list[list[int]] = []
        self._stats: list[dict[str, float]] = []
        self.written = 0

    @property
    def remaining(self) -> int:
        return self.count - self.written

    def write(self, records: np.ndarray, view_rows: np.ndarray, stats: Mapping[str, float] | None = None) -> None:
        """Append ``records`` (structured ``[B]``) with their views (``[B, 12]`` rows) and fidelity sums."""
        if len(records) > self.remaining:
            raise ValueError(f"shard {self.index}: {len(records)} records do not fit in the {self.remaining} left.")
        data = records.tobytes()
        if len(data) != len(records) * self.record_bytes:
            raise ValueError(f"shard {self.index}: records are {records.dtype.itemsize} bytes, expected {self.record_bytes}.")
        self._handle.write(data)
        self._digest.update(data)
        self._views.extend(view_rows.tolist())
        if stats is not None:
            self._stats.append(dict(stats))
        self.written += len(records)

    def finish(self) -> dict[str, Any]:
        """Flush, fsync and rename the shard into place, then write its sidecar. Returns the sidecar."""
        if self.remaining:
            raise ValueError(f"shard {self.index} is unfinished: {self.remaining} of {self.count} records missing.")
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        os.replace(self.partial, self.final)
        sidecar = {
            "shard": self.index,
            "file": f"{SHARD_DIR}/{self.final.name}",
            "first_entry": self.first_entry,
            "count": self.count,
            "bytes": self.count * self.record_bytes,
            "sha256": self._digest.hexdigest(),
            "views": self._views,
            "stats": self._stats,
        }
        atomic_write_json(sidecar_path(self.directory, self.index), sidecar, indent=None)
        return sidecar

    def abort(self) -> None:
        """Close and delete the partial file."""
        self._handle.close()
        self.partial.unlink(missing_ok=True)


def read_sidecar(directory: Path, index: int) -> dict[str, Any] | None:
    path = sidecar_path(directory, index)
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def shard_problem(directory: Path, index: int, first_entry: int, count: int, record_bytes: int) -> str | None:
    """Why shard ``index`` is not complete and intact: ``None`` if it is, ``""`` if nothing of it was written,
    else the reason (``"its SHA-256 differs from its sidecar's (corrupt)"``, ...)."""
    sidecar = read_sidecar(directory, index)
    path = directory / SHARD_DIR / shard_file(index)
    expected = (first_entry, count, count * record_bytes)
    if sidecar is None:
        if path.is_file():
            return "it has no readable sidecar (.json)"
        if path.with_name(f".{path.name}.partial").exists():
            return "unfinished (the build was interrupted)"
        return ""
    if (sidecar.get("first_entry"), sidecar.get("count"), sidecar.get("bytes")) != expected:
        return (f"its sidecar describes entries {sidecar.get('first_entry')}+{sidecar.get('count')}, "
                f"this build {first_entry}+{count}")
    if not path.is_file():
        return "the shard file is missing (its sidecar is there)"
    if path.stat().st_size != expected[2]:
        return f"{path.stat().st_size} bytes, {expected[2]} expected (truncated or overwritten)"
    if file_sha256(path) != sidecar.get("sha256"):
        return "its SHA-256 differs from its sidecar's (corrupt)"
    return None


def clear_shard(directory: Path, index: int) -> None:
    """Remove every file of shard ``index`` (complete, partial or sidecar)."""
    final = directory / SHARD_DIR / shard_file(index)
    for path in (sidecar_path(directory, index), final, final.with_name(f".{final.name}.partial")):
        path.unlink(missing_ok=True)
