"""Cached latents are the teacher's latents of the recorded views; metadata says what they are."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import torch

from salt_vla.cache import LatentCache, build_latent_cache

TOLERANCE = {"float16": 1e-3, "bfloat16": 8e-3, "float8_e4m3": 0.07}  # relative Frobenius error


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float8_e4m3"])
def test_cached_latents_equal_the_teacher_on_the_recorded_view(teacher, dataset, tmp_path: Path, dtype: str) -> None:
    cache = build_latent_cache(teacher, dataset, tmp_path, views_per_video=2, dtype=dtype, batch_size=4,
                               shard_entries=5, progress=False)
    assert len(cache) == 12 and cache.num_videos == 6 and cache.grid == (2, 2, 2) and cache.latent_dim == 32
    for entry in range(len(cache)):
        view = cache.view(entry)
        assert (view.video_index, view.view_index) == (entry // 2, entry % 2)
        live = teacher.targets(dataset.clip(view)[None].float() / 255)[0]
        stored = cache[entry]
        assert stored.shape == (8, 32) and stored.dtype == (torch.float16 if dtype == "float16" else torch.bfloat16)
        assert (stored.float() - live).norm() / live.norm() < TOLERANCE[dtype]
    assert cache.view(0) != cache.view(1)  # two distinct views of video 0
    cache.verify()


def test_metadata_records_everything_a_user_scripts_against(teacher, dataset, tmp_path: Path) -> None:
    build_latent_cache(teacher, dataset, tmp_path, dtype="float8_e4m3", shard_entries=4, progress=False)
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert meta["format"] == "salt-vla-cache" and meta["format_version"] == 1 and meta["kind"] == "latents"
    assert meta["teacher"]["fingerprint"] == teacher.fingerprint() and meta["grid"] == [2, 2, 2]
    assert meta["latent_dim"] == 32 and meta["dtype"] == "float8_e4m3" and meta["library_version"]
    assert meta["dataset"] == dataset.describe()
    assert meta["view_sampling"]["stride"] == 2 and meta["view_sampling"]["views_per_video"] == 1
    assert [s["file"] for s in meta["shards"]] == ["shards/00000.bin", "shards/00001.bin"]
    assert all(len(s["sha256"]) == 64 for s in meta["shards"])
    assert len(meta["views"]["video_index"]) == 6 and meta["record"]["fields"][1]["name"] == "scale"
    fidelity = meta["fidelity"]  # fp8 fidelity is measured on every entry against float32
    assert 0.005 < fidelity["relative_error"] < 0.05 and 0.998 < fidelity["cosine"] < 1.0
    assert fidelity["tokens"] == 6 * 8


def test_shards_are_plain_memory_mappable_records(teacher, dataset, tmp_path: Path) -> None:
    import numpy as np

    cache = build_latent_cache(teacher, dataset, tmp_path, dtype="float16", shard_entries=4, progress=False)
    meta = json.loads((tmp_path / "metadata.json").read_text())
    fields = meta["record"]["fields"]
    records = np.memmap(tmp_path / meta["shards"][1]["file"], mode="r", dtype=np.dtype(
        {"names": [f["name"] for f in fields], "formats": [(f["numpy"], tuple(f["shape"])) for f in fields],
         "offsets": [f["offset"] for f in fields], "itemsize": meta["record"]["record_bytes"]}))
    assert torch.equal(torch.from_numpy(np.array(records[1]["latents"])), cache[5])


def test_ranks_build_their_own_shards_and_rank_zero_merges(teacher, dataset, tmp_path: Path) -> None:
    reference = build_latent_cache(teacher, dataset, tmp_path / "one", shard_entries=2, progress=False)
    caches = {}
    other = threading.Thread(target=lambda: caches.setdefault(1, build_latent_cache(
        teacher, dataset, tmp_path / "two", shard_entries=2, rank=1, world_size=2, progress=False, wait_timeout=60)))
    other.start()
    caches[0] = build_latent_cache(teacher, dataset, tmp_path / "two", shard_entries=2, rank=0, world_size=2,
                                   progress=False, wait_timeout=60)
    other.join()
    for cache in caches.values():
        assert [s["sha256"] for s in cache.metadata["shards"]] == [s["sha256"] for s in reference.metadata["shards"]]
        assert (cache.views == reference.views).all()


def test_a_teacher_with_the_wrong_output_shape_is_named(dataset, tmp_path: Path) -> None:
    class Truncating:
        latent_dim, patch_size = 4, (2, 8, 8)

        def grid(self, frames, height, width):
            return (frames // 2, height // 8, width // 8)

        def targets(self, video):
            return torch.zeros(len(video), 3, 4)

        def fingerprint(self):
            return "truncating"

    with pytest.raises(ValueError, match=r"teacher.targets returned \(6, 3, 4\) .* expected \[B, N, D\] = \[6, 8, 4\]"):
        build_latent_cache(Truncating(), dataset, tmp_path, progress=False)
    with pytest.raises(ValueError, match="Unknown latent dtype 'fp8'; choose one of"):
        build_latent_cache(Truncating(), dataset, tmp_path, dtype="fp8", progress=False)
    with pytest.raises(FileNotFoundError, match="Its build did not finish: rerun the same build command"):
        LatentCache(tmp_path)


def _build_rank(rank: int, out: str, init: str, teacher, dataset) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)  # as DataLoader workers do: a forked child must not reuse the parent's OpenMP pool
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    try:
        cache = build_latent_cache(teacher, dataset, out, shard_entries=2, rank=rank, world_size=2, progress=False)
        assert len(cache) == 6  # every rank gets the finished cache once rank 0 has merged
    finally:
        dist.destroy_process_group()


def test_ranks_meet_at_barriers_under_torch_distributed(teacher, dataset, tmp_path: Path) -> None:
    import torch.multiprocessing as mp

    reference = build_latent_cache(teacher, dataset, tmp_path / "one", shard_entries=2, progress=False)
    ranks = mp.start_processes(_build_rank, args=(str(tmp_path / "two"), f"file://{tmp_path / 'rendezvous'}", teacher,
                                                  dataset), nprocs=2, start_method="fork", join=False)
    deadline = time.monotonic() + 120
    while not ranks.join(timeout=1):  # raises if a rank failed
        if time.monotonic() > deadline:
            for process in ranks.processes:
                process.kill()
            pytest.fail("the two ranks did not finish within 120 s")
    merged = LatentCache(tmp_path / "two")
    assert [s["sha256"] for s in merged.metadata["shards"]] == [s["sha256"] for s in reference.metadata["shards"]]
