"""Data loading throughput: clips/s decoding real encoded videos, per DataLoader worker count.

The benchmark first writes ``--videos`` synthetic physics videos as real files (``--codec``, at the
source resolution and length given), then loads clips through ``VideoFolderDataset`` + a
``DataLoader`` for each worker count, and finally reads the same clips from a pre-decoded clip cache
(the input path for when decoding cannot keep up). The first batch of each run (worker start-up) is
not timed.

CPU (here):   python benchmarks/data_loading.py
GPU machine:  python benchmarks/data_loading.py --preset gpu --save
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, parser

from salt_vla.cache import build_clip_cache
from salt_vla.data import SyntheticPhysicsDataset, VideoFolderDataset, collate_clips, write_videos

PRESETS = {
    # Source videos like Something-Something-v2 (240p, a few seconds) on the GPU machine's 16 cores.
    "gpu": dict(videos=64, source=(240, 320), video_frames=96, size=224, frames=16, stride=4,
                workers="0,1,2,4,8,16", batches=40, batch_size=16, noise=4.0),
    "cpu": dict(videos=12, source=(128, 160), video_frames=64, size=112, frames=16, stride=4,
                workers="0,1,2", batches=30, batch_size=4, noise=4.0),
}


def throughput(dataset, workers: int, batches: int, batch_size: int, collate=collate_clips) -> dict[str, float]:
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, collate_fn=collate, shuffle=True,
                        generator=torch.Generator().manual_seed(0), persistent_workers=False,
                        prefetch_factor=4 if workers else None)
    iterator = iter(loader)
    next(iterator)  # worker start-up is not timed
    clips, start = 0, time.perf_counter()
    for _ in range(batches):
        try:
            batch = next(iterator)
        except StopIteration:
            iterator = iter(loader)
            batch = next(iterator)
        clips += len(batch["video"]) if isinstance(batch, dict) else len(batch)
    seconds = time.perf_counter() - start
    rate = clips / seconds
    return {"workers": workers, "clips_per_s": round(rate, 2), "clips_per_s_per_worker": round(rate / max(workers, 1), 2)}


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    p.add_argument("--videos", type=int)
    p.add_argument("--workers", help="comma-separated worker counts")
    p.add_argument("--batches", type=int, help="timed batches per worker count")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--noise", type=float, help="sensor noise of the synthetic videos (0-255 units)")
    p.add_argument("--codec", default="h264")
    p.add_argument("--keyframe-interval", type=int, default=32)
    p.add_argument("--decode-threads", type=int, default=1)
    p.add_argument("--workdir", type=Path, help="where to write the videos (default: a temporary folder)")
    args = p.parse_args()
    cfg = {**PRESETS[args.preset], **{k: v for k, v in vars(args).items() if v is not None and k in PRESETS["cpu"]}}
    worker_counts = [int(w) for w in str(cfg["workers"]).split(",")]
    torch.set_num_threads(1)  # each worker decodes single-threaded; the main process only collates

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        root = Path(tmp)
        source = SyntheticPhysicsDataset(num_videos=cfg["videos"], size=cfg["source"], video_frames=cfg["video_frames"],
                                         fps=12.0, noise=cfg["noise"], seed=0)
        start = time.perf_counter()
        paths = write_videos(source, root / "videos", codec=args.codec, keyframe_interval=args.keyframe_interval,
                             progress=False)
        write_s = time.perf_counter() - start
        bytes_per_frame = sum(p.stat().st_size for p in paths) / (len(paths) * cfg["video_frames"])
        dataset = VideoFolderDataset(root / "videos", frames=cfg["frames"], stride=cfg["stride"], size=cfg["size"],
                                     labels="none", decode_threads=args.decode_threads)

        latencies = []
        for i in range(min(len(dataset), 16)):
            t = time.perf_counter()
            dataset[i]
            latencies.append(time.perf_counter() - t)
        decode = [throughput(dataset, w, cfg["batches"], cfg["batch_size"]) for w in worker_counts]

        clips = build_clip_cache(dataset, root / "clips", batch_size=cfg["batch_size"], num_workers=max(worker_counts),
                                 progress=False)
        cached = [throughput(clips, w, cfg["batches"], cfg["batch_size"], collate=torch.stack) for w in worker_counts]

    emit("data_loading", {
        "decode": decode,
        "clip_cache": cached,
        "single_clip_decode_ms_median": round(1000 * statistics.median(latencies), 2),
        "videos_written_per_s": round(len(paths) / write_s, 2),
    }, args, config={**cfg, "codec": args.codec, "keyframe_interval": args.keyframe_interval,
                     "decode_threads": args.decode_threads, "encoded_bytes_per_frame": round(bytes_per_frame),
                     "note": "noise sets the bits per frame; Something-Something-v2 WebM averages roughly 2 kB per frame"})


if __name__ == "__main__":
    main()
