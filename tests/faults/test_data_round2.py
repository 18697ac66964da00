"""Training data, caches, probes and statistics that used to be silently wrong (issue 34, round 2)."""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import pytest
from click.testing import CliRunner

from salt_vla.cli import cli

from .conftest import script


def test_a_validation_cache_from_another_teacher_is_refused(latent_caches, run_config, tmp_path) -> None:
    data = {"latent_cache": str(latent_caches(0)), "val_args": {"num_videos": 8}}  # the same videos: a cache serves both
    run = {"val_every": 2, "steps": 2}
    other = run_config("other", data={**data, "val_latent_cache": str(latent_caches(1))}, run=run)
    result = CliRunner().invoke(cli, ["train", str(other), "stage=salt"])
    assert result.exit_code == 2, result.output
    assert f"Validation cache {latent_caches(1)} (data.val_latent_cache) does not match" in result.output
    assert "teacher: validation cache 'encoder_teacher-" in result.output
    assert f"teacher of the training cache {latent_caches(0)}" in result.output
    assert not (tmp_path / "other" / "checkpoints").exists()

    same = run_config("same", data={**data, "val_latent_cache": str(latent_caches(0))}, run=run)
    assert CliRunner().invoke(cli, ["train", str(same), "stage=salt"]).exit_code == 0


