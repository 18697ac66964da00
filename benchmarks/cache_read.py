"""Cache read throughput: latent (and clip) cache entries per second and GB/s, next to raw disk reads.

Builds a latent cache (a cheap tubelet-projection teacher over synthetic videos; the build is not the
point), then reads it:

- ``raw_sequential``: the shard files read front to back in 16 MiB chunks (the disk's ceiling);
- ``cache_sequential`` / ``cache_random``: ``LatentCache[i]`` (a view of the memory-mapped record)
  stacked into a batch buffer, in entry order / shuffled;
- ``pread_random``: one ``os.preadv`` per entry straight into the batch buffer (the alternative
  reader: no map, also one copy);
- ``safetensors_random``: the same latents stored as one safetensors tensor per shard, entries
  from ``safe_open(...).get_slice`` stacked the same way (the alternative format);
- ``loader``: ``LatentCache`` through a shuffled DataLoader with N workers (default collation).

Every variant moves each byte once into a batch, so the figures compare like with like.

Each read runs cold (pages dropped with ``posix_fadvise(DONTNEED)`` first) and warm (page cache hot).

CPU (here):   python benchmarks/cache_read.py
GPU machine:  python benchmarks/cache_read.py --preset gpu --save
"""

from __future__ import annotations

import gc
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import save_file
from safetensors.torch import safe_open
from torch import nn
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, parser

from salt_vla.cache import LatentCache, build_clip_cache, build_latent_cache
from salt_vla.data import SyntheticPhysicsDataset

PRESETS = {
    # ViT-B teacher latents at 16x224x224, tubelet 2x16x16: [1568, 768] per clip (2.4 MB in fp16).
    "gpu": dict(entries=2048, frames=16, size=224, dim=768, workers="0,2,4,8", batch_size=32, shard_mb=1024),
    "cpu": dict(entries=128, frames=8, size=112, dim=384, workers="0,2", batch_size=16, shard_mb=16),
}


