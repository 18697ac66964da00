"""The main job: SALT end to end on synthetic physics videos, with an honest report.

``salt-vla quickstart --out DIR`` (or :func:`run_quickstart`):

1. generates bouncing-ball videos (train, validation and probe splits, disjoint seeds; on the cpu preset's 48x48
   frames the balls are 12-20% of the frame wide, so each covers a few 8x8 patches and the clips have content a
   teacher can learn, docs/quickstart.md says why);
2. trains a small stage-1 teacher by pixel reconstruction under multi-block masks;
3. caches the frozen teacher's latents for the train and validation clips;
4. trains a SALT student on the cache (the teacher is never built in this stage);
5. scores the student on every validation clip against trivial predictors that ignore the clip, and probes
   the trained student, the same architecture at random initialisation, and the teacher (linear time-arrow and
   motion-label probes on the last 4 blocks' features, held-out videos, 95% intervals);
6. writes ``report.md``, ``report.json``, loss-curve PNGs and ``student/`` (a checkpoint directory
   ready for ``salt-vla push``).

The report states three claims, each with its margin and the 95% interval of a paired difference (a
bootstrap over validation clips or held-out probe videos), and says plainly when one does not hold:
the student beats the trivial predictor (the stronger of the best constant latent and the best latent
per token position); it beats the random-init encoder on the motion probes (each held-out video's accuracy
averaged over the time arrow, whose two inputs hold the same frames so only dynamics can solve it, and the
speed, vertical-velocity and bounce labels); how it compares with its teacher there.
Every number and every sentence in the report is computed from the run (its seed, machine and PyTorch build
included); what documented runs showed is in docs/quickstart.md, never in a report.

Running it again on a finished directory reuses the results (and says so); an interrupted run resumes
where it stopped: each stage from its last checkpoint (every ``checkpoint_every`` steps, in
``runs/<stage>/checkpoints/last``), finished stages and the latent cache reused; ``overwrite=True``
(``--overwrite``) starts afresh.
"""

from __future__ import annotations

import json
import math
import os
import platform
import resource
import shutil
import time
from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch

import salt_vla
from salt_vla.config import from_dict, to_dict
from salt_vla.io import atomic_write_json, atomic_write_text


@dataclass(frozen=True)
class Preset:
    """Sizes and budgets of one quickstart preset.

    ``masks`` is the student's masker (SALT's V-JEPA multi-block); ``teacher_masks`` the stage-1 teacher's as a
    ``{"name": ..., "args": {...}}`` masks section, ``None`` for the student's. ``target_norm`` normalises the
    teacher's latents before the student's loss. ``physics`` overrides :class:`~salt_vla.data.physics.PhysicsConfig`
    fields of every split. ``probe_labels`` are names of :data:`PROBE_LABELS`; the time-arrow probe always runs.
    ``probe_test_fraction`` of the ``probe_videos`` are held out for testing; ``probe_bins`` is the probes'
    ``spatial_bins``; ``probe_layers`` how many of the encoders' last blocks the linear probes read, side by side
    (DINO's linear-probe protocol; a SALT student's last block is shaped for its predictor, earlier ones keep more).
    ``checkpoint_every``: steps between both stages' checkpoints (``runs/<stage>/checkpoints/last``), from
    which an interrupted quickstart resumes; they change no figure (the trainer resumes exactly).
    """

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
    teacher_masks: dict[str, Any] | None = None
    loss: str = "l1"
    target_norm: str = "none"
    physics: dict[str, Any] = field(default_factory=dict)
    device: str = "auto"
    probe_labels: tuple[str, ...] = ("speed", "vertical", "bounces")
    probe_test_fraction: float = 0.5
    probe_bins: int = 1
    probe_layers: int = 4
    checkpoint_every: int = 100


PRESETS: dict[str, Preset] = {
    "cpu": Preset(
        name="cpu", size=48, frames=8, train_videos=1024, val_videos=128, probe_videos=1000,
        student="vit_micro_patch8_t2", student_args={"embed_dim": 96, "depth": 4, "num_heads": 3},
        teacher_args={"embed_dim": 96, "depth": 4, "num_heads": 3},
        decoder={"dim": 64, "depth": 2, "num_heads": 2}, predictor={"dim": 64, "depth": 2, "num_heads": 2},
        teacher_steps=400, student_steps=720, batch_size=16, num_workers=1,
        teacher_lr=1.5e-3, student_lr=1.5e-3, val_every=200, physics={"radius": (0.12, 0.2)},
    ),
    "gpu": Preset(
        name="gpu", size=128, frames=16, train_videos=4096, val_videos=256, probe_videos=1024,
        student="vit_small_patch16_t2", student_args={}, teacher_args={},
        decoder={"dim": 192, "depth": 4, "num_heads": 3}, predictor={"dim": 384, "depth": 6, "num_heads": 6},
        teacher_steps=3000, student_steps=3000, batch_size=64, num_workers=8,
        teacher_lr=1e-3, student_lr=1e-3, val_every=500, checkpoint_every=500,
    ),
}

