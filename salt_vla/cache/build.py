"""Building caches: teacher latents (:func:`build_latent_cache`) and decoded clips (:func:`build_clip_cache`).

Entry ``e`` of a cache is view ``e % V`` of video ``e // V`` (``V`` views per video), drawn by
``dataset.item(e // V, epoch=0, view_index=e % V)`` and recorded. Entries are split into shards of
``S`` consecutive entries; rank ``r`` of ``W`` builds the shards ``k`` with ``k % W == r``, then rank
0 merges every shard's sidecar into ``metadata.json``. Rerunning an interrupted build with the same
arguments keeps every complete shard whose checksum verifies and redoes the rest.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import time
import warnings
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

import salt_vla
from salt_vla.cache.compat import check
from salt_vla.cache.records import Field, LatentCodec, RecordLayout, fidelity_stats, merge_fidelity, to_numpy
from salt_vla.cache.shards import (
    BUILD,
    METADATA,
    SHARD_DIR,
    CacheRebuildWarning,
    ShardWriter,
    clear_shard,
    read_sidecar,
    shard_file,
    shard_problem,
    sidecar_path,
)
from salt_vla.cache.store import FORMAT, FORMAT_VERSION, ClipCache, LatentCache
from salt_vla.data.base import VideoDataset
from salt_vla.data.views import VIEW_COLUMNS, view_from_row, views_to_array
from salt_vla.interfaces import Teacher
from salt_vla.io import atomic_write_json, atomic_write_text

TARGET_SHARD_BYTES = 1 << 30
"""Default shard size: about 1 GiB of records."""
POLL_SECONDS = 0.25

Compute = Callable[[torch.Tensor], tuple[dict[str, np.ndarray], dict[str, np.ndarray] | None]]
"""Turns a batch of clips ``[B, C, T, H, W]`` uint8 into record fields and per-record fidelity sums."""


def build_latent_cache(
    teacher: Teacher,
    dataset: VideoDataset,
    out_dir: str | os.PathLike[str],
    *,
    views_per_video: int = 1,
    dtype: str = "float16",
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    num_workers: int = 0,
    rank: int = 0,
    world_size: int = 1,
    progress: bool = True,
    shard_entries: int | None = None,
    wait_timeout: float | None = None,
    autocast: bool | None = None,
) -> LatentCache:
    """Compute ``teacher.targets`` for ``views_per_video`` recorded views of every video of ``dataset``.

    Args:
        teacher: any :class:`~salt_vla.interfaces.Teacher`; an ``nn.Module`` teacher is put in eval
            mode and moved to ``device``. It sees clips as float ``[0, 1]``.
        dataset: the videos; its view sampler decides the clips.
        out_dir: the cache directory (created; resumed if it holds a partial build of the same settings).
        views_per_video: views drawn per video (``V``).
        dtype: ``float16``, ``bfloat16`` or ``float8_e4m3`` (per-token scaled); the measured error
            against the teacher's float32 output is written to ``metadata.json["fidelity"]``.
        batch_size, device, num_workers: of the teacher pass and its DataLoader.
        rank, world_size: this process's share (shards ``k % world_size == rank``); with
            ``torch.distributed`` initialised, ranks meet at barriers, otherwise they poll the directory.
        progress: progress bars.
        shard_entries: entries per shard (default: about 1 GiB per shard).
        wait_timeout: seconds to wait for the other ranks (``None``: no limit).
        autocast: run the teacher under bfloat16 autocast, as live-teacher training does (default:
            on CUDA only). The fidelity figures compare against this output, cast to float32.

    Returns:
        The finished :class:`~salt_vla.cache.store.LatentCache` (on every rank).
    """
    frames, size = dataset.sampler.frames, dataset.sampler.size
    grid = tuple(int(g) for g in teacher.grid(frames, *size))
    num_tokens, dim = math.prod(grid), int(teacher.latent_dim)
    codec = LatentCodec(dtype, num_tokens, dim)
    device = torch.device(device)
    autocast = device.type == "cuda" if autocast is None else autocast
    if isinstance(teacher, torch.nn.Module):
        teacher.eval().to(device)

    def compute(video: torch.Tensor) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        clips = video.to(device, non_blocking=True).float().div_(255)
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            latents = teacher.targets(clips).float()
        if tuple(latents.shape) != (len(video), num_tokens, dim):
            raise ValueError(
                f"teacher.targets returned {tuple(latents.shape)} for clips {tuple(video.shape)}; expected "
                f"[B, N, D] = [{len(video)}, {num_tokens}, {dim}] (grid {grid}, latent_dim {dim})."
            )
        fields = codec.encode(latents)
        stats = fidelity_stats(latents, codec.decode(fields))
        return {k: to_numpy(v.cpu()) for k, v in fields.items()}, stats

    specific = {
        "teacher": {"fingerprint": teacher.fingerprint(), "latent_dim": dim, "patch_size": list(teacher.patch_size),
                    "type": type(teacher).__name__},
        "grid": list(grid),
        "num_tokens": num_tokens,
        "latent_dim": dim,
        "dtype": dtype,
        "autocast": "bfloat16" if autocast else None,
    }
    header = _header("latents", dataset, codec.layout, len(dataset) * views_per_video, views_per_video, shard_entries,
                     specific)
    _build(Path(out_dir), header, codec.layout, _Entries(dataset, views_per_video, None), compute,
           batch_size=batch_size, num_workers=num_workers, pin_memory=device.type == "cuda", rank=rank,
           world_size=world_size, progress=progress, wait_timeout=wait_timeout)
    return LatentCache(out_dir)


def build_clip_cache(
    dataset: VideoDataset,
    out_dir: str | os.PathLike[str],
    *,
    views_from: LatentCache | str | os.PathLike[str] | None = None,
    views_per_video: int = 1,
    batch_size: int = 8,
    num_workers: int = 0,
    rank: int = 0,
    world_size: int = 1,
    progress: bool = True,
    shard_entries: int | None = None,
    wait_timeout: float | None = None,
) -> ClipCache:
    """Decode clips once and store them as uint8 records: the fastest input path for cached training.

    With ``views_from`` (a latent cache or its path), entry ``e`` is exactly that cache's entry ``e``
    (same view), so ``CachedClipDataset(dataset, latents, clips=...)`` can pair them. Otherwise views
    are drawn as :func:`build_latent_cache` draws them. A clip takes ``3 * T * H * W`` bytes (2.4 MB
    at 16x224x224). Other arguments as in :func:`build_latent_cache`.
    """
    frames, (height, width) = dataset.sampler.frames, dataset.sampler.size
    layout = RecordLayout((Field("video", "uint8", (3, frames, height, width)),))
    fixed_views = None
    if views_from is not None:
        source = views_from if isinstance(views_from, LatentCache) else LatentCache(views_from)
        source.check_compatible({"dataset": dataset.describe()})
        clip = source.metadata["clip"]
        if clip["frames"] != frames or list(clip["size"]) != [height, width]:
            raise ValueError(f"views_from holds {clip} clips but the dataset makes {frames} frames of {height}x{width}.")
        fixed_views, views_per_video = source.views, source.views_per_video
    header = _header("clips", dataset, layout, len(dataset) * views_per_video, views_per_video, shard_entries,
                     {"dtype": "uint8"})
    if views_from is not None:
        header["view_sampling"] = source.metadata["view_sampling"]

    def compute(video: torch.Tensor) -> tuple[dict[str, np.ndarray], None]:
        return {"video": video.numpy()}, None

    _build(Path(out_dir), header, layout, _Entries(dataset, views_per_video, fixed_views), compute,
           batch_size=batch_size, num_workers=num_workers, pin_memory=False, rank=rank, world_size=world_size,
           progress=progress, wait_timeout=wait_timeout)
    return ClipCache(out_dir)


class _Entries(Dataset):
    """Cache entries as a dataset: ``(entry, clip, view row)``, with corrupt-video substitution."""

    def __init__(self, dataset: VideoDataset, views_per_video: int, fixed_views: np.ndarray | None) -> None:
        if views_per_video < 1:
            raise ValueError(f"views_per_video must be >= 1; got {views_per_video}.")
        self.dataset, self.views_per_video, self.fixed_views = dataset, views_per_video, fixed_views
        self.entries = np.arange(0)

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, k: int) -> tuple[int, torch.Tensor, np.ndarray]:
        entry = int(self.entries[k])
        if self.fixed_views is not None:
            row = self.fixed_views[entry]
            return entry, self.dataset.clip(view_from_row(row)), row
        item = self.dataset.item(entry // self.views_per_video, epoch=0, view_index=entry % self.views_per_video)
        return entry, item["video"], views_to_array([item["view"]])[0]


def _collate_entries(samples: list[tuple[int, torch.Tensor, np.ndarray]]) -> dict[str, torch.Tensor]:
    return {
        "entry": torch.tensor([s[0] for s in samples], dtype=torch.int64),
        "video": torch.stack([s[1] for s in samples]),
        "view": torch.from_numpy(np.stack([s[2] for s in samples])),
    }


def _header(kind: str, dataset: VideoDataset, layout: RecordLayout, num_entries: int, views_per_video: int,
            shard_entries: int | None, specific: dict[str, Any]) -> dict[str, Any]:
    if shard_entries is None:
        shard_entries = max(1, TARGET_SHARD_BYTES // layout.record_bytes)
    if shard_entries < 1:
        raise ValueError(f"shard_entries must be >= 1; got {shard_entries}.")
    frames, size = dataset.sampler.frames, dataset.sampler.size
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "library_version": salt_vla.__version__,
        **specific,
        "clip": {"channels": 3, "frames": frames, "size": list(size)},
        "dataset": dataset.describe(),
        "view_sampling": {**dataset.sampler.to_dict(), "views_per_video": views_per_video, "seed": dataset.seed,
                          "epoch": 0},
        "num_entries": num_entries,
        "shard_entries": int(shard_entries),
        "record": layout.to_dict(),
    }


def _check_build_settings(out: Path, header: dict[str, Any]) -> None:
    """Write ``build.json``, or, resuming, refuse settings that differ from the interrupted build's."""
    settings = {k: v for k, v in header.items() if k != "library_version"}
    file = out / BUILD
    if file.is_file():
        previous = json.loads(file.read_text())
        previous.pop("library_version", None)
        check(previous, settings, what=f"{out} holds a cache built with other settings; it",
              fix="Use a new output directory, or delete this one to rebuild it.")
    atomic_write_json(file, header)


