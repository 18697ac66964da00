"""The SALT paper's claims at small scale, on synthetic physics videos, in one command.

Trains stage-1 pixel teachers and SALT students through :mod:`salt_vla.train`, then probes every encoder
with attentive probes (learning rate x weight decay chosen on a validation split, accuracy on a held-out
test split with a Wilson 95% interval; see :mod:`salt_vla.attentive_probe`):

1. **student vs teacher vs random init**: the student of the fully trained multi-block teacher, that
   teacher's encoder, and the student architecture at random initialisation;
2. **a weaker teacher is enough**: students of the multi-block teacher after 10%, 50% and 100% of its steps;
3. **stage-1 masking**: a teacher trained with multi-block masks vs one trained with tube masks, and their students;
4. **loss predicts accuracy**: probe accuracy against the student's validation loss over every kept
   checkpoint of every student run (runs differ in teacher, teacher masking and learning rate), pooled,
   within-run and between-run (:mod:`salt_vla.selection`).

    python benchmarks/salt_claims.py --preset tiny --save   # CPU, a couple of minutes; exercises the code path
    python benchmarks/salt_claims.py --preset gpu --save    # one H200, under 30 minutes

The tiny preset's numbers are not evidence of anything (tens of steps, a one-block ViT); it exists so that
the GPU preset's code path is tested. Every number in the JSON is computed by the run.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from _common import emit, parser


@dataclass(frozen=True)
class ClaimsPreset:
    """Sizes and budgets of one run of the benchmark."""

    name: str
    size: int
    frames: int
    train_videos: int
    val_videos: int
    probe_videos: int
    student: str
    model_args: dict[str, Any]
    decoder: dict[str, Any]
    predictor: dict[str, Any]
    teacher_steps: int
    student_steps: int
    student_checkpoints: int
    batch_size: int
    num_workers: int
    teacher_lr: float
    student_lr: float
    student_lr_variants: tuple[float, ...]
    probe_lrs: tuple[float, ...]
    probe_weight_decays: tuple[float, ...]
    probe_epochs: int
    probe_heads: int
    tasks: tuple[str, ...] = ("time_arrow", "direction", "num_balls")
    teacher_fractions: tuple[float, ...] = (0.1, 0.5, 1.0)
    device: str = "auto"
    threads: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


PRESETS = {
    "tiny": ClaimsPreset(
        name="tiny", size=32, frames=4, train_videos=48, val_videos=16, probe_videos=60, student="vit_micro_patch8_t2",
        model_args={"embed_dim": 48, "depth": 1, "num_heads": 3}, decoder={"dim": 32, "depth": 1, "num_heads": 2},
        predictor={"dim": 32, "depth": 1, "num_heads": 2}, teacher_steps=20, student_steps=12, student_checkpoints=3,
        batch_size=8, num_workers=0, teacher_lr=1.5e-3, student_lr=1.5e-3, student_lr_variants=(5e-4,),
        probe_lrs=(1e-3, 1e-2), probe_weight_decays=(0.01,), probe_epochs=8, probe_heads=1, device="cpu", threads=1,
    ),
    "gpu": ClaimsPreset(
        name="gpu", size=64, frames=8, train_videos=4096, val_videos=256, probe_videos=1000,
        student="vit_micro_patch8_t2", model_args={"embed_dim": 192, "depth": 6, "num_heads": 3},
        decoder={"dim": 128, "depth": 2, "num_heads": 4}, predictor={"dim": 128, "depth": 3, "num_heads": 4},
        teacher_steps=1500, student_steps=1500, student_checkpoints=5, batch_size=64, num_workers=8,
        teacher_lr=1e-3, student_lr=1e-3, student_lr_variants=(3e-4,), probe_lrs=(1e-4, 3e-4, 1e-3, 3e-3),
        probe_weight_decays=(0.01, 0.1), probe_epochs=30, probe_heads=4,
    ),
}


def _config(preset: ClaimsPreset, out_dir: Path, seed: int, *, stage: str, steps: int, lr: float, every: int,
            masks: str, extra: dict[str, Any]) -> Any:
    from salt_vla.config import from_dict
    from salt_vla.train import TrainConfig

    data = {"num_videos": preset.train_videos, "frames": preset.frames, "size": preset.size, "seed": seed}
    config = {
        "stage": stage,
        "data": {"dataset": "synthetic_physics", "args": data, "val_args": {"seed": seed + 1, "num_videos": preset.val_videos},
                 "batch_size": preset.batch_size, "num_workers": preset.num_workers, **extra.pop("data", {})},
        "student": {"name": preset.student,
                    "args": {**preset.model_args, "num_frames": preset.frames, "img_size": preset.size}},
        "masks": {"name": masks},
        "optim": {"lr": lr, "min_lr": lr / 10, "warmup_steps": max(1, steps // 20), "weight_decay": 0.04,
                  "weight_decay_end": 0.1},
        "run": {"steps": steps, "seed": seed, "out_dir": str(out_dir), "log_every": every, "val_every": every,
                "val_batches": 4, "checkpoint_every": every, "device": preset.device, "progress": False},
        **extra,
    }
    return from_dict(TrainConfig, config)


def _train_keeping_checkpoints(config: Any) -> Path:
    """Train, keeping a copy of every periodic checkpoint as ``checkpoints/<step>`` (weights and step only)."""
    from salt_vla.train.state import STATE_DIR
    from salt_vla.train.trainer import Trainer

    class KeepEvery(Trainer):
        def save(self, tag: str) -> Path:
            path = super().save(tag)
            if tag == "last" and self.info.is_main:
                copy = self.checkpoint_dir / str(self.state.step)
                shutil.copytree(path, copy, dirs_exist_ok=True,
                                ignore=lambda folder, names: [n for n in names if n.endswith(".pt")
                                                              and Path(folder).name == STATE_DIR])
            return path

    KeepEvery(config, resume=False).fit()
    return Path(config.run.out_dir)


def _probe_set(preset: ClaimsPreset, seed: int) -> tuple[Any, dict[str, Any]]:
    import torch

    import salt_vla

    dataset = salt_vla.create_dataset("synthetic_physics", num_videos=preset.probe_videos, frames=preset.frames,
                                      size=preset.size, seed=seed)
    items = [dataset.item(i, epoch=0) for i in range(preset.probe_videos)]
    labels = {key: torch.tensor([int(item["label"][key]) for item in items]) for key in preset.tasks if key != "time_arrow"}
    return torch.stack([item["video"] for item in items]), labels


def _probe(encoder: Any, key: str, clips: Any, labels: dict[str, Any], preset: ClaimsPreset, cache: Path,
           device: Any, seed: int) -> dict[str, Any]:
    from salt_vla.attentive_probe import attentive_label_probe, attentive_time_arrow_probe

    sweep = {"lrs": preset.probe_lrs, "weight_decays": preset.probe_weight_decays, "epochs": preset.probe_epochs,
             "heads": preset.probe_heads, "cache_dir": cache, "key": key, "device": device, "seed": seed}
    encoder = encoder.to(device)
    out = {}
    for task in preset.tasks:
        result = attentive_time_arrow_probe(encoder, clips, **sweep) if task == "time_arrow" \
            else attentive_label_probe(encoder, clips, labels[task], name=task, **sweep)
        out[task] = result.to_dict()
    return out


def _parameters(module: Any) -> int:
    return sum(p.numel() for p in module.parameters())


def run(preset: ClaimsPreset, out_dir: Path, seed: int) -> dict[str, Any]:
    import torch

    import salt_vla
    from salt_vla import hub
    from salt_vla.cache import build_latent_cache
    from salt_vla.models import EncoderTeacher, VideoViT
    from salt_vla.selection import attach_accuracies, json_safe, loss_accuracy_report, run_checkpoints
    from salt_vla.train.distributed import pick_device

    if preset.threads:
        torch.set_num_threads(preset.threads)
    device = pick_device(preset.device)
    started, seconds = time.perf_counter(), {}
    every_t = max(1, round(preset.teacher_steps * min(preset.teacher_fractions)))
    if any(round(preset.teacher_steps * f) % every_t for f in preset.teacher_fractions):
        raise ValueError(f"teacher_steps={preset.teacher_steps} does not give checkpoints at {preset.teacher_fractions}.")

    # stage 1: a multi-block teacher (checkpoints at each fraction) and a tube-masked one
    teachers: dict[str, Path] = {}
    for masks in ("multiblock_vjepa", "random_tube"):
        run_dir = _train_keeping_checkpoints(_config(
            preset, out_dir / "runs" / f"teacher_{masks}", seed, stage="teacher", steps=preset.teacher_steps,
            lr=preset.teacher_lr, every=every_t, masks=masks, extra={"decoder": dict(preset.decoder)}))
        fractions = preset.teacher_fractions if masks == "multiblock_vjepa" else (1.0,)
        for fraction in fractions:
            teachers[f"{masks}@{fraction:g}"] = run_dir / "checkpoints" / str(round(preset.teacher_steps * fraction))
    seconds["teachers"] = time.perf_counter() - started

    # latent caches and students: one per teacher, plus learning-rate variants of the main one
    main = "multiblock_vjepa@1"
    students: dict[str, dict[str, Any]] = {}
    plan = [(name, preset.student_lr) for name in teachers] + [(main, lr) for lr in preset.student_lr_variants]
    every_s = max(1, preset.student_steps // preset.student_checkpoints)
    for teacher_name, lr in plan:
        cache_root = out_dir / "cache" / teacher_name
        if not cache_root.exists():
            encoder = hub.from_pretrained(teachers[teacher_name] / "teacher").encoder
            teacher = EncoderTeacher(encoder).to(device)
            for split, data_seed, videos in (("train", seed, preset.train_videos), ("val", seed + 1, preset.val_videos)):
                dataset = salt_vla.create_dataset("synthetic_physics", num_videos=videos, frames=preset.frames,
                                                  size=preset.size, seed=data_seed)
                build_latent_cache(teacher, dataset, cache_root / split, dtype="float16", batch_size=32, device=device,
                                   progress=False)
        name = f"student<{teacher_name}>" + ("" if lr == preset.student_lr else f"_lr{lr:g}")
        data = {"latent_cache": str(cache_root / "train"), "val_latent_cache": str(cache_root / "val")}
        run_dir = _train_keeping_checkpoints(_config(
            preset, out_dir / "runs" / name.replace("<", "_").replace(">", "").replace("@", "_"), seed, stage="salt",
            steps=preset.student_steps, lr=lr, every=every_s, masks="multiblock_vjepa",
            extra={"predictor": dict(preset.predictor), "loss": {"kind": "l1"}, "data": data}))
        students[name] = {"teacher": teacher_name, "lr": lr, "run_dir": run_dir,
                          "checkpoints": run_checkpoints(run_dir)}
    seconds["students"] = time.perf_counter() - started - sum(seconds.values())

    # probes: every kept student checkpoint, every teacher used, and random init
    clips, labels = _probe_set(preset, seed + 2)
    features = out_dir / "features"
    probes: dict[str, dict[str, Any]] = {}
    torch.manual_seed(seed)
    first = next(iter(students.values()))["checkpoints"][-1].path
    student_config = hub.from_pretrained(Path(first) / "student").config
    random_init = VideoViT(student_config)
    probes["random_init"] = _probe(random_init, "random_init", clips, labels, preset, features, device, seed)
    for name, path in teachers.items():
        encoder = hub.from_pretrained(path / "teacher").encoder
        probes[f"teacher<{name}>"] = _probe(encoder, str(path), clips, labels, preset, features, device, seed)
    for name, info in students.items():
        for checkpoint in info["checkpoints"]:
            model = hub.from_pretrained(Path(checkpoint.path) / "student")
            probes[f"{name}@{checkpoint.step}"] = _probe(model, checkpoint.path, clips, labels, preset, features,
                                                         device, seed)
    seconds["probes"] = time.perf_counter() - started - sum(seconds.values())

    def final(name: str) -> str:
        return f"{name}@{students[name]['checkpoints'][-1].step}"

    def table(rows: dict[str, str]) -> dict[str, dict[str, Any]]:
        return {label: {task: {k: probes[key][task][k] for k in ("accuracy", "interval", "chance", "num_test", "lr",
                                                                 "weight_decay", "val_accuracy")}
                        for task in preset.tasks} for label, key in rows.items()}

    claims = {
        "student_vs_teacher_vs_random": table({"student": final(f"student<{main}>"), "teacher": f"teacher<{main}>",
                                               "random_init": "random_init"}),
        "teacher_training_fraction": {
            f"{fraction:g}": table({"teacher": f"teacher<multiblock_vjepa@{fraction:g}>",
                                    "student": final(f"student<multiblock_vjepa@{fraction:g}>")})
            for fraction in preset.teacher_fractions},
        "stage1_masking": {masks: table({"teacher": f"teacher<{masks}@1>", "student": final(f"student<{masks}@1>")})
                           for masks in ("multiblock_vjepa", "random_tube")},
    }
    loss_accuracy = {}
    for task in preset.tasks:
        scores = {(Path(info["run_dir"]).name, c.step): probes[f"{name}@{c.step}"][task]["accuracy"]
                  for name, info in students.items() for c in info["checkpoints"]}
        points = attach_accuracies([c for info in students.values() for c in info["checkpoints"]], scores)
        report = loss_accuracy_report(points, seed=seed)
        same_teacher = [c for name, info in students.items() if info["teacher"] == main for c in info["checkpoints"]]
        report["same_teacher"] = loss_accuracy_report(attach_accuracies(same_teacher, scores), seed=seed)["pooled"] \
            if len(same_teacher) >= 3 else None
        report["notes"].append("Students of different teachers are scored against different targets, so their "
                               "validation losses are on different scales; same_teacher fits only the runs of the "
                               f"main teacher ({main}).")
        report.pop("checkpoints")
        loss_accuracy[task] = report
    claims["loss_predicts_accuracy"] = loss_accuracy

    teacher_model = hub.from_pretrained(teachers[main] / "teacher")
    student_run = hub.from_pretrained(Path(first) / "student")
    sizes = {"student_encoder": _parameters(student_run), "teacher_encoder": _parameters(teacher_model.encoder),
             "teacher_total_with_decoder": _parameters(teacher_model), "model_args": preset.model_args,
             "decoder": preset.decoder, "predictor": preset.predictor}
    seconds["total"] = time.perf_counter() - started
    return json_safe({
        "preset": asdict(preset), "seeds": {"train": seed, "val": seed + 1, "probe": seed + 2, "model": seed},
        "device": str(device), "model_sizes": sizes, "seconds": seconds,
        "students": {name: {"teacher": info["teacher"], "lr": info["lr"], "run": Path(info["run_dir"]).name,
                            "checkpoints": [{"step": c.step, "val_loss": c.val_loss} for c in info["checkpoints"]]}
                     for name, info in students.items()},
        "claims": claims, "probes": probes,
    })


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work-dir", type=Path, help="runs, caches and features go here (default: a temporary folder)")
    args = p.parse_args()
    preset = PRESETS[args.preset]
    if args.work_dir:
        args.work_dir.mkdir(parents=True, exist_ok=True)
        figures = run(preset, args.work_dir, args.seed)
    else:
        with tempfile.TemporaryDirectory() as work:
            figures = run(preset, Path(work), args.seed)
    label = "tiny CPU preset: exercises the code path; NOT evidence" if preset.name == "tiny" else preset.name
    emit(f"salt_claims_{preset.name}", figures, args, label=label)


if __name__ == "__main__":
    main()