def _cut_near_the_end(source: Path, out: Path, lost: range) -> int:
    """Write ``source`` cut to the first length whose stream loses ``lost`` frames; the frames that remain."""
    import av

    data = source.read_bytes()
    with av.open(str(source)) as container:
        total = sum(1 for _ in container.decode(video=0))
    for percent in range(99, 80, -1):
        out.write_bytes(data[: len(data) * percent // 100])
        with av.open(str(out)) as container:
            decodable = sum(1 for _ in container.decode(video=0))
        if total - decodable in lost:
            return decodable
    raise AssertionError(f"no cut of {source} loses {lost} frames")


def test_a_video_cut_near_its_end_never_serves_repeated_frames(tmp_path: Path) -> None:
    from salt_vla.data import CorruptVideoWarning, SyntheticPhysicsDataset, VideoFolderDataset, write_videos
    from salt_vla.data.decode import VideoDecodeError, VideoReader

    frames = 80  # 5% of the frames is 4: a cut that loses 3 or 4 used to be padded with copies of the last frame
    written = tmp_path / "written"
    source = SyntheticPhysicsDataset(num_videos=2, frames=frames, size=(32, 32), seed=3, video_frames=frames)
    write_videos(source, written, codec="vp9", keyframe_interval=8, progress=False)
    good, other = sorted(written.glob("*.webm"))
    folder = tmp_path / "folder"
    folder.mkdir()
    kept = _cut_near_the_end(good, folder / "000000_cut.webm", range(3, 5))

    with VideoReader(folder / "000000_cut.webm") as reader:
        assert len(reader.read(list(range(kept)))) == kept  # the frames that are there still read
        with pytest.raises(VideoDecodeError, match=f"truncated: frames end at {kept - 1}, the header promises"):
            reader.read(list(range(kept - 8, frames)))

    shutil.copy(other, folder / "000001_ok.webm")
    dataset = VideoFolderDataset(folder, frames=frames - 2, stride=1, size=(32, 32), labels="none", seed=0)
    with pytest.warns(CorruptVideoWarning, match="000000_cut.webm"):
        item = dataset[0]  # every clip of 78 frames reaches past the cut
    assert item["skipped"] == 1 and item["view"].video_index == 1 and dataset.skipped == 1


def test_the_attentive_time_arrow_interval_counts_videos_not_answers() -> None:
    import torch

    from salt_vla.attentive_probe import attentive_time_arrow_probe, split_three
    from salt_vla.probes import wilson_interval

    clips = torch.rand(20, 3, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    clips[:, :, :, :2] += torch.linspace(0, 1, 4).view(1, 1, 4, 1, 1)  # something that tells forward from reversed

    def encoder(video: torch.Tensor) -> torch.Tensor:  # [M, C, T, H, W] -> one token per frame [M, T, C * H]
        return video.mean(-1).permute(0, 2, 1, 3).flatten(2)

    result = attentive_time_arrow_probe(encoder, clips, lrs=(1e-2,), weight_decays=(0.01,), epochs=5, batch_size=8)
    videos = len(split_three(20)[2])
    assert result.num_test == videos == 6  # each test video answers twice (forward, reversed) but counts once
    assert result.interval == wilson_interval(result.accuracy * videos, videos)


KILLED_AFTER_STEP_3 = """
import os, signal, sys
from salt_vla.train import Trainer
real = Trainer._log
def log(self, *args, **kwargs):
    metrics = real(self, *args, **kwargs)
    if self.state.step == 3:  # logged, after the checkpoint of step 2
        os.kill(os.getpid(), signal.SIGKILL)
    return metrics
Trainer._log = log
from salt_vla.cli import main
sys.argv = ["salt-vla", "train-teacher", CONFIG]
main()
"""


def test_a_resumed_run_sets_aside_the_metrics_logged_after_its_checkpoint(run_config, tmp_path) -> None:
    from salt_vla.train.metrics import read_metrics

    config = run_config("run")
    killed = script(KILLED_AFTER_STEP_3.replace("CONFIG", repr(str(config))))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    metrics = tmp_path / "run" / "metrics.jsonl"
    before = read_metrics(metrics)
    assert [row["step"] for row in before] == [1, 2, 3]

    with pytest.warns(UserWarning, match=r"1 line\(s\) logged after the checkpoint of step 2 \(steps 3-3\) were moved"):
        result = CliRunner().invoke(cli, ["train-teacher", str(config)])
    assert result.exit_code == 0, result.output
    after = read_metrics(metrics)
    assert [row["step"] for row in after] == [1, 2, 3, 4]  # increasing: no step logged twice
    assert after[:2] == before[:2]
    assert read_metrics(tmp_path / "run" / "metrics.superseded.jsonl") == before[2:]  # kept, readable


def test_a_full_disk_while_logging_metrics_names_the_file(run_config, tmp_path) -> None:
    config = run_config("run", run={"steps": 2})
    assert CliRunner().invoke(cli, ["train-teacher", str(config)]).exit_code == 0
    metrics = tmp_path / "run" / "metrics.jsonl"
    metrics.unlink()
    metrics.symlink_to("/dev/full")  # every write: ENOSPC

    with pytest.warns(UserWarning, match="run.steps: was 2, now 3"):
        result = CliRunner().invoke(cli, ["train-teacher", str(config), "run.steps=3", "--allow-config-change"])
    assert result.exit_code == 1, result.output
    assert f"No space left on device while appending to {metrics} (" in result.output
    assert "Traceback" not in result.output


def test_a_rerun_of_cache_says_which_shard_it_rebuilds_and_why(run_config, tmp_path) -> None:
    import torch

    from salt_vla import hub
    from salt_vla.cache import CacheRebuildWarning, LatentCache
    from salt_vla.models import VideoViT, VideoViTConfig

    torch.manual_seed(0)
    hub.save_pretrained(VideoViT(VideoViTConfig(embed_dim=32, depth=1, num_heads=2, patch_size=8, tubelet_size=2,
                                                num_frames=4, img_size=32)), tmp_path / "teacher")
    config = run_config("run", teacher={"name": "checkpoint", "args": {"pretrained": str(tmp_path / "teacher")}})
    command = ["cache", str(config), "--out", str(tmp_path / "cache"), "--workers", "0", "--batch-size", "8"]
    assert CliRunner().invoke(cli, command).exit_code == 0
    shard = tmp_path / "cache" / "shards" / "00000.bin"
    intact = shard.read_bytes()
    flipped = bytearray(intact)
    flipped[len(flipped) // 2] ^= 0x01
    shard.write_bytes(bytes(flipped))

    with pytest.warns(CacheRebuildWarning, match=r"rebuilding 1 shard\(s\) already there:\n  shards/00000.bin: its "
                                                 r"SHA-256 differs from its sidecar's \(corrupt\)"):
        result = CliRunner().invoke(cli, command)
    assert result.exit_code == 0, result.output
    assert shard.read_bytes() == intact
    LatentCache(tmp_path / "cache").verify()


def _run_dir(root: Path, name: str, val_losses: dict[int, float]) -> Path:
    """A run directory as the trainer lays it out: metrics.jsonl and checkpoints/<step>/training_state."""
    run = root / name
    run.mkdir()
    (run / "metrics.jsonl").write_text("".join(json.dumps({"step": s, "val/loss": v}) + "\n" for s, v in val_losses.items()))
    for step in val_losses:
        (run / "checkpoints" / str(step) / "training_state").mkdir(parents=True)
        (run / "checkpoints" / str(step) / "training_state" / "state.json").write_text(json.dumps({"step": step}))
    return run


# Three runs of four checkpoints: (val loss, probe accuracy) per step, made up, not on one line.
RUNS = {"a": [(0.90, 0.52), (0.80, 0.60), (0.74, 0.61), (0.70, 0.66)],
        "b": [(0.85, 0.55), (0.78, 0.57), (0.70, 0.65), (0.66, 0.64)],
        "c": [(0.95, 0.50), (0.83, 0.58), (0.77, 0.58), (0.72, 0.63)]}


def _select(tmp_path: Path, runs: dict[str, list[tuple[float, float]]], resamples: int) -> tuple[dict, str]:
    dirs = [_run_dir(tmp_path, name, {10 * (i + 1): loss for i, (loss, _) in enumerate(points)})
            for name, points in runs.items()]
    probes = [{"run": name, "step": 10 * (i + 1), "accuracy": accuracy}
              for name, points in runs.items() for i, (_, accuracy) in enumerate(points)]
    (tmp_path / "probes.json").write_text(json.dumps(probes))
    result = CliRunner().invoke(cli, ["select", *map(str, dirs), "--probe-json", str(tmp_path / "probes.json"),
                                      "--bootstrap", str(resamples), "--out", str(tmp_path / "select.json")])
    assert result.exit_code == 0, result.output
    return json.loads((tmp_path / "select.json").read_text()), result.output


def test_select_resamples_runs_and_counts_the_run_means_in_the_demeaned_fit(tmp_path) -> None:
    import numpy as np
    import torch

    report, output = _select(tmp_path, RUNS, 200)
    points = {name: np.array(values) for name, values in RUNS.items()}
    loss, accuracy = np.concatenate(list(points.values())).T

    # The demeaned fit: one slope and three run means are fitted, so 12 - 3 - 1 degrees of freedom (not 12 - 2).
    dx = np.concatenate([p[:, 0] - p[:, 0].mean() for p in points.values()])
    dy = np.concatenate([p[:, 1] - p[:, 1].mean() for p in points.values()])
    slope, intercept = np.polyfit(dx, dy, 1)
    residuals = dy - (intercept + slope * dx)
    demeaned = report["within_run_demeaned"]
    assert demeaned["slope"] == pytest.approx(slope)
    assert demeaned["residual_se"] == pytest.approx(np.sqrt((residuals ** 2).sum() / (12 - 3 - 1)))

    # The bootstrap draws runs (with all their checkpoints), with the same generator; numpy refits each resample.
    pooled = np.polyfit(loss, accuracy, 1)
    kept = loss[np.argmax(np.polyval(pooled, loss))]
    assert report["keep"]["val_loss"] == pytest.approx(kept)
    generator, names, predictions = torch.Generator().manual_seed(0), list(points), []
    for _ in range(200):
        picks = torch.randint(0, 3, (3,), generator=generator).tolist()
        sample = np.concatenate([points[names[i]] for i in picks])
        predictions.append(np.polyval(np.polyfit(sample[:, 0], sample[:, 1], 1), kept))
    assert report["keep"]["bootstrap_interval"] == pytest.approx(list(np.quantile(predictions, [0.025, 0.975])))
    assert report["keep"]["bootstrap_unit"] == "runs" and "resampling runs" in output


def test_select_on_one_run_says_why_it_resamples_checkpoints(tmp_path) -> None:
    report, output = _select(tmp_path, {"a": RUNS["a"]}, 50)
    assert report["keep"]["bootstrap_unit"] == "checkpoints" and "resampling checkpoints" in output
    assert "One run: the bootstrap resamples its checkpoints as if they were independent" in output
    assert report["within_run_demeaned"]["residual_se"] is not None  # 4 - 1 - 1 = 2 degrees of freedom