def _shard_range(index: int, header: dict[str, Any]) -> tuple[int, int]:
    first = index * header["shard_entries"]
    return first, min(header["shard_entries"], header["num_entries"] - first)


def _build(out: Path, header: dict[str, Any], layout: RecordLayout, entries: _Entries, compute: Compute, *,
           batch_size: int, num_workers: int, pin_memory: bool, rank: int, world_size: int, progress: bool,
           wait_timeout: float | None) -> None:
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, world_size); got rank={rank}, world_size={world_size}.")
    out.mkdir(parents=True, exist_ok=True)
    _check_build_settings(out, header)
    num_shards = math.ceil(header["num_entries"] / header["shard_entries"])
    todo, damaged = [], []
    for index in tqdm(range(rank, num_shards, world_size), desc="verify finished shards", unit="shard",
                      disable=not progress, leave=False):
        problem = shard_problem(out, index, *_shard_range(index, header), layout.record_bytes)
        if problem is not None:
            clear_shard(out, index)
            todo.append(index)
            if problem:
                damaged.append(f"{SHARD_DIR}/{shard_file(index)}: {problem}")
    if damaged:
        warnings.warn(f"{out}: rebuilding {len(damaged)} shard(s) already there:\n  " + "\n  ".join(damaged),
                      CacheRebuildWarning, stacklevel=3)
    if todo:
        ranges = [_shard_range(index, header) for index in todo]
        entries.entries = np.concatenate([np.arange(first, first + count) for first, count in ranges])
        loader = DataLoader(entries, batch_size=batch_size, num_workers=num_workers, collate_fn=_collate_entries,
                            pin_memory=pin_memory)
        with tqdm(total=len(entries), desc=f"cache {header['kind']} (rank {rank})", unit="clip",
                  disable=not progress) as bar:
            _write_shards(out, header, layout, loader, compute, bar)
    _finish(out, header, num_shards, rank, world_size, wait_timeout)