class ProjectionTeacher(nn.Module):
    """A Teacher that is only a tubelet projection: cheap, real-valued latents of the right shape."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.proj = nn.Conv3d(3, dim, kernel_size=(2, 16, 16), stride=(2, 16, 16))
        self.latent_dim, self.patch_size = dim, (2, 16, 16)

    def grid(self, frames: int, height: int, width: int) -> tuple[int, int, int]:
        return (frames // 2, height // 16, width // 16)

    def targets(self, video: torch.Tensor) -> torch.Tensor:
        return self.proj(video).flatten(2).transpose(1, 2)

    def fingerprint(self) -> str:
        return f"projection-{self.latent_dim}"


def drop_page_cache(paths: list[Path]) -> None:
    """Evict the files from the page cache (pages still mapped by a live object would stay)."""
    gc.collect()
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)  # dirty pages cannot be dropped
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def timed(read: Callable[[], int], paths: list[Path], entries: int) -> dict[str, float]:
    """Cold and warm runs of ``read`` (which returns the bytes it read)."""
    out = {}
    for state in ("cold", "warm"):
        if state == "cold":
            drop_page_cache(paths)
        start = time.perf_counter()
        nbytes = read()
        seconds = time.perf_counter() - start
        out[f"{state}_clips_per_s"] = round(entries / seconds, 1)
        out[f"{state}_gb_per_s"] = round(nbytes / seconds / 1e9, 3)
    return out


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    p.add_argument("--entries", type=int)
    p.add_argument("--workers", help="comma-separated DataLoader worker counts")
    p.add_argument("--dtype", default="float16", choices=["float16", "bfloat16", "float8_e4m3"])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="for the build only")
    p.add_argument("--clips", action="store_true", help="also build and read a clip cache of the same views")
    p.add_argument("--workdir", type=Path, help="where to build the caches (default: a temporary folder)")
    args = p.parse_args()
    cfg = {**PRESETS[args.preset], **{k: v for k, v in vars(args).items() if v is not None and k in PRESETS["cpu"]}}
    workers = [int(w) for w in str(cfg["workers"]).split(",")]
    torch.set_num_threads(1)  # as in DataLoader workers; copies are memory-bound, not compute-bound

    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        root = Path(tmp)
        dataset = SyntheticPhysicsDataset(num_videos=cfg["entries"], frames=cfg["frames"], size=cfg["size"],
                                          video_frames=cfg["frames"] * 2, stride=1, seed=0)
        teacher = ProjectionTeacher(cfg["dim"])
        record = cfg["dim"] * (cfg["frames"] // 2) * (cfg["size"] // 16) ** 2 * 2
        start = time.perf_counter()
        cache = build_latent_cache(teacher, dataset, root / "latents", dtype=args.dtype, batch_size=cfg["batch_size"],
                                   device=args.device, num_workers=min(max(workers), 8), progress=False,
                                   shard_entries=max(1, cfg["shard_mb"] * 2**20 // record))
        figures["build_clips_per_s"] = round(len(cache) / (time.perf_counter() - start), 1)
        shards = [cache.path / s["file"] for s in cache.metadata["shards"]]
        record_bytes = cache.layout.record_bytes
        order = np.random.default_rng(0).permutation(len(cache))

        def raw() -> int:
            buffer, total = bytearray(16 << 20), 0
            for path in shards:
                with open(path, "rb", buffering=0) as handle:
                    while n := handle.readinto(buffer):
                        total += n
            return total

        per_shard = cache.metadata["shard_entries"]
        example = LatentCache(cache.path)[0]  # a throwaway reader: `cache` itself never maps a page
        buffer = torch.empty(cfg["batch_size"], *example.shape, dtype=example.dtype)
        del example

        def batched(indices: np.ndarray, get: Callable[[int], torch.Tensor]) -> int:
            """Stack ``get(i)`` into a reused batch buffer, as collation does: every byte is moved once."""
            for start in range(0, len(indices), len(buffer)):
                chunk = indices[start: start + len(buffer)]
                torch.stack([get(int(i)) for i in chunk], out=buffer[: len(chunk)])
            return len(indices) * record_bytes

        def cache_reads(indices: np.ndarray) -> Callable[[], int]:
            def read() -> int:
                fresh = LatentCache(cache.path)
                return batched(indices, fresh.__getitem__)
            return read

        def pread() -> int:
            """One positioned read per entry straight into the batch buffer (no map, no extra copy)."""
            fds = [os.open(path, os.O_RDONLY) for path in shards]
            rows = buffer.view(len(buffer), -1).view(torch.uint8).numpy()
            try:
                for start in range(0, len(order), len(buffer)):
                    for row, i in enumerate(order[start: start + len(buffer)]):
                        shard, offset = divmod(int(i), per_shard)
                        os.preadv(fds[shard], [rows[row]], offset * record_bytes)
            finally:
                for fd in fds:
                    os.close(fd)
            return len(order) * record_bytes

        safetensor_files = []
        for path in shards:  # the same latents as safetensors, one [count, N, D] tensor per shard
            records = np.memmap(path, dtype=cache.layout.numpy_dtype(), mode="r")
            target = path.with_suffix(".safetensors")
            save_file({"latents": np.ascontiguousarray(records["latents"])}, str(target))
            safetensor_files.append(target)

        def safetensors_read() -> int:
            slices = [safe_open(str(f), framework="pt").get_slice("latents") for f in safetensor_files]
            return batched(order, lambda i: slices[i // per_shard][i % per_shard])

        def loader(count: int) -> Callable[[], int]:
            def read() -> int:
                fresh = LatentCache(cache.path)
                batches = DataLoader(fresh, batch_size=cfg["batch_size"], shuffle=True, num_workers=count,
                                     generator=torch.Generator().manual_seed(0))
                return sum(len(batch) for batch in batches) * record_bytes
            return read

        entries = len(cache)
        figures["record_bytes"] = record_bytes
        figures["raw_sequential"] = timed(raw, shards, entries)
        figures["cache_sequential"] = timed(cache_reads(np.arange(entries)), shards, entries)
        figures["cache_random"] = timed(cache_reads(order), shards, entries)
        figures["pread_random"] = timed(pread, shards, entries)
        figures["safetensors_random"] = timed(safetensors_read, safetensor_files, entries)
        figures["loader"] = [{"workers": w, **timed(loader(w), shards, entries)} for w in workers]

        if args.clips:
            clips = build_clip_cache(dataset, root / "clips", views_from=cache, batch_size=cfg["batch_size"],
                                     num_workers=min(max(workers), 8), progress=False)
            clip_files = [clips.path / s["file"] for s in clips.metadata["shards"]]

            def clip_reads() -> int:
                fresh = type(clips)(clips.path)
                out = torch.empty(cfg["batch_size"], *fresh[0].shape, dtype=torch.uint8)
                for start in range(0, len(order), len(out)):
                    chunk = order[start: start + len(out)]
                    torch.stack([fresh[int(i)] for i in chunk], out=out[: len(chunk)])
                return len(order) * fresh.layout.record_bytes

            figures["clip_cache_random"] = timed(clip_reads, clip_files, entries)

    emit("cache_read", figures, args, config={**cfg, "dtype": args.dtype, "device": args.device,
                                               "shards": len(shards)})


if __name__ == "__main__":
    main()
