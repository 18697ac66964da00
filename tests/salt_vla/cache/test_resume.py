"""A build killed mid-way resumes: finished shards are kept (verified), the half-written one is redone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from salt_vla.cache import build_latent_cache

SETTINGS = {"views_per_video": 2, "shard_entries": 2, "batch_size": 1}

BUILD_SCRIPT = textwrap.dedent("""
    import importlib.util, sys
    spec = importlib.util.spec_from_file_location("teachers", sys.argv[1])
    teachers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(teachers)
    from salt_vla.cache import build_latent_cache
    from salt_vla.data import SyntheticPhysicsDataset
    # The same teacher and dataset as the `teacher` and `dataset` fixtures.
    dataset = SyntheticPhysicsDataset(num_videos=6, frames=4, size=(16, 16), seed=3, video_frames=12)
    build_latent_cache(teachers.TinyTeacher(delay=0.15), dataset, sys.argv[2], views_per_video=2,
                       shard_entries=2, batch_size=1, progress=False)
""")


@pytest.mark.slow
def test_killed_build_resumes_to_the_same_cache(teacher, dataset, tmp_path: Path) -> None:
    out, shards = tmp_path / "cache", tmp_path / "cache" / "shards"
    process = subprocess.Popen([sys.executable, "-c", BUILD_SCRIPT, str(Path(__file__).with_name("conftest.py")),
                                str(out)], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        # Kill (SIGKILL, no cleanup) once two shards are finished and the next one is half written.
        while not (len(list(shards.glob("*.json"))) >= 2 and list(shards.glob(".*.partial"))):
            assert process.poll() is None, f"the build ended before it could be killed: {process.stderr.read().decode()}"
            assert time.monotonic() < deadline, "the build made no progress"
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    assert not (out / "metadata.json").exists()
    finished = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in shards.glob("*.bin")}
    assert len(finished) >= 2

    resumed = build_latent_cache(teacher, dataset, out, progress=False, **SETTINGS)
    reference = build_latent_cache(teacher, dataset, tmp_path / "reference", progress=False, **SETTINGS)
    assert resumed.metadata["shards"] == reference.metadata["shards"]  # same bytes, same checksums
    assert (resumed.views == reference.views).all()
    for name, stamp in finished.items():  # finished shards were kept, not rewritten
        path = shards / name
        assert (path.stat().st_ino, path.stat().st_mtime_ns) == stamp
    assert not list(shards.glob(".*.partial"))
    resumed.verify()