class _ShardSink:
    """Splits computed batches into this rank's shards, finishing each shard as it fills."""

    def __init__(self, out: Path, header: dict[str, Any], layout: RecordLayout) -> None:
        self.out, self.header, self.layout = out, header, layout
        self.writer: ShardWriter | None = None

    def write(self, arrays: dict[str, np.ndarray], stats: dict[str, np.ndarray] | None, ids: np.ndarray,
              views: np.ndarray) -> None:
        records = self.layout.pack(arrays)
        start = 0
        while start < len(ids):
            if self.writer is None:
                index = int(ids[start]) // self.header["shard_entries"]
                self.writer = ShardWriter(self.out, index, *_shard_range(index, self.header), self.layout.record_bytes)
            writer = self.writer
            if ids[start] != writer.first_entry + writer.written:
                raise RuntimeError(f"cache build: entry {ids[start]} arrived out of order (shard {writer.index}).")
            stop = start + min(writer.remaining, len(ids) - start)
            part = None
            if stats is not None:
                part = {k: float(v[start:stop].sum()) for k, v in stats.items() if k != "max_abs_err"}
                part["max_abs_err"] = float(stats["max_abs_err"][start:stop].max())
                part["tokens"] = (stop - start) * int(self.header["num_tokens"])
            writer.write(records[start:stop], views[start:stop], part)
            start = stop
            if writer.remaining == 0:
                writer.finish()
                self.writer = None

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()


