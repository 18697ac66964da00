"""Load-time sanity checks for a LeRobot checkpoint, each failing with the numbers that show the problem.

Every check here stands for an evaluation that went wrong for real users:

- processor files missing: actions were never denormalised (or a GPU device was baked in);
- statistics missing for a feature that is normalised: LeRobot passes the value through unchanged,
  so actions come out normalised (an error here);
- statistics degenerate: an image std of 0.002 turns pixels in ``[0, 1]`` into values near ±500, a
  joint that never moved has std 0 and amplifies sensor noise by ``1 / eps`` (a warning, with values);
- the policy's action or state dimension differs from the task's;
- depth features expected but the task renders none.

Thresholds are module constants (documented in docs/policies.md).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

MIN_SPREAD = 1e-3
"""Smallest acceptable std (MEAN_STD) or range (MIN_MAX, quantiles) of a normalised state or action."""

MIN_IMAGE_SPREAD = 1e-2
"""The same for images (pixels in ``[0, 1]``): a real camera's per-channel std is 0.05-0.3, the std of
0.002 seen in the users' checkpoints (pixels then reach about ±500) is far below it."""

PROCESSOR_CONFIGS = ("policy_preprocessor.json", "policy_postprocessor.json")
REQUIRED_STATS = {
    "MEAN_STD": ("mean", "std"),
    "MIN_MAX": ("min", "max"),
    "QUANTILES": ("q01", "q99"),
    "QUANTILE10": ("q10", "q90"),
}
"""Statistics each LeRobot normalisation mode reads, as (centre-or-low, spread-or-high)."""

DEPTH_SUFFIX = "_depth"
IMAGE_PREFIX = "observation.images."
STATE_KEY = "observation.state"
ACTION_KEY = "action"


class CheckpointError(ValueError):
    """A LeRobot checkpoint that cannot be evaluated correctly as it is."""


class ProcessorFilesMissingError(CheckpointError, FileNotFoundError):
    """The checkpoint lacks its saved pre/post-processor files."""


class StatsError(CheckpointError):
    """Normalisation statistics missing, or of the wrong shape, for a feature that is normalised."""


class DimensionMismatchError(CheckpointError):
    """The policy's action or state dimension differs from the task's."""


class DepthMissingError(CheckpointError):
    """The policy reads depth images that the task does not render."""


class DegenerateStatsWarning(UserWarning):
    """Normalisation statistics that are non-finite or (nearly) zero-spread."""


# ----------------------------------------------------------------------------------------------- files


def check_processor_files(directory: Path) -> None:
    """Raise :class:`ProcessorFilesMissingError` unless both processor configs and their state files exist."""
    missing: list[str] = []
    for name in PROCESSOR_CONFIGS:
        config = directory / name
        if not config.is_file():
            missing.append(name)
            continue
        try:
            steps = json.loads(config.read_text()).get("steps", [])
        except (OSError, json.JSONDecodeError) as error:
            raise ProcessorFilesMissingError(f"{config} cannot be read as JSON: {error}.") from error
        missing += [s["state_file"] for s in steps if s.get("state_file") and not (directory / s["state_file"]).is_file()]
    if missing:
        present = sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []
        raise ProcessorFilesMissingError(
            f"Checkpoint {directory} lacks its LeRobot processor files: {', '.join(missing)} (it holds: "
            f"{', '.join(present) or 'nothing'}). Without them observations are not normalised and actions come out "
            "normalised instead of in robot units. Fix: save them next to the model after training "
            "(`preprocessor.save_pretrained(dir)`, `postprocessor.save_pretrained(dir)`), or convert a checkpoint from "
            "LeRobot < 0.4 with `python -m lerobot.processor.migrate_policy_normalization --pretrained-path <dir>`."
        )


# ----------------------------------------------------------------------------------------------- stats


@dataclass(frozen=True)
class NormalizedFeature:
    """One feature that a normaliser step transforms at inference, with its statistics."""

    key: str
    kind: str  # "VISUAL", "STATE", "ACTION", ...
    mode: str  # "MEAN_STD", "MIN_MAX", ...
    shape: tuple[int, ...]
    stats: Mapping[str, torch.Tensor]
    step: str  # "preprocessor" or "postprocessor"