PROBE_LABELS: dict[str, str] = {
    "speed": "mean ball speed over the clip, in three equal-count bins (slow / medium / fast)",
    "vertical": "mean vertical velocity over the clip, in three equal-count bins (falling fast / falling slowly / rising)",
    "bounces": "floor impacts per ball during the clip, in three bins of about equal count",
    "direction": "whether the balls move left or right on average over the clip",
    "num_balls": "number of balls (1-3): appearance, not motion",
}
"""Probe labels the quickstart can use, derived from :mod:`salt_vla.data.synthetic`'s per-clip labels."""

MOTION_PROBES = ("time_arrow", "speed", "vertical", "bounces", "direction")
"""The probes whose answer lies in the motion; claims 2 and 3 average each held-out video's score over those run."""

ARTEFACTS = ("report.md", "report.json", "teacher_loss.png", "student_loss.png", "quickstart.json")
ARTEFACT_DIRS = ("runs", "cache", "student")
"""What a quickstart directory holds; ``overwrite`` removes these and nothing else."""


def _data(preset: Preset, seed: int, videos: int) -> dict[str, Any]:
    data = {"num_videos": videos, "frames": preset.frames, "size": preset.size, "seed": seed}
    return {**data, "physics": dict(preset.physics)} if preset.physics else data


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
        "masks": {"name": preset.masks} if stage == "salt" or preset.teacher_masks is None else preset.teacher_masks,
        "optim": {"lr": lr, "min_lr": lr / 10, "warmup_steps": max(1, steps // 20), "weight_decay": 0.04,
                  "weight_decay_end": 0.1, "fused": True},
        "run": {"steps": steps, "seed": seed, "out_dir": str(out_dir), "log_every": 10, "val_every": preset.val_every,
                "val_batches": 4, "checkpoint_every": preset.checkpoint_every, "device": preset.device,
                "progress": progress},
        **extra,
    }
    return from_dict(TrainConfig, config)


def probe_labels(raw: dict[str, torch.Tensor], names: tuple[str, ...] | list[str]) -> dict[str, torch.Tensor]:
    """Integer probe labels ``{name: [M]}`` of :data:`PROBE_LABELS` from a synthetic set's raw per-clip labels.

    Continuous quantities are cut at their tertiles over these clips, so each class holds about a third of them
    (ties, e.g. of bounce counts, can make the classes uneven; the report gives the chance level).
    """

    def tertiles(values: torch.Tensor) -> torch.Tensor:
        values = values.double()
        return torch.bucketize(values, torch.quantile(values, torch.tensor([1 / 3, 2 / 3], dtype=torch.float64)))

    out = {}
    for name in names:
        if name in ("speed", "vertical"):
            out[name] = tertiles(raw[name])
        elif name == "bounces":
            out[name] = tertiles(raw["bounces"].double() / raw["num_balls"].double())
        elif name in ("direction", "num_balls"):
            out[name] = raw[name].long()
        else:
            raise ValueError(f"Unknown probe label {name!r}; choose from {', '.join(PROBE_LABELS)}.")
    return out


