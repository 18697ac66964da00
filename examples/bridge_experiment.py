"""The bridge experiment, one command: does SALT video pretraining help ACT on the SO-101 task?

1. record: ``--episodes`` successful scripted demonstrations (``demos/``, the only data any ACT arm is trained
   on) and ``--rollouts`` unlabeled rollouts of :class:`salt_vla_so101.policies.ExploratoryPolicy` (the expert
   with action noise and random excursions: ``rollouts/``, so the video covers more than the demonstrations),
   both LeRobotDatasets (``salt_vla_so101.recorder.record_dataset``), joined into ``videos/`` for pretraining;
   and ``--probe-episodes`` further exploratory rollouts whose frames are kept with simulator quantities read at
   every step (block position, gripper-to-block distance, grasp: ``probe_data.pt``).
2. pretrain: a stage-1 pixel teacher on ``videos/`` (dataset kind ``lerobot``), its latents cached, a SALT
   student trained on the cache (``salt_vla.train.train``, configured as in ``salt_vla.quickstart``).
   ``--encoder DIR`` skips this phase and uses a student saved by an earlier run (``<out>/student``).
3. train: ACT arms with LeRobot's loop on the same demonstrations, steps, batch and seed
   (``salt_vla_lerobot.training.train_policy``): ``act_resnet18`` (ACT, ResNet-18 from scratch),
   ``salt_frozen`` (``act_salt``, the student frozen), ``salt_finetuned`` (the student fine-tuned) and
   ``vit_random`` (the same ViT from random initialisation, fine-tuned); ``--teacher-arm`` adds
   ``teacher_frozen`` (the stage-1 teacher's encoder, frozen).
4. evaluate: every arm's last checkpoint on the same ``--eval-episodes`` unseen seeds from ``--eval-seed``
   (the SO-101 evaluator), every checkpoint on ``--val-episodes`` validation seeds (the success-vs-step curve),
   paired tests of every arm against ``act_resnet18`` (``salt_vla.paired``), and one whisker rollout per arm.
5. probes: linear probes (``salt_vla.probes.fit_linear_probe``) of each frozen encoder (random ViT, teacher,
   student) on the probe frames, split by episode: block position bin, gripper-to-block distance bin, grasped.
6. ``report.md`` and ``report.json``.

A phase whose output exists in ``--out`` is not run again (re-running on a finished directory only rewrites
the report); ``--overwrite`` starts afresh.

Presets (every value can be overridden by its flag):

- ``--preset tiny``: CPU, a few minutes: proves the pipeline runs end to end, not that any arm learns.
      python examples/bridge_experiment.py --preset tiny --out /tmp/bridge_tiny
- ``--preset gpu``: one H200 in one 30-minute block (docs/bridge.md gives the budget); or two blocks: the
  first with ``--stop-after pretrain``, the second with ``--encoder <first out>/student``.
      python examples/bridge_experiment.py --preset gpu --out /tmp/bridge_gpu
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_act_on_scripted_demos import evaluation_summary, machine

ARMS = ("act_resnet18", "salt_frozen", "salt_finetuned", "vit_random")
BASELINE = "act_resnet18"
PROBE_TARGETS = ("block_x_bin", "block_y_bin", "gripper_block_distance_bin", "grasped")

PRESETS: dict[str, dict[str, Any]] = {
    "tiny": dict(episodes=1, rollouts=2, probe_episodes=4, image_size=(32, 48), record_max_steps=90,
                 probe_every=4, frames=4, stride=2, encoder_args=dict(embed_dim=24, depth=1, num_heads=2),
                 decoder=dict(dim=16, depth=1, num_heads=2), predictor=dict(dim=16, depth=1, num_heads=2),
                 teacher_steps=3, student_steps=3, pretrain_batch=2, pretrain_lr=1e-3, steps=2, batch_size=4,
                 save_freq=1, chunk_size=10, n_action_steps=10, lr=1e-4, eval_episodes=2, val_episodes=1, eval_max_steps=20,
                 whisker_steps=6, device="cpu", num_workers=0, workers=1, record_workers=1,
                 act=dict(dim_model=32, n_heads=2, dim_feedforward=64, n_encoder_layers=1, n_decoder_layers=1,
                          n_vae_encoder_layers=1, latent_dim=8)),
    "gpu": dict(episodes=200, rollouts=400, probe_episodes=40, image_size=(96, 128), record_max_steps=None,
                probe_every=5, frames=8, stride=2, encoder_args=dict(embed_dim=192, depth=6, num_heads=3),
                decoder=dict(dim=128, depth=2, num_heads=4), predictor=dict(dim=192, depth=4, num_heads=3),
                teacher_steps=2000, student_steps=2000, pretrain_batch=64, pretrain_lr=1e-3, steps=2000,
                batch_size=64, save_freq=1000, chunk_size=50, n_action_steps=25, lr=1e-4, eval_episodes=100, val_episodes=0,
                eval_max_steps=None, whisker_steps=200, device="cuda", num_workers=8, workers=14,
                record_workers=16, act={}),
}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--episodes", type=int, help="scripted demonstrations (successes), the ACT training data")
    p.add_argument("--rollouts", type=int, help="unlabeled exploratory rollouts added to the pretraining video")
    p.add_argument("--probe-episodes", type=int, help="exploratory rollouts whose frames the probes read")
    p.add_argument("--probe-every", type=int, help="probe every N-th control step of a probe episode")
    p.add_argument("--record-max-steps", type=int, help="shorter rollouts and probe episodes (default: the task's)")
    p.add_argument("--image-size", type=int, nargs=2, metavar=("H", "W"))
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--teacher-steps", type=int)
    p.add_argument("--student-steps", type=int)
    p.add_argument("--steps", type=int, help="ACT optimizer steps, every arm")
    p.add_argument("--batch-size", type=int, help="ACT batch, every arm")
    p.add_argument("--save-freq", type=int, help="steps between ACT checkpoints (the curve's points)")
    p.add_argument("--lr", type=float, help="ACT learning rate (transformer and backbone)")
    p.add_argument("--chunk-size", type=int)
    p.add_argument("--n-action-steps", type=int, help="actions executed per predicted chunk")
    p.add_argument("--eval-episodes", type=int)
    p.add_argument("--eval-seed", type=int, default=20_000)
    p.add_argument("--val-episodes", type=int, help="validation episodes per checkpoint (0: no curve)")
    p.add_argument("--val-seed", type=int, default=30_000)
    p.add_argument("--probe-seed", type=int, default=40_000)
    p.add_argument("--rollout-seed", type=int, default=10_000)
    p.add_argument("--eval-max-steps", type=int)
    p.add_argument("--device")
    p.add_argument("--workers", type=int, help="evaluation processes")
    p.add_argument("--record-workers", type=int)
    p.add_argument("--encoder", type=Path, help="a SALT student checkpoint directory: skip pretraining")
    p.add_argument("--teacher-arm", action="store_true", help="also train ACT on the frozen stage-1 teacher")
    p.add_argument("--stop-after", choices=("record", "pretrain", "train"), help="end after this phase")
    p.add_argument("--seed", type=int, default=0, help="demonstration seeds and every training seed")
    p.add_argument("--overwrite", action="store_true", help="delete --out first")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    for key, value in PRESETS[args.preset].items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    args.image_size = tuple(args.image_size)
    if args.encoder is not None and not (args.encoder / "config.json").is_file():
        raise SystemExit(f"--encoder {args.encoder}: no salt-vla checkpoint there (config.json); give the student/ "
                         "directory of an earlier run.")
    if args.teacher_arm and args.encoder is not None and not (args.out / "teacher_encoder" / "config.json").is_file():
        raise SystemExit("--teacher-arm needs <out>/teacher_encoder, which --encoder runs do not make; copy it from "
                         "the pretraining run or leave --teacher-arm out.")
    starts = {"demonstration": (args.seed, 3 * args.episodes + 10), "rollout": (args.rollout_seed, args.rollouts),
              "evaluation": (args.eval_seed, args.eval_episodes), "validation": (args.val_seed, args.val_episodes),
              "probe": (args.probe_seed, args.probe_episodes)}
    spans = {k: range(s, s + n) for k, (s, n) in starts.items()}
    for a in spans:
        for b in spans:
            if a < b and len(spans[a]) and len(spans[b]) and spans[a].start < spans[b].stop and spans[b].start < spans[a].stop:
                raise SystemExit(f"The {a} seeds {spans[a].start}-{spans[a].stop - 1} overlap the {b} seeds "
                                 f"{spans[b].start}-{spans[b].stop - 1}; move one of them.")
    return args


# -- 1. recording ---------------------------------------------------------------------------------------------
def record(args: argparse.Namespace) -> dict[str, Any]:
    """Demonstrations, exploratory rollouts, the joined pretraining video, and the probe frames."""
    from salt_vla_so101.config import TaskConfig
    from salt_vla_so101.policies import ExploratoryPolicy
    from salt_vla_so101.recorder import record_dataset

    import salt_vla
    from salt_vla import lerobot_compat

    out, task = args.out, TaskConfig(image_size=args.image_size)
    summary: dict[str, Any] = {}
    if not (out / "demos" / "meta" / "info.json").is_file():
        demos = record_dataset(salt_vla.create_policy("scripted"), args.episodes, out / "demos", seed=args.seed,
                               keep_only_successes=True, fps=args.fps, frames="image", workers=args.record_workers,
                               task=task, policy_name="scripted", repo_id="local/bridge_demos",
                               progress=not args.quiet)
        summary["demos"] = {"saved": demos.saved, "attempted": demos.attempted}
    # With --encoder pretraining is skipped, and so is its video (rollouts and the joined videos/).
    if args.encoder is None and not (out / "rollouts" / "meta" / "info.json").is_file():
        short = replace(task, max_steps=args.record_max_steps) if args.record_max_steps else task
        rollouts = record_dataset(ExploratoryPolicy(), args.rollouts, out / "rollouts", seed=args.rollout_seed,
                                  fps=args.fps, frames="image", workers=args.record_workers, task=short,
                                  policy_name="exploratory", repo_id="local/bridge_rollouts", progress=not args.quiet)
        summary["rollouts"] = {"saved": rollouts.saved, "outcomes": rollouts.report.aggregates["outcome_counts"]}
    if args.encoder is None and not (out / "videos" / "meta" / "info.json").is_file():
        staging = out / ".videos.partial"
        shutil.rmtree(staging, ignore_errors=True)
        lerobot_compat.aggregate([out / "demos", out / "rollouts"], staging, "local/bridge_videos")
        staging.rename(out / "videos")
    if not (out / "probe_data.pt").is_file():
        record_probe_data(args, out / "probe_data.pt")
    return summary


def record_probe_data(args: argparse.Namespace, path: Path) -> None:
    """Exploratory rollouts on the probe seeds: overhead frames with the simulator's task quantities.

    At every ``probe_every``-th step the last ``n_obs_steps`` (2) overhead frames (what an ``act_salt`` policy's
    encoder reads) are kept with the block position, the gripper-to-block distance and whether both gripper
    pads touch the block, read from the simulation in the state the frame shows (``on_step`` runs before the
    step).
    """
    import numpy as np
    import torch
    from salt_vla_so101.config import TaskConfig
    from salt_vla_so101.policies import ExploratoryPolicy
    from salt_vla_so101.rollout import run_episode
    from salt_vla_so101.task import PickPlaceTask

    from salt_vla.io import atomic_write_bytes

    task = PickPlaceTask(TaskConfig(image_size=args.image_size, cameras=("overhead_cam",), render=True))
    policy = ExploratoryPolicy()
    rows: list[tuple[Any, ...]] = []
    try:
        for index in range(args.probe_episodes):
            history: list[np.ndarray] = []
            run_episode(task, policy, args.probe_seed + index, max_steps=args.record_max_steps,
                        on_step=partial(_probe_step, task, history, index, args.probe_every, rows))
    finally:
        task.close()
    clips, episode, block, distance, grasped = zip(*rows)
    data = {"clips": torch.from_numpy(np.stack(clips)).permute(0, 4, 1, 2, 3).contiguous(),  # [M, C, T, H, W]
            "episode": torch.tensor(episode), "block_xy": torch.tensor(np.stack(block), dtype=torch.float32),
            "gripper_block_distance": torch.tensor(distance, dtype=torch.float32),
            "grasped": torch.tensor(grasped, dtype=torch.long), "seeds": [args.probe_seed, args.probe_episodes]}
    import io

    buffer = io.BytesIO()
    torch.save(data, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def _probe_step(task: Any, history: list[Any], episode: int, every: int, rows: list[tuple[Any, ...]],
                observation: Any, action: Any) -> None:
    """``on_step`` of a probe episode: keep every ``every``-th frame pair with the task quantities it shows."""
    import numpy as np

    history.append(observation.images["overhead_cam"])
    step = len(history) - 1
    if step == 0 or step % every:
        return
    position = task.block_position()
    rows.append((np.stack(history[-2:]), episode, position[:2].copy(),
                 float(np.linalg.norm(task.ee_position() - position)), task.block_contacts()[0] == 2))


# -- 2. pretraining -------------------------------------------------------------------------------------------
def _pretrain_config(args: argparse.Namespace, stage: str, out_dir: Path, steps: int, extra: dict[str, Any]) -> Any:
    from salt_vla.config import from_dict
    from salt_vla.train import TrainConfig

    height, width = args.image_size
    data = {"dataset": "lerobot", "args": video_args(args), "val_args": {"split": "val"},
            "batch_size": args.pretrain_batch, "num_workers": args.num_workers, **extra.pop("data", {})}
    config = {
        "stage": stage, "data": data,
        "student": {"name": "vit_micro_patch8_t2",
                    "args": {**args.encoder_args, "num_frames": args.frames, "img_size": max(height, width)}},
        "masks": {"name": "multiblock_vjepa"},
        "optim": {"lr": args.pretrain_lr, "min_lr": args.pretrain_lr / 10, "warmup_steps": max(1, steps // 20),
                  "weight_decay": 0.04, "weight_decay_end": 0.1},
        "run": {"steps": steps, "seed": args.seed, "out_dir": str(out_dir), "log_every": max(1, min(50, steps // 4)),
                "val_every": steps, "val_batches": 2, "checkpoint_every": 0, "device": args.device,
                "progress": not args.quiet},
        **extra,
    }
    return from_dict(TrainConfig, config)


def video_args(args: argparse.Namespace) -> dict[str, Any]:
    """The ``lerobot`` dataset arguments of the pretraining video."""
    return {"root": str(args.out / "videos"), "frames": args.frames, "stride": args.stride,
            "size": list(args.image_size), "val_fraction": 0.1, "scale": [0.6, 1.0]}


def pretrain(args: argparse.Namespace) -> dict[str, Any]:
    """Stage-1 teacher, its latent cache, the SALT student (saved to ``<out>/student``)."""
    import salt_vla
    from salt_vla import hub
    from salt_vla.cache import build_latent_cache
    from salt_vla.config import to_dict
    from salt_vla.models import EncoderTeacher
    from salt_vla.train import train
    from salt_vla.train.distributed import pick_device

    out, device = args.out, pick_device(args.device)
    teacher_dir = out / "runs" / "teacher"
    stage1 = train(_pretrain_config(args, "teacher", teacher_dir, args.teacher_steps, {"decoder": args.decoder}))
    teacher_encoder = hub.from_pretrained(stage1.last_checkpoint / "teacher").encoder
    hub.save_pretrained(teacher_encoder, out / "teacher_encoder", architecture="vit_micro_patch8_t2",
                        metadata={"stage": "teacher"})
    teacher = EncoderTeacher(teacher_encoder).to(device)
    for split in ("train", "val"):
        dataset = salt_vla.create_dataset("lerobot", **{**video_args(args), "split": split})
        build_latent_cache(teacher, dataset, out / "cache" / split, dtype="float16", batch_size=16, device=device,
                           progress=not args.quiet)
    data = {"latent_cache": str(out / "cache" / "train"), "val_latent_cache": str(out / "cache" / "val")}
    config = _pretrain_config(args, "salt", out / "runs" / "student", args.student_steps,
                              {"predictor": args.predictor, "loss": {"kind": "l1"}, "data": data})
    stage2 = train(config)
    student = hub.from_pretrained(stage2.last_checkpoint / "student")
    hub.save_pretrained(student, out / "student", architecture="vit_micro_patch8_t2",
                        metadata={"training_config": to_dict(config), "diagnostics": stage2.val_metrics})

    def finite(metrics: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and v == v}

    return {"teacher": {"steps": stage1.state.step, "validation": finite(stage1.val_metrics)},
            "student": {"steps": stage2.state.step, "validation": finite(stage2.val_metrics)}}


# -- 3. ACT arms ----------------------------------------------------------------------------------------------
def arm_names(args: argparse.Namespace) -> list[str]:
    return [*ARMS, "teacher_frozen"] if args.teacher_arm else list(ARMS)


def arm_settings(args: argparse.Namespace, arm: str, encoder: Path) -> Any:
    """LeRobot training settings of ``arm``: the same data, steps, batch, seed and learning rate for every arm."""
    from salt_vla_lerobot.training import TrainSettings

    policy: dict[str, Any] = {"chunk_size": args.chunk_size, "n_action_steps": args.n_action_steps, **args.act,
                              "optimizer_lr": args.lr, "optimizer_lr_backbone": args.lr}
    policy_type = "act_salt"
    if arm == BASELINE:
        policy_type = "act"
    elif arm == "salt_frozen":
        policy.update(encoder=str(encoder.resolve()), freeze_encoder=True)
    elif arm == "salt_finetuned":
        policy.update(encoder=str(encoder.resolve()), freeze_encoder=False)
    elif arm == "vit_random":  # the student's architecture, random weights: what pretraining adds
        from salt_vla.hub import from_pretrained

        config = from_pretrained(encoder).config
        overrides = {k: getattr(config, k) for k in ("embed_dim", "depth", "num_heads", "num_frames", "img_size")}
        policy.update(encoder="vit_micro_patch8_t2", encoder_overrides=overrides, freeze_encoder=False)
    elif arm == "teacher_frozen":
        policy.update(encoder=str((args.out / "teacher_encoder").resolve()), freeze_encoder=True)
    else:
        raise ValueError(f"Unknown arm {arm!r}; the arms are {arm_names(args)}.")
    return TrainSettings(dataset=args.out / "demos", output_dir=args.out / "arms" / arm / "train",
                         policy_type=policy_type, policy=policy, steps=args.steps, batch_size=args.batch_size,
                         device=args.device, num_workers=args.num_workers, seed=args.seed, save_freq=args.save_freq,
                         log_freq=max(1, min(200, args.steps // 10)), repo_id="local/bridge_demos")


# -- 4. evaluation --------------------------------------------------------------------------------------------
def evaluate(args: argparse.Namespace, checkpoint: Path, out_dir: Path, *, seed: int, episodes: int, name: str,
             video: bool | None = False) -> Any:
    """The SO-101 evaluation of one checkpoint (``act:`` loads ``act`` and ``act_salt`` alike); reused if present.

    ``video``: the evaluator's (``None``: videos of the first episodes of each outcome, replayed at the end; the
    per-checkpoint validations record none).
    """
    import salt_vla
    from salt_vla.evaluation import EvalReport

    if (out_dir / "report.json").is_file():
        return EvalReport.read(out_dir / "report.json")
    overrides: dict[str, Any] = {"image_size": args.image_size, "control_hz": float(args.fps)}
    if args.eval_max_steps:
        overrides["max_steps"] = args.eval_max_steps
    evaluator = salt_vla.create_evaluator("so101_pick_place", **overrides)
    return evaluator.evaluate(f"act:{checkpoint}", episodes, seed=seed, workers=args.workers, out_dir=out_dir,
                              policy_kwargs={"device": args.device}, name=name, progress=not args.quiet, video=video)


def whiskers(args: argparse.Namespace, checkpoint: Path, out_dir: Path) -> dict[str, Any]:
    """One whisker rollout of the arm on the first evaluation seed; returns the summary and a frame to show."""
    from salt_vla_so101.config import TaskConfig
    from salt_vla_whiskers.visualizer import WhiskerVisualizer

    if not (out_dir / "metrics.json").is_file():
        every = max(1, args.whisker_steps // 4)
        WhiskerVisualizer(every=every, steps=args.whisker_steps, size=(120, 160),
                          task=TaskConfig(image_size=args.image_size, control_hz=float(args.fps))).visualize(
            f"act:{checkpoint}", seed=args.eval_seed, out_dir=out_dir, progress=False, policy_kwargs={"device": args.device})
    document = json.loads((out_dir / "metrics.json").read_text())
    frames = [row["frame"] for row in document.get("steps", []) if row.get("frame")]
    return {"summary": document.get("summary"), "frame": str(out_dir / frames[len(frames) // 2]) if frames else None,
            "seed": args.eval_seed}


# -- 5. probes ------------------------------------------------------------------------------------------------
def probe_labels(data: dict[str, Any], bins: int = 3) -> dict[str, Any]:
    """Integer targets: block x and y in ``bins`` equal-count bins, gripper-to-block distance bins, grasped."""
    import torch

    def binned(values: Any) -> Any:
        edges = torch.quantile(values.float(), torch.linspace(0, 1, bins + 1)[1:-1])
        return torch.bucketize(values.float().contiguous(), edges)

    return {"block_x_bin": binned(data["block_xy"][:, 0]), "block_y_bin": binned(data["block_xy"][:, 1]),
            "gripper_block_distance_bin": binned(data["gripper_block_distance"]), "grasped": data["grasped"]}


def run_probes(args: argparse.Namespace, encoder: Path) -> dict[str, Any]:
    """Linear probes of each frozen encoder on the probe frames, train/test split by episode."""
    import torch

    from salt_vla.evaluation import wilson_interval
    from salt_vla.hub import from_pretrained
    from salt_vla.models import VideoViT
    from salt_vla.probes import fit_linear_probe, pooled_features, split_by_video

    data = torch.load(args.out / "probe_data.pt", weights_only=False)
    labels = probe_labels(data)
    student = from_pretrained(encoder)
    torch.manual_seed(args.seed)
    encoders = {"random_vit": VideoViT(student.config), "student": student}
    if (args.out / "teacher_encoder").is_dir():
        encoders["teacher"] = from_pretrained(args.out / "teacher_encoder")
    episodes = data["episode"]
    train_ep, test_ep = split_by_video(int(episodes.max()) + 1, 0.3, args.seed)
    train, test = torch.isin(episodes, train_ep), torch.isin(episodes, test_ep)
    results: dict[str, Any] = {"frames": len(episodes), "episodes": int(episodes.max()) + 1,
                               "test_episodes": test_ep.tolist(), "targets": {}}
    for key, y in labels.items():
        classes = int(y.max()) + 1
        results["targets"][key] = {"classes": classes, "counts": torch.bincount(y, minlength=classes).tolist()}
    for name, model in encoders.items():
        features = pooled_features(model.to(args.device), data["clips"], batch_size=32, device=args.device)
        results[name] = {}
        for key, y in labels.items():
            if len(torch.unique(y[train])) < 2:
                results[name][key] = {"skipped": "a single class in the training episodes"}
                continue
            result = fit_linear_probe(features[train], y[train], features[test], y[test], name=key).to_dict()
            correct = round(result["accuracy"] * result["num_test"])
            result["accuracy_ci95"] = list(wilson_interval(correct, result["num_test"]))
            results[name][key] = result
    return results


# -- 6. the report --------------------------------------------------------------------------------------------
CAVEATS = [
    "Each arm is one training run. The intervals and McNemar p-values pair the arms on the same evaluation "
    "seeds, so they say whether *these checkpoints* differ on this task distribution; they ignore "
    "training-seed variance, and a difference can come from the luck of one run rather than from the encoder.",
    "An arm near 0% success is a failed training run, not a measurement of its encoder: compare arms only when "
    "the baseline learned the task.",
    "The p-values are not corrected for comparing several arms with one baseline.",
]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def markdown(report: dict[str, Any]) -> str:
    from salt_vla.evaluation import Outcome

    outcomes = [o.value for o in Outcome]
    lines = [f"# Bridge experiment ({report['preset']} preset)", "",
             f"ACT trained on {report['dataset']['episodes']} scripted demonstrations ({report['dataset']['frames']} "
             f"frames, {report['args']['image_size'][0]}x{report['args']['image_size'][1]} cameras), "
             f"{report['args']['steps']} steps at batch {report['args']['batch_size']}, seed {report['args']['seed']}, "
             f"every arm. Evaluated on {report['args']['eval_episodes']} unseen seeds from "
             f"{report['args']['eval_seed']}. Machine: {report['machine']['gpu'] or 'CPU'}; "
             f"{report['timings_s'].get('total_s', 0):.0f} s.", "", "## Caveats", ""]
    lines += [f"- {c}" for c in CAVEATS]
    trained = {arm: row["step"] for arm, row in report["arms"].items()}
    if len(set(trained.values())) > 1:
        lines.append(f"- **The arms were not trained for the same number of steps** ({trained}): this directory "
                     "mixes runs with different settings; re-run with `--overwrite` before comparing them.")
    lines += ["", "## Success per arm", "", "| arm | success | 95% CI (Wilson) | " + " | ".join(outcomes) + " |",
              "|" + " --- |" * (3 + len(outcomes))]
    for arm, row in report["arms"].items():
        ev = row["evaluation"]
        low, high = ev["success_ci95"]
        counts = [str(ev["outcome_counts"].get(o, 0)) for o in outcomes]
        lines.append(f"| `{arm}` | {_pct(ev['success_rate'])} | {_pct(low)} - {_pct(high)} | " + " | ".join(counts) + " |")
    lines += ["", f"## Paired against `{BASELINE}`", "", "Same seeds for every arm; difference = arm - baseline; "
              "95% CI by Newcombe's method 10; exact McNemar p.", "",
              "| arm | both | arm only | baseline only | neither | difference | 95% CI | McNemar p |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for c in report["paired"]["paired"]:
        t = c["table"]
        low, high = c["difference_ci95"]
        lines.append(f"| `{c['arm']}` | {t['both']} | {t['only_arm']} | {t['only_baseline']} | {t['neither']} | "
                     f"{100 * c['difference']:+.1f} pp | {100 * low:+.1f} to {100 * high:+.1f} pp | {c['mcnemar_exact_p']:.3g} |")
    curves = {arm: row.get("curve") for arm, row in report["arms"].items() if row.get("curve")}
    if curves:
        steps = sorted({int(step) for curve in curves.values() for step in curve})
        lines += ["", f"## Success vs. step ({report['args']['val_episodes']} validation seeds from "
                  f"{report['args']['val_seed']})", "", "| arm | " + " | ".join(f"step {s}" for s in steps) + " |",
                  "|" + " --- |" * (1 + len(steps))]
        for arm, curve in curves.items():
            cells = [_pct(curve[str(s)]["success_rate"]) if str(s) in curve else "-" for s in steps]
            lines.append(f"| `{arm}` | " + " | ".join(cells) + " |")
    lines += ["", "## Whiskers (first evaluation seed)", ""]
    for arm, row in report["arms"].items():
        frame = row.get("whiskers", {}).get("frame")
        if frame:
            lines.append(f"- `{arm}`: ![{arm}]({Path(frame).relative_to(report['out']).as_posix()})")
    probes = report.get("probes")
    if probes:
        encoders = [k for k in ("random_vit", "teacher", "student") if k in probes]
        lines += ["", "## Linear probes of the frozen encoders", "",
                  f"{probes['frames']} frames of {probes['episodes']} exploratory probe episodes (seeds from "
                  f"{report['args']['probe_seed']}), split by episode (test episodes {probes['test_episodes']}). "
                  "Test accuracy [95% Wilson interval]; chance = the test split's majority class.", "",
                  "| target | " + " | ".join(encoders) + " | chance |", "|" + " --- |" * (2 + len(encoders))]
        for key in PROBE_TARGETS:
            cells = []
            for name in encoders:
                r = probes[name][key]
                cells.append(r.get("skipped") or f"{r['accuracy']:.3f} [{r['accuracy_ci95'][0]:.3f}, "
                             f"{r['accuracy_ci95'][1]:.3f}]")
            chance = next((probes[n][key]["chance"] for n in encoders if "chance" in probes[n][key]), None)
            lines.append(f"| {key} | " + " | ".join(cells) + f" | {'-' if chance is None else f'{chance:.3f}'} |")
    if report.get("pretraining"):
        pre = report["pretraining"]
        lines += ["", "## Pretraining", "",
                  f"- Stage-1 teacher: {pre['teacher']['steps']} steps; validation loss "
                  f"{pre['teacher']['validation'].get('val/loss', float('nan')):.4f}.",
                  f"- SALT student: {pre['student']['steps']} steps; validation loss / mean-target loss ratio "
                  f"{pre['student']['validation'].get('val/mean_target_ratio', float('nan')):.3f}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from salt_vla_lerobot.training import checkpoints, last_checkpoint, train_policy

    from salt_vla.io import atomic_write_json, atomic_write_text
    from salt_vla.paired import compare_reports, write_comparison

    args = parse(argv)
    if args.overwrite and args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    previous = json.loads((args.out / "report.json").read_text()) if (args.out / "report.json").is_file() else {}
    start = time.perf_counter()
    timings: dict[str, float] = previous.get("timings_s", {})
    report: dict[str, Any] = {"preset": args.preset, "out": str(args.out), "machine": machine(),
                              "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                              "caveats": CAVEATS, "arms": {}}
    for key in ("recording", "pretraining"):
        if key in previous:
            report[key] = previous[key]

    def save() -> None:
        report["timings_s"] = {k: round(v, 1) for k, v in timings.items()}
        atomic_write_json(args.out / "report.json", json.loads(json.dumps(report, default=str)))

    def phase(name: str, began: float) -> None:
        timings[f"{name}_s"] = time.perf_counter() - began
        save()

    began = time.perf_counter()
    recorded = record(args)
    if recorded:
        report["recording"] = recorded
        phase("record", began)
    info = json.loads((args.out / "demos" / "meta" / "info.json").read_text())
    report["dataset"] = {"episodes": info["total_episodes"], "frames": info["total_frames"], "fps": info["fps"]}
    if args.stop_after == "record":
        save()
        return report

    encoder = args.encoder or args.out / "student"
    if args.encoder is None and not (encoder / "config.json").is_file():
        began = time.perf_counter()
        report["pretraining"] = pretrain(args)
        phase("pretrain", began)
    if args.stop_after == "pretrain":
        save()
        return report

    reports = {}
    for arm in arm_names(args):
        began, train_dir = time.perf_counter(), args.out / "arms" / arm / "train"
        if (train_dir / "checkpoints" / "last" / "pretrained_model" / "config.json").is_file():
            checkpoint, step = last_checkpoint(train_dir)
        else:
            result = train_policy(arm_settings(args, arm, encoder))
            checkpoint, step = result.checkpoint, result.step
            phase(f"train_{arm}", began)
        report["arms"][arm] = {"checkpoint": str(checkpoint), "step": step}
    if args.stop_after == "train":
        save()
        return report

    for arm in arm_names(args):
        began, row, train_dir = time.perf_counter(), report["arms"][arm], args.out / "arms" / arm / "train"
        checkpoint = Path(row["checkpoint"])
        eval_dir = args.out / "arms" / arm / "eval"
        reports[arm] = evaluate(args, checkpoint, eval_dir, seed=args.eval_seed, episodes=args.eval_episodes, name=arm,
                                video=None)
        row["evaluation"] = evaluation_summary(reports[arm], args.eval_seed, eval_dir)
        if args.val_episodes:
            row["curve"] = {}
            for step, model, _ in checkpoints(train_dir):
                out = args.out / "arms" / arm / "validation" / f"step_{step:06d}"
                val = evaluate(args, model, out, seed=args.val_seed, episodes=args.val_episodes, name=f"{arm} step {step}")
                row["curve"][str(step)] = evaluation_summary(val, args.val_seed, out)
        row["whiskers"] = whiskers(args, checkpoint, args.out / "arms" / arm / "whiskers")
        if f"evaluate_{arm}_s" not in timings:  # a re-run that reused the evaluation keeps its first timing
            phase(f"evaluate_{arm}", began)

    comparison = compare_reports([reports[a] for a in arm_names(args)], names=arm_names(args), baseline=BASELINE)
    write_comparison(comparison, args.out / "paired")
    report["paired"] = comparison.to_dict()

    began = time.perf_counter()
    report["probes"] = run_probes(args, encoder)
    phase("probes", began)
    timings["total_s"] = timings.get("total_s", 0.0) + time.perf_counter() - start
    save()
    atomic_write_text(args.out / "report.md", markdown(json.loads((args.out / "report.json").read_text())))
    return report


if __name__ == "__main__":
    main()