def _enum_text(value: Any) -> str:
    return str(getattr(value, "value", value))


def _normaliser_steps(pipeline: Any) -> Iterable[Any]:
    return [s for s in getattr(pipeline, "steps", []) if hasattr(s, "norm_map") and hasattr(s, "state_dict")]


def normalized_features(pipeline: Any, *, step: str, kinds: Sequence[str]) -> list[NormalizedFeature]:
    """Features of ``kinds`` that ``pipeline``'s (un)normaliser steps transform, with their statistics."""
    found: list[NormalizedFeature] = []
    for normaliser in _normaliser_steps(pipeline):
        norm_map = {_enum_text(k): _enum_text(v) for k, v in normaliser.norm_map.items()}
        flat = normaliser.state_dict()
        for key, feature in normaliser.features.items():
            kind = _enum_text(feature.type)
            mode = norm_map.get(kind, "IDENTITY")
            if kind not in kinds or mode == "IDENTITY":
                continue
            stats = {name.rsplit(".", 1)[1]: t for name, t in flat.items() if name.rsplit(".", 1)[0] == key}
            found.append(NormalizedFeature(key, kind, mode, tuple(feature.shape), stats, step))
    return found


def _values(tensor: torch.Tensor, limit: int = 6) -> str:
    flat = tensor.detach().float().flatten().tolist()
    shown = ", ".join(f"{v:.4g}" for v in flat[:limit])
    return f"[{shown}{', ...' if len(flat) > limit else ''}]"


def check_stats(preprocessor: Any, postprocessor: Any, *, where: str, action_mode: str | None) -> list[str]:
    """Check every statistic used at inference; raise :class:`StatsError`, warn with values, return the warnings.

    ``action_mode`` is the config's normalisation mode for actions; when it is not ``IDENTITY`` the
    postprocessor must unnormalise ``action``, or actions reach the robot normalised.
    """
    inputs = normalized_features(preprocessor, step="preprocessor", kinds=("VISUAL", "STATE", "ENV"))
    outputs = normalized_features(postprocessor, step="postprocessor", kinds=("ACTION",))
    errors: list[str] = []
    if action_mode not in (None, "IDENTITY") and not any(f.key == ACTION_KEY for f in outputs):
        errors.append(
            f"the config normalises actions ({action_mode}) but the postprocessor has no unnormaliser step for "
            f"'{ACTION_KEY}': actions would reach the robot normalised"
        )
    problems: list[str] = []
    for feature in inputs + outputs:
        low_name, high_name = REQUIRED_STATS.get(feature.mode, ("", ""))
        absent = [n for n in (low_name, high_name) if n and n not in feature.stats]
        if feature.mode not in REQUIRED_STATS:
            errors.append(f"{feature.key}: unknown normalisation mode {feature.mode!r}")
            continue
        if absent:
            effect = "actions come out normalised" if feature.kind == "ACTION" else "the value is passed unnormalised"
            errors.append(
                f"{feature.key} ({feature.step}, {feature.mode}) has no {'/'.join(absent)} statistics "
                f"(has: {', '.join(sorted(feature.stats)) or 'none'}); LeRobot then skips it silently and {effect}"
            )
            continue
        low, high = feature.stats[low_name].float(), feature.stats[high_name].float()
        for name, tensor in ((low_name, low), (high_name, high)):
            try:
                fits = torch.broadcast_shapes(tuple(tensor.shape), feature.shape) == feature.shape
            except RuntimeError:
                fits = False
            if not fits:
                errors.append(
                    f"{feature.key}: {name} has shape {tuple(tensor.shape)}, which does not fit the feature shape "
                    f"{feature.shape} (a dimension mismatch between the statistics and the model)"
                )
            bad = ~torch.isfinite(tensor)
            if bool(bad.any()):
                problems.append(
                    f"{feature.key} ({feature.step}): {int(bad.sum())} non-finite {name} value(s), {name} = {_values(tensor)}"
                )
        spread = high if feature.mode == "MEAN_STD" else high - low
        spread = spread[torch.isfinite(spread)]
        threshold = MIN_IMAGE_SPREAD if feature.kind == "VISUAL" else MIN_SPREAD
        if spread.numel() and float(spread.min()) < threshold:
            smallest = float(spread.min())
            what = "std" if feature.mode == "MEAN_STD" else f"{high_name} - {low_name}"
            gain = "infinite" if smallest <= 0 else f"{1 / smallest:.3g}"
            if feature.kind == "VISUAL":
                effect = f"pixels in [0, 1] become values of magnitude up to ~{gain}"
            elif feature.kind == "ACTION":
                effect = "the policy's output is collapsed to a near-constant in those dimensions"
            else:
                effect = f"a change of 1 unit is amplified to ~{gain} normalised units"
            problems.append(
                f"{feature.key} ({feature.step}): {what} min {smallest:.3g} < {threshold:g}, "
                f"{what} = {_values(spread)}: {effect}"
            )
    if errors:
        raise StatsError(
            f"Normalisation statistics of {where} cannot be used: " + "; ".join(errors) + ". Fix: recompute the "
            "dataset statistics (LeRobotDataset.meta.stats) and re-save the processors with them."
        )
    for problem in problems:
        warnings.warn(
            f"Degenerate normalisation statistics in {where}: {problem}. The policy was probably trained with these "
            "values; if it was not, re-save the processors with the dataset's statistics.",
            DegenerateStatsWarning,
            stacklevel=3,
        )
    return problems


