"""The main job: SALT end to end on synthetic physics videos, with an honest report.

``salt-vla quickstart --out DIR`` (or :func:`run_quickstart`):

1. generates bouncing-ball videos (train, validation and probe splits, disjoint seeds);
2. trains a small stage-1 teacher by pixel reconstruction under multi-block masks;
3. caches the frozen teacher's latents for the train and validation clips;
4. trains a SALT student on the cache (the teacher is never built in this stage);
5. probes the trained student, the same architecture at random initialisation, and the teacher
   (time-arrow and label probes on held-out videos);
6. writes ``report.md``, ``report.json``, loss-curve PNGs and ``student/`` (a checkpoint directory
   ready for ``salt-vla push``).

Every number in the report is computed by the run; nothing is fixed in advance.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

import salt_vla
from salt_vla.config import from_dict, to_dict
from salt_vla.io import atomic_write_json, atomic_write_text


@dataclass(frozen=True)
class Preset:
    """Sizes and budgets of one quickstart preset."""

    name: str
    size: int
    frames: int
    train_videos: int
    val_videos: int
    probe_videos: int
    student: str
    student_args: dict[str, Any]
    teacher_args: dict[str, Any]
    decoder: dict[str, Any]
    predictor: dict[str, Any]
    teacher_steps: int
    student_steps: int
    batch_size: int
    num_workers: int
    teacher_lr: float
    student_lr: float
    val_every: int
    masks: str = "multiblock_vjepa"
    loss: str = "l1"
    device: str = "auto"
    extra: dict[str, Any] = field(default_factory=dict)


PRESETS: dict[str, Preset] = {
    "cpu": Preset(
        name="cpu", size=64, frames=8, train_videos=1024, val_videos=64, probe_videos=600,
        student="vit_micro_patch8_t2", student_args={"embed_dim": 96, "depth": 4, "num_heads": 3},
        teacher_args={"embed_dim": 96, "depth": 4, "num_heads": 3},
        decoder={"dim": 64, "depth": 2, "num_heads": 2}, predictor={"dim": 64, "depth": 2, "num_heads": 2},
        teacher_steps=800, student_steps=1500, batch_size=16, num_workers=1,
        teacher_lr=1.5e-3, student_lr=1.5e-3, val_every=250,
    ),
    "gpu": Preset(
        name="gpu", size=128, frames=16, train_videos=4096, val_videos=256, probe_videos=512,
        student="vit_small_patch16_t2", student_args={}, teacher_args={},
        decoder={"dim": 192, "depth": 4, "num_heads": 3}, predictor={"dim": 384, "depth": 6, "num_heads": 6},
        teacher_steps=3000, student_steps=3000, batch_size=64, num_workers=8,
        teacher_lr=1e-3, student_lr=1e-3, val_every=500,
    ),
}


def _data(preset: Preset, seed: int, videos: int) -> dict[str, Any]:
    return {"num_videos": videos, "frames": preset.frames, "size": preset.size, "seed": seed}


def _stage_config(preset: Preset, out_dir: Path, seed: int, *, stage: str, steps: int, lr: float,
                  model_args: dict[str, Any], extra: dict[str, Any], progress: bool) -> Any:
    from salt_vla.train import TrainConfig

    config = {
        "stage": stage,
        "data": {"dataset": "synthetic_physics", "args": _data(preset, seed, preset.train_videos),
                 "val_args": {"seed": seed + 1, "num_videos": preset.val_videos},
                 "batch_size": preset.batch_size, "num_workers": preset.num_workers},
        "student": {"name": preset.student,
                    "args": {**model_args, "num_frames": preset.frames, "img_size": preset.size}},
        "masks": {"name": preset.masks},
        "optim": {"lr": lr, "min_lr": lr / 10, "warmup_steps": max(1, steps // 20), "weight_decay": 0.04,
                  "weight_decay_end": 0.1},
        "run": {"steps": steps, "seed": seed, "out_dir": str(out_dir), "log_every": 10, "val_every": preset.val_every,
                "val_batches": 4, "checkpoint_every": 0, "device": preset.device, "progress": progress},
        **extra,
    }
    return from_dict(TrainConfig, config)


def _probe_all(encoders: dict[str, Callable[[torch.Tensor], torch.Tensor]], clips: torch.Tensor,
               labels: dict[str, torch.Tensor], device: torch.device) -> dict[str, dict[str, Any]]:
    from salt_vla.probes import label_probe, time_arrow_probe

    results: dict[str, dict[str, Any]] = {}
    for name, encoder in encoders.items():
        results[name] = {"time_arrow": time_arrow_probe(encoder, clips, device=device).to_dict()}
        for key, values in labels.items():
            results[name][key] = label_probe(encoder, clips, values, name=key, device=device).to_dict()
    return results


def _curves(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    from salt_vla.train.metrics import read_metrics

    curves: dict[str, list[tuple[int, float]]] = {}
    for row in read_metrics(run_dir / "metrics.jsonl"):
        for key in ("train/loss", "val/loss", "val/mean_target_loss", "val/mean_target_ratio"):
            if row.get(key) is not None:
                curves.setdefault(key, []).append((row["step"], row[key]))
    return curves


def _plot(curves: dict[str, list[tuple[int, float]]], title: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3.5), dpi=110)
    for key, style in (("train/loss", "-"), ("val/loss", "o-"), ("val/mean_target_loss", "--")):
        if key in curves:
            steps, values = zip(*curves[key])
            label = {"val/mean_target_loss": "val: predict the mean target"}.get(key, key)
            axis.plot(steps, values, style, label=label, markersize=3)
    axis.set_xlabel("optimizer step")
    axis.set_ylabel("loss (log scale)")
    axis.set_yscale("log")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def _markdown(report: dict[str, Any]) -> str:
    probes = report["probes"]
    val = report["student"]["validation"]
    margin = report["time_arrow_margin"]
    rows = []
    for name in ("student", "random_init", "teacher"):
        cells = [f"{probes[name][key]['accuracy']:.3f}" for key in ("time_arrow", *report["label_keys"])]
        rows.append(f"| {name.replace('_', ' ')} | " + " | ".join(cells) + " |")
    label_heads = "".join(f" {k} |" for k in report["label_keys"])
    chance = " | ".join(f"{probes['student'][k]['chance']:.3f}" for k in ("time_arrow", *report["label_keys"]))
    verdict = "below 1: the student predicts the teacher's latents better than their mean" \
        if val["val/mean_target_ratio"] < 1 else "NOT below 1: the student has not learned to beat the trivial answer"
    return "\n".join([
        f"# salt-vla quickstart report ({report['preset']} preset)",
        "",
        f"Seeds: data {report['seeds']['train']} (train), {report['seeds']['val']} (validation), "
        f"{report['seeds']['probe']} (probe); models {report['seeds']['model']}. Device: {report['device']}. "
        f"Wall time: {report['seconds']['total']:.0f} s.",
        "",
        "## Is it learning?",
        "",
        f"- Stage 1 (pixel teacher): {report['teacher']['steps']} steps, final train loss "
        f"{report['teacher']['train']['train/loss']:.4f}, validation loss {report['teacher']['validation']['val/loss']:.4f} "
        f"vs. {report['teacher']['validation']['val/mean_target_loss']:.4f} for the mean per-patch target (ratio "
        f"{report['teacher']['validation']['val/mean_target_ratio']:.3f}).",
        f"- Stage 2 (SALT student on cached latents): {report['student']['steps']} steps, final train loss "
        f"{report['student']['train']['train/loss']:.4f}.",
        f"- Validation loss {val['val/loss']:.4f} vs. {val['val/mean_target_loss']:.4f} for always predicting the "
        f"mean target: ratio **{val['val/mean_target_ratio']:.3f}**, {verdict}.",
        f"- Collapse indicators: prediction/target std ratio {val['val/std_ratio']:.3f}, effective rank "
        f"{val['val/effective_rank']:.1f} of predictions vs. {val['val/target_effective_rank']:.1f} of targets, "
        f"cosine to targets {val['val/cosine']:.3f}.",
        "",
        "![stage 1](teacher_loss.png) ![stage 2](student_loss.png)",
        "",
        "## Probes (linear, frozen features, held-out videos)",
        "",
        f"| encoder | time arrow |{label_heads}",
        "|---|---|" + "---|" * len(report["label_keys"]),
        *rows,
        f"| chance | {chance} |",
        "",
        f"Time-arrow margin of the trained student over the same architecture at random initialisation: "
        f"**{margin:+.3f}** ({report['probes']['student']['time_arrow']['num_test']} held-out clips, each shown "
        f"forward and reversed).",
        "",
        "The student checkpoint is in `student/` (push it with `salt-vla push student/ <org>/<name>`).",
        "",
    ])


def run_quickstart(out_dir: str | Path, *, preset: str | Preset = "cpu", seed: int = 0, progress: bool = True,
                   overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run the whole SALT pipeline on synthetic videos and write the report; returns ``report.json``'s content.

    Args:
        out_dir: where everything goes (``report.md``, ``report.json``, PNGs, ``student/``, run directories).
        preset: ``"cpu"`` (about 10 minutes on 2 cores), ``"gpu"``, or a :class:`Preset`.
        seed: root seed; data splits use ``seed``, ``seed + 1`` (validation), ``seed + 2`` (probes).
        overrides: :class:`Preset` fields to change (e.g. ``{"student_steps": 50}`` for a smoke test).
    """
    from salt_vla import hub
    from salt_vla.cache import build_latent_cache
    from salt_vla.models import EncoderTeacher, VideoViT
    from salt_vla.probes import probe_clips
    from salt_vla.train import train
    from salt_vla.train.distributed import pick_device

    if isinstance(preset, str):
        if preset not in PRESETS:
            raise ValueError(f"Unknown quickstart preset {preset!r}; choose one of {', '.join(PRESETS)}.")
        preset = PRESETS[preset]
    if overrides:
        preset = replace(preset, **overrides)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = pick_device(preset.device)
    started, seconds = time.perf_counter(), {}

    def say(message: str) -> None:
        if progress:
            print(f"[quickstart {time.perf_counter() - started:6.0f}s] {message}", flush=True)

    say(f"stage 1: training a pixel-reconstruction teacher ({preset.teacher_steps} steps)")
    teacher_config = _stage_config(preset, out_dir / "runs" / "teacher", seed, stage="teacher", steps=preset.teacher_steps,
                                   lr=preset.teacher_lr, model_args=preset.teacher_args,
                                   extra={"decoder": preset.decoder}, progress=progress)
    stage1 = train(teacher_config)
    seconds["teacher"] = time.perf_counter() - started

    say("caching the frozen teacher's latents (train and validation)")
    teacher_encoder = hub.from_pretrained(stage1.last_checkpoint / "teacher").encoder
    teacher = EncoderTeacher(teacher_encoder).to(device)
    caches = {}
    for split, data_seed, videos in (("train", seed, preset.train_videos), ("val", seed + 1, preset.val_videos)):
        dataset = salt_vla.create_dataset("synthetic_physics", **_data(preset, data_seed, videos))
        caches[split] = build_latent_cache(teacher, dataset, out_dir / "cache" / split, dtype="float16",
                                           batch_size=32, device=device, progress=progress)
    seconds["cache"] = time.perf_counter() - started - sum(seconds.values())

    say(f"stage 2: training the SALT student on the cache ({preset.student_steps} steps)")
    student_config = _stage_config(
        preset, out_dir / "runs" / "student", seed, stage="salt", steps=preset.student_steps, lr=preset.student_lr,
        model_args=preset.student_args, progress=progress,
        extra={"predictor": preset.predictor, "loss": {"kind": preset.loss},
               "data": {"dataset": "synthetic_physics", "args": _data(preset, seed, preset.train_videos),
                        "val_args": {"seed": seed + 1, "num_videos": preset.val_videos},
                        "latent_cache": str(out_dir / "cache" / "train"),
                        "val_latent_cache": str(out_dir / "cache" / "val"),
                        "batch_size": preset.batch_size, "num_workers": preset.num_workers}})
    stage2 = train(student_config)
    seconds["student"] = time.perf_counter() - started - sum(seconds.values())

    say("probing the trained student, a random-init student and the teacher on held-out videos")
    student = hub.from_pretrained(stage2.last_checkpoint / "student").to(device)
    torch.manual_seed(seed)
    random_init = VideoViT(student.config).to(device)
    label_keys = ["num_balls", "direction"]
    probe_set = salt_vla.create_dataset("synthetic_physics", **_data(preset, seed + 2, preset.probe_videos))
    clips, labels = probe_clips(probe_set, preset.probe_videos, label_keys=label_keys)
    probes = _probe_all({"student": student, "random_init": random_init, "teacher": teacher_encoder.to(device)},
                        clips, labels, device)
    seconds["probes"] = time.perf_counter() - started - sum(seconds.values())
    seconds["total"] = time.perf_counter() - started

    report = {
        "preset": preset.name,
        "preset_settings": asdict(preset),
        "device": str(device),
        "seeds": {"train": seed, "val": seed + 1, "probe": seed + 2, "model": seed},
        "seconds": seconds,
        "teacher": {"steps": stage1.state.step, "train": stage1.train_metrics, "validation": stage1.val_metrics},
        "student": {"steps": stage2.state.step, "train": stage2.train_metrics, "validation": stage2.val_metrics},
        "probes": probes,
        "label_keys": label_keys,
        "time_arrow_margin": probes["student"]["time_arrow"]["accuracy"] - probes["random_init"]["time_arrow"]["accuracy"],
        "cache": {split: {"entries": len(cache), "teacher": cache.metadata["teacher"]["fingerprint"]}
                  for split, cache in caches.items()},
        "salt_vla_version": salt_vla.__version__,
    }
    report = json.loads(json.dumps(report, default=lambda v: None if isinstance(v, float) and not math.isfinite(v) else str(v)))
    hub.save_pretrained(student, out_dir / "student", architecture=preset.student, metadata={
        "training_config": to_dict(student_config), "probes": probes["student"],
        "diagnostics": stage2.val_metrics, "teacher": report["cache"]["train"]["teacher"],
    })
    atomic_write_json(out_dir / "report.json", report)
    write_report(out_dir)
    say(f"done in {seconds['total']:.0f} s: {out_dir / 'report.md'}")
    return report


def write_report(out_dir: str | Path) -> Path:
    """(Re)write ``report.md`` and the loss-curve PNGs of a quickstart directory from its ``report.json`` and logs."""
    out_dir = Path(out_dir)
    report = json.loads((out_dir / "report.json").read_text())
    _plot(_curves(out_dir / "runs" / "teacher"), "stage 1: pixel teacher", out_dir / "teacher_loss.png")
    _plot(_curves(out_dir / "runs" / "student"), "stage 2: SALT student", out_dir / "student_loss.png")
    return atomic_write_text(out_dir / "report.md", _markdown(report))
