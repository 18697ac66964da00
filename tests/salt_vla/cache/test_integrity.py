"""A damaged shard is named, and a rebuild redoes only that shard."""

from __future__ import annotations

from pathlib import Path

import pytest

from salt_vla.cache import CacheIntegrityError, CacheRebuildWarning, LatentCache, build_latent_cache


def test_checksum_failure_names_the_shard_and_a_rebuild_redoes_only_it(teacher, dataset, tmp_path: Path) -> None:
    cache = build_latent_cache(teacher, dataset, tmp_path, shard_entries=2, progress=False)
    shards = tmp_path / "shards"
    bad = shards / "00001.bin"
    data = bytearray(bad.read_bytes())
    data[100] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(CacheIntegrityError, match=r"1 shard\(s\) failed their checksum: shards/00001.bin") as caught:
        LatentCache(tmp_path).verify()
    assert caught.value.shards == ["shards/00001.bin"]

    kept = {p.name: p.stat().st_ino for p in shards.glob("*.bin") if p != bad}
    with pytest.warns(CacheRebuildWarning, match=r"shards/00001.bin: its SHA-256 differs"):
        rebuilt = build_latent_cache(teacher, dataset, tmp_path, shard_entries=2, progress=False)
    rebuilt.verify()
    assert rebuilt.metadata["shards"] == cache.metadata["shards"]
    assert {name: (shards / name).stat().st_ino for name in kept} == kept


def test_a_truncated_shard_is_refused_on_open(teacher, dataset, tmp_path: Path) -> None:
    build_latent_cache(teacher, dataset, tmp_path, shard_entries=4, progress=False)
    shard = tmp_path / "shards" / "00000.bin"
    shard.write_bytes(shard.read_bytes()[:-10])
    with pytest.raises(CacheIntegrityError, match=r"shard\(s\) \['shards/00000.bin'\] are missing or have the wrong size"):
        LatentCache(tmp_path)