# ----------------------------------------------------------------------------------------------- shapes


def feature_shape(features: Mapping[str, Any], key: str) -> tuple[int, ...] | None:
    feature = features.get(key)
    return tuple(feature.shape) if feature is not None else None


def check_dimensions(
    config: Any, *, action_names: Sequence[str], state_dim: int | None, where: str
) -> None:
    """Raise :class:`DimensionMismatchError` when the policy's action/state sizes differ from the task's."""
    problems: list[str] = []
    action_shape = feature_shape(config.output_features, ACTION_KEY)
    if action_shape is None:
        problems.append(f"the policy has no '{ACTION_KEY}' output feature (outputs: {sorted(config.output_features)})")
    elif action_shape[0] != len(action_names):
        problems.append(
            f"the policy outputs {action_shape[0]} action dimensions, the task expects {len(action_names)} "
            f"({', '.join(action_names)})"
        )
    state_shape = feature_shape(config.input_features, STATE_KEY)
    if state_dim is not None and state_shape is not None and state_shape[0] != state_dim:
        problems.append(f"the policy reads a {state_shape[0]}-dimensional '{STATE_KEY}', the task provides {state_dim}")
    if problems:
        raise DimensionMismatchError(
            f"{where} does not fit the task: " + "; ".join(problems) + ". A checkpoint trained on end-effector actions "
            "(e.g. 8-D) cannot drive joint-space SO-101 control. If your task really differs, pass "
            "action_names=[...] and state_dim=N to the policy factory."
        )


def depth_cameras(config: Any) -> list[str]:
    """Policy cameras whose image feature is a depth map (``observation.images.<cam>_depth``)."""
    return [
        key[len(IMAGE_PREFIX):] for key, feature in config.input_features.items()
        if key.startswith(IMAGE_PREFIX) and key.endswith(DEPTH_SUFFIX) and _enum_text(feature.type) == "VISUAL"
    ]


def check_depth(config: Any, *, depth: bool, where: str) -> None:
    """Raise :class:`DepthMissingError` if the policy reads depth features and the task renders none."""
    wanted = depth_cameras(config)
    if wanted and not depth:
        shapes = ", ".join(f"{IMAGE_PREFIX}{name} {feature_shape(config.input_features, IMAGE_PREFIX + name)}"
                           for name in wanted)
        raise DepthMissingError(
            f"{where} reads depth images ({shapes}) but the task renders none. Render depth in the task "
            "(TaskConfig(depth=True)) and pass depth=True to the policy factory, or use an RGB-only checkpoint."
        )

