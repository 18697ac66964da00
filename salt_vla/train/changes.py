"""What changed between a checkpoint's run and the run resuming it.

A checkpoint stores the resolved configuration and the identity of its targets (the latent cache's teacher
fingerprint, grid, latent width and dtype, or the live teacher's fingerprint) in
``training_state/run.json``. Resuming compares them with the new run:

- a change to what defines the targets or the model (:data:`DEFINING`: stage, teacher, student and
  predictor/decoder architecture, masks, loss; the targets' identity) is refused: the checkpoint's weights
  and optimizer state belong to another objective;
- any other changed field (learning rate, steps, batch size, ...) is listed and refused unless the run is
  started with ``allow_config_change`` (``--allow-config-change``);
- :data:`FREE` fields (paths, workers, logging sinks) may change freely: they do not change what is trained.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DEFINING = ("stage", "teacher", "student.name", "student.args", "predictor", "decoder", "masks", "loss")
"""Configuration fields (and everything under them) a resumed run may not change."""

FREE = ("run.out_dir", "run.progress", "run.device", "run.compile", "run.tensorboard", "run.wandb_project",
        "data.num_workers", "data.prefetch_factor", "data.pin_memory", "data.loader", "data.loader_threads",
        "data.latent_cache", "data.val_latent_cache", "data.clip_cache", "data.latent_dtype", "data.latent_teacher",
        "data.skip_cache_verify")
"""Fields that change how a run executes or where files are, not what it trains (caches are compared by content)."""


class ConfigChangeError(ValueError):
    """Resuming with a changed configuration; ``defining`` and ``other`` list the ``"field: was A, now B"`` lines."""

    def __init__(self, message: str, defining: list[str], other: list[str]) -> None:
        super().__init__(message)
        self.defining, self.other = defining, other


def _flatten(config: Mapping[str, Any]) -> dict[str, Any]:
    """``{"optim": {"lr": 1}}`` -> ``{"optim.lr": 1}``: one level of sections, each field compared whole."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            out.update({f"{key}.{name}": item for name, item in value.items()})
        else:
            out[key] = value
    return out


def _under(field: str, roots: tuple[str, ...]) -> bool:
    return any(field == root or field.startswith(root + ".") for root in roots)


def config_changes(saved: Mapping[str, Any], current: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """``(defining, other)`` changes from ``saved`` to ``current`` (plain config dicts), as ``"field: was A, now B"``."""
    before, after = _flatten(saved), _flatten(current)
    defining, other = [], []
    for field in sorted(set(before) | set(after)):
        if _under(field, FREE) or before.get(field) == after.get(field):
            continue
        line = f"{field}: was {before.get(field)!r}, now {after.get(field)!r}"
        (defining if _under(field, DEFINING) else other).append(line)
    return defining, other


def target_changes(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """``"targets.<key>: was A, now B"`` for every difference of the targets' identity."""
    return [f"targets.{key}: was {saved.get(key)!r}, now {current.get(key)!r}"
            for key in sorted(set(saved) | set(current)) if saved.get(key) != current.get(key)]


def check_resume(saved: Mapping[str, Any], current: Mapping[str, Any], *, checkpoint: str,
                 allow_config_change: bool) -> list[str]:
    """Refuse a resume that changes the objective (or, unless allowed, anything else); return the allowed changes.

    ``saved``/``current``: ``{"config": plain config dict, "targets": identity dict}``.

    Raises:
        ConfigChangeError: one message listing every change, and what to do.
    """
    defining, other = config_changes(saved.get("config", {}), current.get("config", {}))
    defining += target_changes(saved.get("targets", {}), current.get("targets", {}))
    if defining:
        lines = defining + other
        raise ConfigChangeError(
            f"Cannot resume {checkpoint}: the run changes what defines the model or its targets "
            f"({len(lines)} change{'s' * (len(lines) > 1)}):\n  - " + "\n  - ".join(lines)
            + "\nThe checkpoint's weights were trained for the old objective. Restore the original values, or start "
            "a new run with another run.out_dir.", defining, other,
        )
    if other and not allow_config_change:
        raise ConfigChangeError(
            f"Resuming {checkpoint} with a changed configuration ({len(other)} change{'s' * (len(other) > 1)}):\n  - "
            + "\n  - ".join(other) + "\nRestore the original values to resume exactly, or pass --allow-config-change "
            "(Trainer(..., allow_config_change=True)) to continue with the new ones.", [], other,
        )
    return other
