"""Reading caches: :class:`LatentCache` (teacher latents) and :class:`ClipCache` (decoded clips).

Shards are memory-mapped (fixed-size records; see :mod:`salt_vla.cache.records`) and an entry is a
tensor viewing its record in the map: the bytes are copied once, when a batch is stacked, instead of
read into a buffer and then copied again (measured in benchmarks/cache_read.py). Mapped pages are
the page cache's, shared by every worker and reclaimable, not process memory. Maps open lazily, per
process: a cache pickled into DataLoader workers reopens them there. Finished shards are never
rewritten in place (a rebuild writes a new file and renames it), so a reader never sees one shrink.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from tqdm.auto import tqdm

from salt_vla.cache.compat import check, compat_fields
from salt_vla.cache.records import LatentCodec, RecordLayout
from salt_vla.cache.shards import METADATA, CacheIntegrityError, file_sha256
from salt_vla.data.views import VIEW_COLUMNS, ViewParams, view_from_row

FORMAT = "salt-vla-cache"
FORMAT_VERSION = 1
MAX_OPEN_SHARDS = 64


def read_metadata(path: Path, kind: str) -> dict[str, Any]:
    """``path/metadata.json``, checked to be a finished cache of ``kind`` in a format this version reads."""
    file = path / METADATA
    if not file.is_file():
        hint = " Its build did not finish: rerun the same build command to resume it." if (path / "build.json").is_file() else ""
        raise FileNotFoundError(f"{path} is not a salt-vla cache: {METADATA} is missing.{hint}")
    meta = json.loads(file.read_text())
    if meta.get("format") != FORMAT or meta.get("kind") != kind:
        raise ValueError(f"{file} describes a {meta.get('format')!r} cache of kind {meta.get('kind')!r}; expected {FORMAT!r} of kind {kind!r}.")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{file} has cache format version {meta.get('format_version')}; this salt-vla reads version "
            f"{FORMAT_VERSION}. Rebuild the cache with this version, or use the salt-vla version that built it "
            f"({meta.get('library_version')})."
        )
    return meta


class ShardedCache:
    """Entries stored as fixed-size records in shards, with the view each entry was made from."""

    kind: ClassVar[str]

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        meta = read_metadata(self.path, self.kind)
        columns = meta.pop("views")
        self._views = np.stack([np.asarray(columns[c], dtype=np.int64) for c in VIEW_COLUMNS], axis=1)
        self.metadata: dict[str, Any] = meta
        """``metadata.json`` without the per-entry views (see :attr:`views`)."""
        self.layout = RecordLayout.from_dict(meta["record"])
        self._shard_entries = int(meta["shard_entries"])
        self._shards = meta["shards"]
        bad = [s["file"] for s in self._shards if not (self.path / s["file"]).is_file()
               or (self.path / s["file"]).stat().st_size != s["bytes"]]
        if bad:
            raise CacheIntegrityError(
                f"{self.path}: shard(s) {bad} are missing or have the wrong size (truncated copy?). Delete them "
                f"with their .json sidecars and rerun the build command to redo just those shards.", bad,
            )
        if len(self._views) != len(self):
            raise CacheIntegrityError(f"{self.path}: {len(self._views)} views for {len(self)} entries.", [])
        self._maps: OrderedDict[int, np.memmap] = OrderedDict()  # shard -> memory map (LRU)

    def __len__(self) -> int:
        return int(self.metadata["num_entries"])

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_maps"] = OrderedDict()  # maps are reopened in the process that unpickles
        return state

    @property
    def views(self) -> np.ndarray:
        """``[E, 12]`` int64 view rows in :data:`~salt_vla.data.views.VIEW_COLUMNS` order."""
        return self._views

    @property
    def views_per_video(self) -> int:
        return int(self.metadata["view_sampling"]["views_per_video"])

    @property
    def num_videos(self) -> int:
        return len(self) // self.views_per_video

    def view(self, index: int) -> ViewParams:
        """The view entry ``index`` was computed from."""
        return view_from_row(self._views[self._check(index)])

    def fields(self, index: int) -> dict[str, torch.Tensor]:
        """Entry ``index``'s record fields: tensors viewing the shard's memory map (no copy yet)."""
        index = self._check(index)
        shard, offset = divmod(index, self._shard_entries)
        size = self.layout.record_bytes
        return self.layout.unpack(torch.from_numpy(self._map(shard)[offset * size: (offset + 1) * size]))

    def _map(self, shard: int) -> np.memmap:
        mapped = self._maps.get(shard)
        if mapped is None:
            if len(self._maps) >= MAX_OPEN_SHARDS:
                self._maps.popitem(last=False)  # tensors still viewing it keep it mapped
            # Copy-on-write: tensors over it are writable (in memory only); the file is never written.
            mapped = self._maps[shard] = np.memmap(self.path / self._shards[shard]["file"], dtype=np.uint8, mode="c")
        else:
            self._maps.move_to_end(shard)
        return mapped

    def verify(self, *, progress: bool = False, threads: int | None = None, rank: int = 0, world_size: int = 1) -> None:
        """Check every shard's SHA-256; raise :class:`CacheIntegrityError` naming all that fail.

        Shards are hashed by ``threads`` threads (default: up to 8; hashing releases the GIL). Under
        distributed training each rank checks its share (``shards[rank::world_size]``).
        """
        from concurrent.futures import ThreadPoolExecutor

        shards = self._shards[rank::world_size]
        threads = threads or min(8, os.cpu_count() or 1, max(1, len(shards)))
        with ThreadPoolExecutor(threads) as pool:
            digests = pool.map(lambda shard: file_sha256(self.path / shard["file"]), shards)
            actual = list(tqdm(digests, total=len(shards), desc="verify cache", unit="shard", disable=not progress))
        bad = [f"{shard['file']} (expected sha256 {shard['sha256'][:12]}..., got {digest[:12]}...)"
               for shard, digest in zip(shards, actual) if digest != shard["sha256"]]
        if bad:
            raise CacheIntegrityError(
                f"{self.path}: {len(bad)} shard(s) failed their checksum: {'; '.join(bad)}. Delete the bad shard "
                f"files with their .json sidecars and rerun the build command: only those shards are redone.",
                [b.split(" ")[0] for b in bad],
            )

    def check_compatible(self, expected: dict[str, Any]) -> None:
        """Refuse a cache built for another run: one error listing every mismatching field.

        ``expected`` maps any of ``teacher``, ``grid``, ``latent_dim``, ``dtype``, ``views`` (view
        sampling) and ``dataset`` to the run's values (see
        :func:`~salt_vla.cache.compat.cache_requirements`); dict values are compared key by key.
        """
        check(compat_fields(self.metadata), expected, what=f"Cache {self.path}",
              fix="Rebuild the cache for this run, or point the run at the cache that matches it.")

    def _check(self, index: int) -> int:
        if not 0 <= index < len(self):
            raise IndexError(f"{self.path} has {len(self)} entries; index {index} is out of range.")
        return int(index)


class LatentCache(ShardedCache):
    """Teacher latents, one ``[N, D]`` per entry, with the view each was computed from.

    ``cache[i]`` is a ``[N, D]`` tensor: float16 or bfloat16 as stored, viewing the memory-mapped
    record (clone it before changing it in place: the change would show in later reads of that entry
    in this process, though never in the file); fp8 caches dequantize into a new bfloat16 tensor.
    """

    kind = "latents"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(path)
        self.codec = LatentCodec(self.dtype, int(self.metadata["num_tokens"]), self.latent_dim)

    @property
    def dtype(self) -> str:
        return str(self.metadata["dtype"])

    @property
    def grid(self) -> tuple[int, int, int]:
        return tuple(self.metadata["grid"])  # type: ignore[return-value]

    @property
    def latent_dim(self) -> int:
        return int(self.metadata["latent_dim"])

    @property
    def teacher_fingerprint(self) -> str:
        return str(self.metadata["teacher"]["fingerprint"])

    @property
    def fidelity(self) -> dict[str, Any]:
        """Measured error of the stored latents against the teacher's float32 output."""
        return dict(self.metadata["fidelity"])

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.codec.decode(self.fields(index))


class ClipCache(ShardedCache):
    """Decoded clips, one ``[C, T, H, W]`` uint8 per entry: the input path that needs no decoding.

    ``clips[i]`` views the memory-mapped record, like :class:`LatentCache`'s entries.
    """

    kind = "clips"

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.fields(index)["video"]
