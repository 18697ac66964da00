"""The training configuration: one typed tree for stage 1 (pixel teacher) and stage 2 (SALT student).

Load with :func:`salt_vla.config.load_config` (YAML + ``a.b=value`` overrides, every problem reported
at once). Every run writes the resolved tree to ``<out_dir>/config.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from salt_vla.names import LATENT_DTYPES, TARGET_NORMS


@dataclass
class DataSection:
    """Where clips come from.

    Attributes:
        dataset: registered dataset name (``synthetic_physics``, ``video_folder``, ``ssv2``, ...).
        args: keyword arguments of that dataset (``frames``, ``size``, ``root``, ...).
        val_args: overrides of ``args`` for the validation split (``None``: no validation).
        batch_size: clips per process per micro-batch.
        latent_cache / val_latent_cache: latent-cache directories; with them stage 2 never builds the teacher.
        clip_cache: optional pre-decoded clip cache matching ``latent_cache`` (fastest input path).
        loader: ``auto`` (pinned-memory threads when a clip cache makes decoding unnecessary, else a DataLoader
            with ``num_workers`` processes), ``dataloader`` or ``pinned_threads``.
        loader_threads: gathering threads of the pinned loader.
        latent_dtype / latent_teacher: what the run expects of its latent caches: their storage type
            (``float16``, ``bfloat16``, ``float8_e4m3``) and their teacher's fingerprint (as ``salt-vla cache``
            prints it); a cache that differs is refused, with every other difference, before any step.
            ``None``: not checked (a resumed run still refuses a cache other than its checkpoint's).
        skip_cache_verify: do not check the caches' shard checksums when training opens them (by default
            they are checked once, in parallel: a flipped byte would otherwise train silently). Only for
            caches too large to hash at every start that were verified another way.
    """

    dataset: str = "synthetic_physics"
    args: dict[str, Any] = field(default_factory=dict)
    val_args: dict[str, Any] | None = None
    batch_size: int = 32
    num_workers: int = 4
    prefetch_factor: int = 2
    pin_memory: bool = True
    latent_cache: str | None = None
    val_latent_cache: str | None = None
    clip_cache: str | None = None
    loader: Literal["auto", "dataloader", "pinned_threads"] = "auto"
    loader_threads: int = 4
    latent_dtype: str | None = None
    latent_teacher: str | None = None
    skip_cache_verify: bool = False

    def validate(self) -> list[str]:
        problems = []
        if self.loader == "pinned_threads" and not self.clip_cache:
            problems.append("loader 'pinned_threads' needs clip_cache (nothing to decode)")
        if self.batch_size < 1:
            problems.append(f"batch_size must be >= 1, got {self.batch_size}")
        if self.num_workers < 0:
            problems.append(f"num_workers must be >= 0, got {self.num_workers}")
        if self.latent_dtype is not None and self.latent_dtype not in LATENT_DTYPES:
            problems.append(f"latent_dtype {self.latent_dtype!r} is not one of {', '.join(LATENT_DTYPES)}")
        if self.clip_cache and not self.latent_cache:
            problems.append("clip_cache needs latent_cache (the clip cache holds the latent cache's views)")
        return problems


@dataclass
class StudentSection:
    """The encoder being trained (stage 2) or the teacher's encoder (stage 1).

    ``pretrained``: a weight source (``timm:vit_base_patch16_224``, ``hf-hub:org/repo``, ``local-dir:path``),
    ``true`` for the name's default (timm's image ViT of the same size), or ``null``/``false`` for none.
    """

    name: str = "vit_base_patch16_t2"
    args: dict[str, Any] = field(default_factory=dict)
    pretrained: str | bool | None = None
    grad_checkpointing: bool = False

    def validate(self) -> list[str]:
        if self.pretrained is not True:
            return []
        from salt_vla.models.video_vit import DEFAULT_PRETRAINED, REGISTERED

        if self.name in REGISTERED and self.name not in DEFAULT_PRETRAINED:
            return [f"pretrained=true: {self.name} has no default pretrained weights; give a source such as "
                    f"'timm:<image ViT>' or 'local-dir:<checkpoint>', or use one of {', '.join(DEFAULT_PRETRAINED)}"]
        return []


@dataclass
class PredictorSection:
    """The narrow predictor (stage 2); SALT/V-JEPA use 12 blocks of width 384."""

    dim: int = 384
    depth: int = 12
    num_heads: int = 6
    num_mask_tokens: int = 2


@dataclass
class DecoderSection:
    """The light pixel decoder of the stage-1 teacher."""

    dim: int = 192
    depth: int = 4
    num_heads: int = 3


@dataclass
class TeacherSection:
    """The frozen teacher of a live (uncached) stage-2 run: a registered name and its arguments."""

    name: str | None = None
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class MaskSection:
    name: str = "multiblock_vjepa"
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class LossSection:
    """The objective: a registered loss (``salt-vla plugins --kind loss``) and its arguments.

    ``name: null`` keeps each stage's default: stage 2 uses ``kind`` with ``target_norm`` (the older spelling,
    ``l1`` on raw targets by default), stage 1 MSE on per-patch layer-normalised pixels. A plugin's loss is
    ``name: my_loss``, ``args: {...}``; it is called as ``loss(prediction, target) -> scalar``.
    """

    name: str | None = None
    args: dict[str, Any] | None = None
    kind: str = "l1"
    target_norm: str = "none"

    def validate(self) -> list[str]:
        problems = []
        if self.target_norm not in TARGET_NORMS:
            problems.append(f"target_norm {self.target_norm!r} is not one of {', '.join(TARGET_NORMS)}")
        if self.name is not None and (self.kind, self.target_norm) != ("l1", "none"):
            problems.append("give either name/args or the older kind/target_norm, not both "
                            f"(e.g. name: {self.kind}, args: {{target_norm: {self.target_norm}}})")
        return problems


@dataclass
class ScheduleSpec:
    """A registered schedule (``salt-vla plugins --kind schedule``): ``name`` and its ``args``.

    ``total_steps`` is filled in with ``run.steps`` when the schedule takes it and ``args`` does not give it.
    """

    name: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class SchedulesSection:
    """Per-step schedules of the learning rate and of the weight decay of weight matrices.

    ``null`` (the default) keeps the ``optim`` section's: ``warmup_cosine`` from ``start_lr`` to ``lr`` over
    ``warmup_steps``, then down to ``min_lr``; ``cosine`` weight decay from ``weight_decay`` to ``weight_decay_end``.
    """

    lr: ScheduleSpec | None = None
    weight_decay: ScheduleSpec | None = None


@dataclass
class OptimSection:
    """AdamW with a warmup-cosine learning rate (with a floor) and a cosine weight-decay ramp.

    Weight decay applies only to weight matrices (see :func:`salt_vla.optim.param_groups`).
    ``grad_clip <= 0`` disables clipping (the norm is still logged). ``fused``: PyTorch's fused AdamW kernel;
    ``null`` uses it when every parameter is on CUDA, ``true`` on CPU too (the quickstart encoder's optimizer step
    was 5.7x faster there, ``benchmarks/adamw_cpu.py``; its rounding differs from the per-parameter loop's),
    ``false`` never.
    """

    lr: float = 3e-4
    min_lr: float = 3e-5
    start_lr: float = 0.0
    warmup_steps: int = 500
    weight_decay: float = 0.04
    weight_decay_end: float = 0.4
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    grad_clip: float = 1.0
    accumulate: int = 1
    fused: bool | None = None

    def validate(self) -> list[str]:
        problems = []
        if not 0 <= self.min_lr <= self.lr:
            problems.append(f"min_lr={self.min_lr} must lie in [0, lr={self.lr}] (a floor of lr/10 is common)")
        if self.warmup_steps < 0:
            problems.append(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.accumulate < 1:
            problems.append(f"accumulate must be >= 1, got {self.accumulate}")
        if not all(0 <= b < 1 for b in self.betas):
            problems.append(f"betas must lie in [0, 1), got {self.betas}")
        return problems


@dataclass
class RunSection:
    """Length, logging, checkpoints, precision, devices.

    Attributes:
        steps: optimizer steps in total (the schedules span them).
        log_every: steps between metric lines (the only host-device sync of the hot loop).
        val_every / checkpoint_every: steps between validations / checkpoints (0 = only at the end).
        best_metric: validation metric that selects ``checkpoints/best`` (lower is better).
        precision: ``auto`` = bf16 autocast on CUDA, fp32 on CPU.
        on_nonfinite: ``stop`` (raise, naming the step and the last good checkpoint) or ``skip`` the step.
        distributed: ``auto``/``ddp`` (DistributedDataParallel under torchrun) or ``fsdp`` (fully sharded).
    """

    out_dir: str = "runs/salt"
    steps: int = 10_000
    seed: int = 0
    log_every: int = 20
    val_every: int = 500
    val_batches: int = 16
    checkpoint_every: int = 500
    best_metric: str = "val/loss"
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    compile: bool = False
    device: str = "auto"
    on_nonfinite: Literal["stop", "skip"] = "stop"
    distributed: Literal["auto", "ddp", "fsdp"] = "auto"
    tensorboard: bool = False
    wandb_project: str | None = None
    progress: bool = True

    def validate(self) -> list[str]:
        problems = []
        if self.steps < 1:
            problems.append(f"steps must be >= 1, got {self.steps}")
        for name in ("log_every", "val_every", "checkpoint_every", "val_batches"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.seed < 0:
            problems.append(f"seed must be >= 0, got {self.seed}")
        return problems


@dataclass
class TrainConfig:
    """Everything a run needs. ``stage``: ``salt`` (stage 2) or ``teacher`` (stage 1, pixel reconstruction)."""

    stage: Literal["salt", "teacher"] = "salt"
    data: DataSection = field(default_factory=DataSection)
    student: StudentSection = field(default_factory=StudentSection)
    predictor: PredictorSection = field(default_factory=PredictorSection)
    decoder: DecoderSection = field(default_factory=DecoderSection)
    teacher: TeacherSection = field(default_factory=TeacherSection)
    masks: MaskSection = field(default_factory=MaskSection)
    loss: LossSection = field(default_factory=LossSection)
    schedules: SchedulesSection = field(default_factory=SchedulesSection)
    optim: OptimSection = field(default_factory=OptimSection)
    run: RunSection = field(default_factory=RunSection)

    def validate(self) -> list[str]:
        problems = []
        if self.stage == "salt":
            if self.teacher.name is None and not self.data.latent_cache:
                problems.append("stage 'salt' needs targets: set teacher.name (live teacher) or data.latent_cache")
            if self.teacher.name is not None and self.data.latent_cache:
                problems.append("set either teacher.name (live) or data.latent_cache (cached), not both")
            if self.data.val_args is not None and self.data.latent_cache and not self.data.val_latent_cache:
                problems.append("cached validation needs data.val_latent_cache (or remove data.val_args)")
        else:
            if self.data.latent_cache or self.teacher.name:
                problems.append("stage 'teacher' learns from pixels: remove teacher.name and data.latent_cache")
        if self.optim.warmup_steps > self.run.steps:
            problems.append(f"optim.warmup_steps={self.optim.warmup_steps} exceeds run.steps={self.run.steps}")
        return problems + self.registry_problems()

    def registered_names(self) -> list[tuple[str, str, str]]:
        """``(field, kind, name)`` of every registered thing the configuration names."""
        names = [("data.dataset", "dataset", self.data.dataset), ("student.name", "encoder", self.student.name),
                 ("masks.name", "masker", self.masks.name),
                 ("loss.name" if self.loss.name is not None else "loss.kind", "loss", self.loss.name or self.loss.kind)]
        if self.teacher.name is not None:
            names.append(("teacher.name", "teacher", self.teacher.name))
        for which in ("lr", "weight_decay"):
            spec = getattr(self.schedules, which)
            if spec is not None:
                names.append((f"schedules.{which}.name", "schedule", spec.name))
        return names

    def registry_problems(self) -> list[str]:
        """Every name the registry does not know, with the closest registered one (checked at load, not at step 1)."""
        from salt_vla.plugins import registry

        return [p for p in (registry().name_problem(kind, name, where) for where, kind, name in self.registered_names())
                if p is not None]