def _raw_labels(dataset: Any, count: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The first ``count`` clips (epoch-0 views) of a synthetic physics set and its raw labels (floats kept)."""
    items = [dataset.item(i, epoch=0) for i in range(count)]
    labels = {key: torch.tensor([item["label"][key] for item in items]) for key in items[0]["label"]}
    return torch.stack([item["video"] for item in items]), labels


def probe_inputs(preset: Preset, seed: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The probe clips ``[M, 3, T, H, W]`` (data seed ``seed + 2``) and their integer labels ``{name: [M]}``."""
    probe_set = salt_vla.create_dataset("synthetic_physics", **_data(preset, seed + 2, preset.probe_videos))
    clips, raw = _raw_labels(probe_set, preset.probe_videos)
    return clips, probe_labels(raw, preset.probe_labels)


def random_init_like(student: Any, seed: int) -> Any:
    """The student's architecture at random initialisation, drawn from ``seed`` (the claims' baseline)."""
    from salt_vla.models import VideoViT

    torch.manual_seed(seed)
    return VideoViT(student.config)


def motion_score(results: dict[str, Any]) -> torch.Tensor:
    """One encoder's probe results -> each held-out video's score averaged over the :data:`MOTION_PROBES` run: ``[V]``."""
    return torch.stack([result.scores for key, result in results.items() if key in MOTION_PROBES]).mean(0)


def _probe_all(encoders: dict[str, Callable[[torch.Tensor], torch.Tensor]], clips: torch.Tensor,
               labels: dict[str, torch.Tensor], preset: Preset, device: torch.device, progress: bool) -> dict[str, Any]:
    from salt_vla.probes import probe_suite

    return {name: probe_suite(encoder, clips, labels, test_fraction=preset.probe_test_fraction,
                              spatial_bins=preset.probe_bins, layers=preset.probe_layers, device=device,
                              progress=progress, desc=name)
            for name, encoder in encoders.items()}


def _last_metrics(run_dir: Path, prefix: str) -> dict[str, float]:
    """The last logged row of ``metrics.jsonl`` holding ``prefix`` keys, restricted to them."""
    from salt_vla.train.metrics import read_metrics

    path = run_dir / "metrics.jsonl"
    rows = [row for row in read_metrics(path) if any(k.startswith(prefix) for k in row)] if path.is_file() else []
    return {k: v for k, v in rows[-1].items() if k.startswith(prefix)} if rows else {}


def _train_stage(config: Any, say: Callable[[str], None]) -> tuple[Any, int]:
    """Train one stage, resuming from its last checkpoint, or reuse the finished run its directory holds.

    Returns the :class:`~salt_vla.train.trainer.TrainResult` and the step this call started from: 0 for a
    fresh run, the checkpoint's step for a resumed one, ``config.run.steps`` for a finished run reused. A
    finished run is not handed to the trainer again: it reports its last logged metrics. A resumed run with
    steps left trains them; if it ends without validating (nothing left to do), its last logged validation is
    reported.
    """
    from salt_vla.train import Trainer
    from salt_vla.train.state import STATE_DIR, TrainingState
    from salt_vla.train.trainer import TrainResult

    out = Path(config.run.out_dir)
    last, summary = out / "checkpoints" / "last", out / "summary.json"
    state_file = last / STATE_DIR / "state.json"
    if summary.is_file() and state_file.is_file():
        state = TrainingState(**json.loads(state_file.read_text()))
        if state.step >= config.run.steps:
            say(f"{config.stage} run in {out} finished earlier ({state.step} steps): reusing it")
            best = out / "checkpoints" / "best"
            return TrainResult(out, state, last, best if best.exists() else None, _last_metrics(out, "train/"),
                               _last_metrics(out, "val/")), state.step
    trainer = Trainer(config)  # restores checkpoints/last when there is one
    started = trainer.state.step
    if started:
        say(f"{config.stage} run in {out}: resuming from its checkpoint at step {started} of "
            f"{config.run.steps}")
    result = trainer.fit()
    result.train_metrics = result.train_metrics or _last_metrics(out, "train/")
    result.val_metrics = result.val_metrics or _last_metrics(out, "val/")
    return result, started


def _elementwise(kind: str, beta: float = 1.0) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The latent loss of each ``[B, K, D]`` prediction/target pair, reduced to ``[B]`` (one value per clip)."""
    import torch.nn.functional as F

    def per_clip(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pred, target = pred.float(), target.float()
        if kind == "cosine":
            return (1 - F.cosine_similarity(pred, target, dim=-1)).mean(dim=1)
        if kind == "l1":
            values = (pred - target).abs()
        elif kind == "mse":
            values = (pred - target).pow(2)
        else:
            values = F.smooth_l1_loss(pred, target, reduction="none", beta=beta)
        return values.mean(dim=(1, 2))

    return per_clip


@torch.no_grad()
def validation_losses(checkpoint: Path, train_cache: Path, val_cache: Path, val_dataset: Any, *, masks: str,
                      seed: int, batch_size: int = 16, device: str | torch.device = "cpu",
                      max_train_clips: int = 256) -> dict[str, torch.Tensor]:
    """Per validation clip, the loss of the trained student + predictor and of two trivial predictors.

    The trivial predictors ignore the clip: ``constant`` answers one latent vector for every token,
    ``per_position`` one per token position (it knows where a token is, not what the clip shows). Both are
    fitted on the training targets: the per-channel median under L1 (the best constant for that loss), the
    mean otherwise. Masks are drawn as in the trainer's validation (``seed`` is the validation mask seed).
    Returns ``{"model", "constant", "per_position": [num_val_clips]}``.
    """
    from torch.utils.data import DataLoader

    from salt_vla import hub
    from salt_vla.cache import CachedClipDataset, LatentCache
    from salt_vla.data import MaskCollate
    from salt_vla.models import MaskedPredictor
    from salt_vla.objectives import LatentLoss

    student = hub.from_pretrained(checkpoint / "student")
    predictor = hub.from_pretrained(checkpoint / "predictor")
    config = json.loads((checkpoint / "student" / "config.json").read_text())["metadata"]["training_config"]["loss"]
    loss = LatentLoss(config["kind"], config.get("target_norm", "none"), config.get("beta", 1.0))
    model = MaskedPredictor(student, predictor, loss).to(device).eval()
    per_clip = _elementwise(loss.kind, loss.beta)

    train = LatentCache(train_cache)
    every = max(1, len(train) // max_train_clips)
    sample = loss.normalize_targets(torch.stack([train[i] for i in range(0, len(train), every)]).float())  # [M, N, D]
    use_median = loss.kind == "l1"
    constant = (sample.flatten(0, 1).median(dim=0).values if use_median else sample.flatten(0, 1).mean(dim=0)).to(device)
    per_position = (sample.median(dim=0).values if use_median else sample.mean(dim=0)).to(device)  # [N, D]

    val = CachedClipDataset(val_dataset, LatentCache(val_cache))
    grid = student.grid(*val_dataset.item(0, epoch=0)["video"].shape[1:])
    loader = DataLoader(val, batch_size=batch_size, shuffle=False,
                        collate_fn=MaskCollate(salt_vla.create_masker(masks), grid, seed))
    out: dict[str, list[torch.Tensor]] = {"model": [], "constant": [], "per_position": []}
    for batch in loader:
        output = model(batch["video"].to(device), batch["masks"].to(device), batch["latents"].to(device),
                       keep_outputs=True)
        sets: dict[str, list[torch.Tensor]] = {key: [] for key in out}
        for pair, prediction, target in zip(batch["masks"].to(device), output.predictions, output.targets):
            sets["model"].append(per_clip(prediction, target))
            sets["constant"].append(per_clip(constant.expand_as(target), target))
            sets["per_position"].append(per_clip(per_position[pair.target], target))
        for key, values in sets.items():
            out[key].append(torch.stack(values).mean(dim=0).cpu())
    return {key: torch.cat(values) for key, values in out.items()}


def _ratio_interval(model: torch.Tensor, trivial: torch.Tensor, samples: int = 4000, seed: int = 0) -> tuple[float, float]:
    """95% paired-bootstrap interval of ``sum(model) / sum(trivial)`` over clips."""
    index = torch.randint(0, len(model), (samples, len(model)), generator=torch.Generator().manual_seed(seed))
    ratios = model.double()[index].sum(1) / trivial.double()[index].sum(1)
    low, high = torch.quantile(ratios, torch.tensor([0.025, 0.975], dtype=torch.float64)).tolist()
    return low, high


def _claims(losses: dict[str, torch.Tensor], probes: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], list[dict]]:
    """The validation summary and the three claims, each with its margin, 95% interval and verdict."""
    from salt_vla.probes import paired_difference

    trivial_name = min(("constant", "per_position"), key=lambda k: float(losses[k].sum()))
    trivial = losses[trivial_name]
    validation = {"num_clips": len(trivial), "trivial": trivial_name,
                  **{f"{key}_loss": float(values.mean()) for key, values in losses.items()},
                  "ratio": float(losses["model"].sum() / trivial.sum())}
    validation["ratio_ci"] = list(_ratio_interval(losses["model"], trivial))
    trivial_words = {"constant": "the best constant latent", "per_position": "the best latent per token position"}
    words, ratio = trivial_words[trivial_name], f"loss ratio {validation['ratio']:.3f}"
    comparisons = [  # (claim, measure, difference, statement if positive / negative / inconclusive)
        ("beats the trivial predictor", f"validation loss of {words} minus the student's (per clip; the stronger of "
         "the two trivial predictors)", paired_difference(trivial, losses["model"]),
         (f"The student predicts the teacher's latents better than {words}: {ratio}",
          f"REVERSED: the student predicts the teacher's latents measurably worse than {words} ({ratio})",
          f"NOT shown: the student does not predict the teacher's latents measurably better than {words} ({ratio})")),
    ]
    motion = [key for key in probes["student"] if key in MOTION_PROBES]
    named = ", ".join(key.replace("_", " ") for key in motion)

    for other, name, statements in (
        ("random_init", "beats the random-init encoder", (
            f"The trained student reads the clips' motion ({named}) better than the same network at random "
            "initialisation",
            f"REVERSED: the trained student reads the clips' motion ({named}) measurably worse than the same network "
            "at random initialisation",
            f"NOT shown: the trained student does not read the clips' motion ({named}) measurably better than the "
            "same network at random initialisation")),
        ("teacher", "vs the teacher", (
            f"The student reads the clips' motion ({named}) better than its teacher",
            f"The student reads the clips' motion ({named}) less well than its teacher",
            "No measurable difference between the student and its teacher on the motion probes"))):
        comparisons.append((name, f"mean accuracy over the motion probes ({named}) of the student minus the "
                            f"{other.replace('_', ' ')} (paired over held-out videos)",
                            paired_difference(motion_score(probes["student"]), motion_score(probes[other])), statements))
    claims = []
    for name, measure, difference, (positive, negative, inconclusive) in comparisons:
        statement = {"positive": positive, "negative": negative}.get(difference.verdict, inconclusive)
        outcomes = OUTCOMES.get(name, OUTCOMES[None])
        claims.append({"claim": name, "measure": measure, **difference.to_dict(),
                       "holds": difference.verdict == "positive", "outcome": outcomes[difference.verdict],
                       "statement": statement})
    return validation, claims


OUTCOMES: dict[str | None, dict[str, str]] = {
    None: {"positive": "holds", "negative": "reversed", "inconclusive": "not shown"},
    "vs the teacher": {"positive": "student better", "negative": "teacher better", "inconclusive": "no difference"},
}
"""A claim's verdict in a few words (``None``: every claim that states a direction)."""


def claim_outcome(claim: dict[str, Any]) -> str:
    """The few words for a claim of ``report.json`` (reports written before ``outcome`` existed included)."""
    return claim.get("outcome") or OUTCOMES.get(claim["claim"], OUTCOMES[None])[claim["verdict"]]


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


def _interval(values: list[float] | tuple[float, float], digits: int = 3) -> str:
    return f"[{values[0]:+.{digits}f}, {values[1]:+.{digits}f}]"


def cpu_model(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """The CPU's name: ``model name`` of ``/proc/cpuinfo``, else ``platform.processor()`` or the machine."""
    try:
        for line in Path(cpuinfo).read_text().splitlines():
            if line.startswith("model name") and ":" in line:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _machine_words(report: dict[str, Any]) -> str:
    machine = report.get("machine")
    if not machine:  # a report.json written before the machine was recorded
        return f"an unrecorded CPU, PyTorch {report['torch_version']}"
    return (f"{machine['cpu']} ({machine['cpus']} CPUs, {machine['torch_threads']} PyTorch threads), "
            f"PyTorch {report['torch_version']}")


def _one_draw(report: dict[str, Any]) -> str:
    """The report's closing words on what it is: this run's seed and machine (nothing of documented runs)."""
    preset = report["preset"]
    return (f"This report is one draw: seed {report['seeds']['train']} on {_machine_words(report)}. "
            f"`python benchmarks/quickstart_seeds.py --preset {preset}` runs seeds 0-2 on this machine and "
            "says whether their verdicts agree; docs/quickstart.md (\"Across seeds and installs\") says "
            "which figures depend on the machine.")


def _features_words(probe_set: dict[str, Any]) -> str:
    layers, bins = probe_set.get("layers", 1), probe_set.get("spatial_bins", 1)
    blocks = "the last block's tokens" if layers == 1 else f"the last {layers} blocks' tokens side by side"
    where = "the whole frame" if bins == 1 else f"each of {bins}x{bins} regions"
    return f"{blocks}, averaged over {where} per token frame"


def _started_words(stage: dict[str, Any]) -> str:
    """Where this run's stage started, when not from step 0: resumed from a checkpoint, or reused whole."""
    started = stage.get("started_at_step", 0)
    if not started:
        return ""
    if started >= stage["steps"]:
        return " (trained by an earlier start of this command, reused)"
    return f" (resumed from its checkpoint at step {started} after an interruption)"


def _verdict_cell(claim: dict[str, Any]) -> str:
    outcome = claim_outcome(claim)
    return f"**{outcome}**" if claim["verdict"] != "inconclusive" else outcome


def _markdown(report: dict[str, Any]) -> str:
    probes, comparisons = report["probes"], report["comparisons"]
    val, per_clip = report["student"]["validation"], report["validation_per_clip"]
    keys = ["time_arrow", *report["probe_set"]["labels"]]
    rows = []
    for name in ("student", "random_init", "teacher"):
        cells = [f"{probes[name][k]['accuracy']:.3f} ({probes[name][k]['ci_low']:.2f}-{probes[name][k]['ci_high']:.2f})"
                 for k in keys]
        rows.append(f"| {name.replace('_', ' ')} | " + " | ".join(cells) + " |")
    for other in ("random_init", "teacher"):
        cells = [f"{comparisons[other][k]['mean']:+.3f} {_interval((comparisons[other][k]['ci_low'], comparisons[other][k]['ci_high']), 2)}"
                 for k in keys]
        rows.append(f"| student − {other.replace('_', ' ')} | " + " | ".join(cells) + " |")
    rows.append("| chance (majority class) | " + " | ".join(f"{probes['student'][k]['chance']:.3f}" for k in keys) + " |")
    rows.append("| test videos | " + " | ".join(str(probes['student'][k]['num_test']) for k in keys) + " |")
    claims = [f"| {c['claim']} | {c['mean']:+.4f} | {_interval((c['ci_low'], c['ci_high']), 4)} | "
              f"{_verdict_cell(c)} |"
              for c in report["claims"]]
    statements = [f"- {c['statement']}." for c in report["claims"]]
    labels = report["probe_set"]["labels"]
    seconds = report["seconds"]
    return "\n".join([
        f"# salt-vla quickstart report ({report['preset']} preset)",
        "",
        f"Seeds: data {report['seeds']['train']} (train), {report['seeds']['val']} (validation), "
        f"{report['seeds']['probe']} (probe); models {report['seeds']['model']}. Device: {report['device']}; "
        f"{_machine_words(report)}. Wall time: {seconds['total']:.0f} s (CPU time {seconds['cpu']:.0f} s).",
        "",
        "## Claims",
        "",
        "Each margin is a paired difference with its 95% bootstrap interval (over validation clips for the first, "
        "over held-out probe videos for the others). A claim holds when the whole interval is above zero.",
        "",
        "| claim | margin | 95% interval | verdict |",
        "|---|---|---|---|",
        *claims,
        "",
        *statements,
        "",
        _one_draw(report),
        "",
        "## Is it learning?",
        "",
        f"- Stage 1 (pixel teacher): {report['teacher']['steps']} steps{_started_words(report['teacher'])}, "
        f"final train loss "
        f"{report['teacher']['train']['train/loss']:.4f}, validation loss {report['teacher']['validation']['val/loss']:.4f} "
        f"vs. {report['teacher']['validation']['val/mean_target_loss']:.4f} for the mean per-patch target (ratio "
        f"{report['teacher']['validation']['val/mean_target_ratio']:.3f}).",
        f"- Stage 2 (SALT student on cached latents): {report['student']['steps']} steps"
        f"{_started_words(report['student'])}, final train loss "
        f"{report['student']['train']['train/loss']:.4f}; trainer's validation loss {val['val/loss']:.4f} vs. "
        f"{val['val/mean_target_loss']:.4f} for the mean target (ratio {val['val/mean_target_ratio']:.3f}).",
        f"- On all {per_clip['num_clips']} validation clips: student loss {per_clip['model_loss']:.4f}, best constant "
        f"latent {per_clip['constant_loss']:.4f}, best latent per token position {per_clip['per_position_loss']:.4f}; "
        f"ratio to the stronger trivial predictor **{per_clip['ratio']:.3f}** (95% interval "
        f"{per_clip['ratio_ci'][0]:.3f}-{per_clip['ratio_ci'][1]:.3f}).",
        f"- Collapse indicators: prediction/target std ratio {val['val/std_ratio']:.3f}, effective rank "
        f"{val['val/effective_rank']:.1f} of predictions vs. {val['val/target_effective_rank']:.1f} of targets, "
        f"cosine to targets {val['val/cosine']:.3f}.",
        "",
        "![stage 1](teacher_loss.png) ![stage 2](student_loss.png)",
        "",
        "## Probes (linear, frozen features, held-out videos)",
        "",
        f"{report['probe_set']['videos']} probe videos, {report['probe_set']['test_videos']} held out for testing. "
        f"Features: {_features_words(report['probe_set'])}. Accuracy (95% Wilson interval over test videos); "
        "differences are paired over the same videos (bootstrap).",
        "",
        "| | " + " | ".join(k.replace("_", " ") for k in keys) + " |",
        "|---|" + "---|" * len(keys),
        *rows,
        "",
        "- time arrow: each clip is shown forward and reversed; which is which?",
        *[f"- {k}: {description}" for k, description in labels.items()],
        "",
        "The student checkpoint is in `student/` (push it with `salt-vla push student/ <org>/<name>`).",
        "",
    ])


def _check_probe_layers(preset: Preset) -> None:
    """Refuse, before any training, probe layers that the student or the teacher does not have."""
    from salt_vla.models.video_vit import video_vit_config

    for role, args in (("student", preset.student_args), ("teacher", preset.teacher_args)):
        depth = video_vit_config(preset.student, **args).depth
        if not 1 <= preset.probe_layers <= depth:
            raise ValueError(f"probe_layers={preset.probe_layers}, but the {role} ({preset.student} with {args}) has "
                             f"{depth} block(s); set probe_layers between 1 and {depth}.")


def _settings(preset: Preset, seed: int) -> dict[str, Any]:
    return json.loads(json.dumps({"preset": asdict(preset), "seed": seed}))


def _stored_settings(path: Path) -> dict[str, Any]:
    """A directory's ``quickstart.json``; :class:`Preset` fields added since it was written are defaults."""
    stored = json.loads(path.read_text())
    defaults = {f.name: f.default if f.default is not MISSING else f.default_factory()
                for f in fields(Preset) if f.default is not MISSING or f.default_factory is not MISSING}
    if isinstance(stored.get("preset"), dict):
        stored["preset"] = {**json.loads(json.dumps(defaults)), **stored["preset"]}
    return stored


def _clear(out_dir: Path) -> None:
    """Remove a quickstart's own artefacts from ``out_dir`` (and nothing else)."""
    for name in ARTEFACT_DIRS:
        if (out_dir / name).is_dir():
            shutil.rmtree(out_dir / name)
    for name in ARTEFACTS:
        (out_dir / name).unlink(missing_ok=True)


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process and its finished children (data-loader workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_quickstart(out_dir: str | Path, *, preset: str | Preset = "cpu", seed: int = 0, progress: bool = True,
                   overrides: dict[str, Any] | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Run the whole SALT pipeline on synthetic videos and write the report; returns ``report.json``'s content.

    Args:
        out_dir: where everything goes (``report.md``, ``report.json``, PNGs, ``student/``, run directories).
        preset: ``"cpu"`` (about 4 minutes on 2 idle cores, estimated), ``"gpu"``, or a :class:`Preset`.
        seed: root seed; data splits use ``seed``, ``seed + 1`` (validation), ``seed + 2`` (probes).
        overrides: :class:`Preset` fields to change (e.g. ``{"student_steps": 50}`` for a smoke test).
        overwrite: start afresh, removing this directory's quickstart artefacts (``runs/``, ``cache/``,
            ``student/``, the report files) first. Without it a finished directory with the same settings is
            reused (its report is returned, with ``"reused": True``), an unfinished one resumes, and one made
            with other settings is refused.
    """
    from salt_vla import hub
    from salt_vla.cache import build_latent_cache
    from salt_vla.models import EncoderTeacher
    from salt_vla.probes import paired_difference
    from salt_vla.train.distributed import pick_device

    if isinstance(preset, str):
        if preset not in PRESETS:
            raise ValueError(f"Unknown quickstart preset {preset!r}; choose one of {', '.join(PRESETS)}.")
        preset = PRESETS[preset]
    if overrides:
        preset = replace(preset, **overrides)
    unknown = [name for name in preset.probe_labels if name not in PROBE_LABELS]
    if unknown:
        raise ValueError(f"Unknown probe label(s) {unknown}; choose from {', '.join(PROBE_LABELS)}.")
    _check_probe_layers(preset)
    out_dir = Path(out_dir)
    started, cpu_started, seconds = time.perf_counter(), _cpu_seconds(), {}

    def say(message: str) -> None:
        if progress:
            print(f"[quickstart {time.perf_counter() - started:6.0f}s] {message}", flush=True)

    settings = _settings(preset, seed)
    settings_file = out_dir / "quickstart.json"
    if overwrite:
        _clear(out_dir)
    elif settings_file.is_file() and _stored_settings(settings_file) != settings:
        raise FileExistsError(f"{out_dir} holds a quickstart run with other settings (see {settings_file}). Choose "
                              "another --out, or pass --overwrite to replace it.")
    elif (out_dir / "report.json").is_file():
        report = json.loads((out_dir / "report.json").read_text())
        say(f"{out_dir} already holds a finished run with these settings: reusing its results (pass --overwrite "
            "to start afresh)")
        write_report(out_dir)
        return {**report, "reused": True}
    elif (out_dir / "runs").is_dir():
        say(f"resuming the unfinished run in {out_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(settings_file, settings)
    device = pick_device(preset.device)

    def lap(name: str) -> None:
        seconds[name] = time.perf_counter() - started - sum(seconds.values())

    say(f"stage 1: training a pixel-reconstruction teacher ({preset.teacher_steps} steps)")
    teacher_config = _stage_config(preset, out_dir / "runs" / "teacher", seed, stage="teacher", steps=preset.teacher_steps,
                                   lr=preset.teacher_lr, model_args=preset.teacher_args,
                                   extra={"decoder": preset.decoder}, progress=progress)
    stage1, teacher_start = _train_stage(teacher_config, say)
    lap("teacher")

    say("caching the frozen teacher's latents (train and validation)")
    teacher_encoder = hub.from_pretrained(stage1.last_checkpoint / "teacher").encoder
    teacher = EncoderTeacher(teacher_encoder).to(device)
    caches, datasets = {}, {}
    for split, data_seed, videos in (("train", seed, preset.train_videos), ("val", seed + 1, preset.val_videos)):
        datasets[split] = salt_vla.create_dataset("synthetic_physics", **_data(preset, data_seed, videos))
        caches[split] = build_latent_cache(teacher, datasets[split], out_dir / "cache" / split, dtype="float16",
                                           batch_size=32, device=device, progress=progress)
    lap("cache")

    say(f"stage 2: training the SALT student on the cache ({preset.student_steps} steps)")
    student_config = _stage_config(
        preset, out_dir / "runs" / "student", seed, stage="salt", steps=preset.student_steps, lr=preset.student_lr,
        model_args=preset.student_args, progress=progress,
        extra={"predictor": preset.predictor, "loss": {"kind": preset.loss, "target_norm": preset.target_norm},
               "data": {"dataset": "synthetic_physics", "args": _data(preset, seed, preset.train_videos),
                        "val_args": {"seed": seed + 1, "num_videos": preset.val_videos},
                        "latent_cache": str(out_dir / "cache" / "train"),
                        "val_latent_cache": str(out_dir / "cache" / "val"),
                        "batch_size": preset.batch_size, "num_workers": preset.num_workers}})
    stage2, student_start = _train_stage(student_config, say)
    lap("student")

    say(f"scoring the student on all {preset.val_videos} validation clips against trivial predictors")
    losses = validation_losses(stage2.last_checkpoint, out_dir / "cache" / "train", out_dir / "cache" / "val",
                               datasets["val"], masks=preset.masks, seed=seed + 1, batch_size=preset.batch_size,
                               device=device)
    lap("validation")

    say(f"probing the trained student, a random-init student and the teacher on {preset.probe_videos} held-out videos")
    student = hub.from_pretrained(stage2.last_checkpoint / "student").to(device)
    random_init = random_init_like(student, seed).to(device)
    clips, labels = probe_inputs(preset, seed)
    results = _probe_all({"student": student, "random_init": random_init, "teacher": teacher_encoder.to(device)},
                         clips, labels, preset, device, progress)
    probes = {name: {key: result.to_dict() for key, result in per.items()} for name, per in results.items()}
    comparisons = {other: {key: paired_difference(results["student"][key].scores, results[other][key].scores).to_dict()
                           for key in results["student"]} for other in ("random_init", "teacher")}
    validation, claims = _claims(losses, results)
    lap("probes")
    seconds["total"] = time.perf_counter() - started
    seconds["cpu"] = _cpu_seconds() - cpu_started

    report = {
        "preset": preset.name,
        "preset_settings": asdict(preset),
        "device": str(device),
        "torch_version": torch.__version__,
        "machine": {"cpu": cpu_model(), "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads()},
        "seeds": {"train": seed, "val": seed + 1, "probe": seed + 2, "model": seed},
        "seconds": seconds,
        "claims": claims,
        "teacher": {"steps": stage1.state.step, "started_at_step": teacher_start,
                    "train": stage1.train_metrics, "validation": stage1.val_metrics},
        "student": {"steps": stage2.state.step, "started_at_step": student_start,
                    "train": stage2.train_metrics, "validation": stage2.val_metrics},
        "validation_per_clip": validation,
        "probe_set": {"videos": preset.probe_videos, "test_videos": probes["student"]["time_arrow"]["num_test"],
                      "spatial_bins": preset.probe_bins, "layers": preset.probe_layers, "labels": {k: PROBE_LABELS[k] for k in preset.probe_labels},
                      "label_counts": {k: torch.bincount(v).tolist() for k, v in labels.items()}},
        "probes": probes,
        "comparisons": comparisons,
        "cache": {split: {"entries": len(cache), "teacher": cache.metadata["teacher"]["fingerprint"]}
                  for split, cache in caches.items()},
        "salt_vla_version": salt_vla.__version__,
        "reused": False,
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