def _write_shards(out: Path, header: dict[str, Any], layout: RecordLayout, loader: DataLoader, compute: Compute,
                  bar: tqdm) -> None:
    """Compute batch ``k + 1`` (teacher) while a thread packs, hashes and writes batch ``k``."""
    sink = _ShardSink(out, header, layout)
    pending: Future[None] | None = None
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cache-writer") as pool:
            for batch in loader:
                arrays, stats = compute(batch["video"])
                if pending is not None:
                    pending.result()
                ids, views = batch["entry"].numpy(), batch["view"].numpy()
                pending = pool.submit(sink.write, arrays, stats, ids, views)
                bar.update(len(ids))
            if pending is not None:
                pending.result()
    except BaseException:
        sink.abort()
        raise


def _wait(ready: Callable[[], bool], timeout: float | None, what: Callable[[], str]) -> None:
    deadline = None if timeout is None else time.monotonic() + timeout
    while not ready():
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"cache build: gave up after {timeout:.0f} s waiting for {what()}.")
        time.sleep(POLL_SECONDS)


def _finish(out: Path, header: dict[str, Any], num_shards: int, rank: int, world_size: int,
            wait_timeout: float | None) -> None:
    distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    if distributed:
        torch.distributed.barrier()
    if rank == 0:
        def missing() -> list[int]:
            return [k for k in range(num_shards) if not sidecar_path(out, k).is_file()]

        _wait(lambda: not missing(), wait_timeout, lambda: f"the other ranks' shards {missing()[:10]}")
        _merge(out, header, num_shards)
    if distributed:
        torch.distributed.barrier()
    elif rank != 0:
        _wait(lambda: (out / METADATA).is_file(), wait_timeout, lambda: f"rank 0 to write {out / METADATA}")


def _merge(out: Path, header: dict[str, Any], num_shards: int) -> None:
    shards, rows, stats = [], [], []
    for index in range(num_shards):
        sidecar = read_sidecar(out, index)
        if sidecar is None:
            raise RuntimeError(f"cache build: sidecar of shard {index} is unreadable; delete it and rerun the build.")
        shards.append({k: sidecar[k] for k in ("file", "first_entry", "count", "bytes", "sha256")})
        rows.extend(sidecar["views"])
        stats.extend(sidecar["stats"])
    meta = {**header, "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "shards": shards}
    if header["kind"] == "latents":
        meta["fidelity"] = merge_fidelity(stats, header["dtype"])
    table = np.asarray(rows, dtype=np.int64).reshape(len(rows), len(VIEW_COLUMNS))
    views = {column: table[:, i].tolist() for i, column in enumerate(VIEW_COLUMNS)}
    # Pretty-print the settings, but keep the per-entry view columns on one line each.
    text = json.dumps(meta, indent=2)[:-2] + ',\n  "views": {\n' + ",\n".join(
        f"    {json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}" for k, v in views.items()) + "\n  }\n}\n"
    atomic_write_text(out / METADATA, text)
