"""Load a LeRobot checkpoint as a :class:`~salt_vla_lerobot.adapter.LeRobotPolicy`, checking it on the way.

The order is cheap first: the source string, ``config.json``'s policy type, the processor files, the
action/state dimensions, depth, the camera mapping and the normalisation statistics are all checked
before the model is built, so a broken checkpoint fails in a second, not after a 3B-parameter load.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from salt_vla import lerobot_compat
from salt_vla.robot import SO101_ACTION_NAMES, SO101_CAMERAS, SO101_JOINTS
from salt_vla.weights import check_state_dict
from salt_vla_lerobot.adapter import LeRobotPolicy
from salt_vla_lerobot.cameras import parse_camera_map, policy_cameras, resolve_camera_map
from salt_vla_lerobot.checks import (
    CheckpointError,
    check_depth,
    check_dimensions,
    check_processor_files,
    check_stats,
)
from salt_vla_lerobot.sources import checkpoint_dir

FAMILIES = ("act", "act_salt", "smolvla", "pi0", "pi05")
VARIANTS = {"act": ("act", "act_salt")}
"""Checkpoint types a family's SPEC also loads: ``act:`` loads ACT on a salt-vla encoder too."""


def checkpoint_type(directory: Path) -> str:
    """The ``type`` field of ``directory/config.json`` (``"act"``, ``"smolvla"``, ...)."""
    config = directory / "config.json"
    if not config.is_file():
        raise CheckpointError(
            f"{directory} has no config.json, so it is not a LeRobot policy checkpoint (one holds config.json, "
            "model.safetensors and the policy's processor files). After `lerobot-train` the checkpoint is "
            "<output_dir>/checkpoints/<step>/pretrained_model."
        )
    try:
        return str(json.loads(config.read_text())["type"])
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise CheckpointError(f"{config} has no policy 'type' field ({error}).") from error


def check_device(device: str) -> str:
    """``device`` as a string, refused with the reason if torch cannot use it."""
    text = str(device)
    try:
        parsed = torch.device(text)
    except RuntimeError as error:
        raise ValueError(f"Unknown torch device {text!r} ({error}); use 'cpu', 'cuda', 'cuda:1' or 'mps'.") from error
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={text!r} but torch sees no CUDA GPU here (torch {torch.__version__}); use device='cpu'.")
    return text


def check_weights(policy: Any, weights: Path, *, where: str) -> None:
    """Raise one error listing every missing, unexpected or mis-shaped key of ``weights`` against ``policy``.

    LeRobot loads non-strictly, so a checkpoint with missing weights silently runs on random ones. Tensors
    that share storage (tied weights) count as present when any of their aliases is in the file.
    """
    from safetensors import safe_open

    with safe_open(str(weights), framework="pt") as handle:
        given = {key: torch.empty(handle.get_slice(key).get_shape(), device="meta") for key in handle.keys()}
    aliases: dict[int, list[str]] = {}
    for key, tensor in policy.state_dict().items():
        if tensor.numel():
            aliases.setdefault(tensor.data_ptr(), []).append(key)
    for group in aliases.values():
        present = next((given[k] for k in group if k in given), None)
        if present is not None:
            given.update({k: present for k in group if k not in given})
    check_state_dict(policy, given, what=where, hint="The checkpoint was saved from a different policy configuration.")


def check_weights_loaded(policy: Any, weights: Path, *, where: str, sample: int = 16) -> None:
    """Raise if model tensors do not hold the values ``weights`` has for them.

    LeRobot's Pi0/Pi0.5 ``from_pretrained`` remaps key names itself and, when loading fails, prints a warning
    and keeps the random initialisation, for all tensors or only for the renamed ones (a checkpoint saved
    with another transformers version names the vision tower differently). Two spreads of ``sample``
    tensors are compared with the file: tensors whose names match, and model tensors missing from the file,
    each against the file tensor of the same shape with the longest common name suffix (its renamed twin).
    """
    from safetensors import safe_open

    state = policy.state_dict()
    with safe_open(str(weights), framework="pt") as handle:
        file_keys = list(handle.keys())
        shapes = {key: tuple(handle.get_slice(key).get_shape()) for key in file_keys}
        common = sorted(set(file_keys) & set(state))
        if not common:
            raise CheckpointError(f"{where}: no tensor name of {weights.name} matches the model; its weights were not loaded.")
        pairs = [(key, key) for key in _spread(common, sample)]
        absent = sorted(key for key, tensor in state.items() if key not in shapes and tensor.numel())
        by_suffix = _keys_by_suffix(k for k in file_keys if k not in state)
        pairs += [(key, twin) for key in _spread(absent, sample)
                  if (twin := _renamed_twin(key, tuple(state[key].shape), by_suffix, shapes)) is not None]
        differing = [key for key, source in pairs
                     if not torch.equal(handle.get_tensor(source).float(), state[key].detach().cpu().float())]
    if differing:
        raise CheckpointError(
            f"{where}: {len(differing)} of {len(pairs)} sampled tensors differ from {weights} "
            f"({', '.join(differing[:4])}): LeRobot's loader failed (see the 'Could not load state dict' line above) "
            "and left random weights. A checkpoint saved with another transformers version names some modules "
            "differently: load it with the transformers version it was saved with, or re-save it."
        )


def _spread(keys: Sequence[str], count: int) -> list[str]:
    """Up to ``count`` of ``keys``, evenly spaced."""
    return list(keys[:: max(1, len(keys) // count)][:count]) if keys else []


_SUFFIX_PARTS = 2  # candidates share at least "k_proj.weight"; the longest shared suffix picks among them


def _keys_by_suffix(keys: Iterable[str]) -> dict[str, list[str]]:
    index: dict[str, list[str]] = {}
    for key in keys:
        index.setdefault(".".join(key.split(".")[-_SUFFIX_PARTS:]), []).append(key)
    return index


def _renamed_twin(key: str, shape: tuple[int, ...], by_suffix: Mapping[str, list[str]],
                  shapes: Mapping[str, tuple[int, ...]]) -> str | None:
    """The file key of the same shape that shares the longest dotted suffix with ``key`` (None if none)."""
    parts = key.split(".")
    candidates = [k for k in by_suffix.get(".".join(parts[-_SUFFIX_PARTS:]), []) if shapes[k] == shape]
    if not candidates:
        return None

    def shared_parts(other: str) -> int:
        count = 0
        for mine, theirs in zip(reversed(parts), reversed(other.split("."))):
            if mine != theirs:
                break
            count += 1
        return count

    return max(candidates, key=shared_parts)


def load_lerobot_policy(
    family: str,
    source: str | os.PathLike[str],
    *,
    device: str = "cpu",
    camera_map: Mapping[str, str | None] | str | None = None,
    task_cameras: Sequence[str] = SO101_CAMERAS,
    action_names: Sequence[str] = SO101_ACTION_NAMES,
    state_dim: int | None = len(SO101_JOINTS),
    depth: bool = False,
    n_action_steps: int | None = None,
) -> LeRobotPolicy:
    """Load ``source`` (a directory or Hub id) as a ``family`` policy adapter for a task.

    Args:
        family: ``"act"``, ``"act_salt"``, ``"smolvla"``, ``"pi0"`` or ``"pi05"``; must match the checkpoint's
            type (``"act"`` also loads ``act_salt`` checkpoints, see :data:`VARIANTS`).
        source: a checkpoint directory, ``local-dir:<path>``, or a Hub id ``org/name`` / ``hf-hub:org/name@rev``.
        device: where the model runs (``"cpu"``, ``"cuda"``); overrides the device saved in the processors.
        camera_map: policy camera -> task camera, as a dict or ``"a=overhead_cam,b=wrist_cam"``.
        task_cameras: cameras the task renders (SO-101: overhead_cam, wrist_cam).
        action_names: the task's action dimensions (SO-101: five joints in degrees, gripper in [0, 100]).
        state_dim: the task's state size (``None`` skips the check).
        depth: whether the task renders depth maps (policies with ``*_depth`` inputs need it).
        n_action_steps: execute this many actions of each chunk before re-planning (``<= chunk_size``).

    Raises:
        WeightSourceError, CheckpointError (and its subclasses), LeRobotMissingError, LeRobotVersionError:
        each says what was seen and how to fix it. Degenerate statistics only warn.
    """
    if family not in FAMILIES:
        raise ValueError(f"Unknown LeRobot policy family {family!r}; choose one of {', '.join(FAMILIES)}.")
    lerobot_compat.require_lerobot()
    device = check_device(device)
    where = f"{family}:{source}"
    directory = checkpoint_dir(source)
    found = checkpoint_type(directory)
    if found in VARIANTS.get(family, ()):
        family = found
    if found != family:
        raise CheckpointError(
            f"{where} is a {found!r} checkpoint, not {family!r}: write '{found}:{source}'."
            if found in FAMILIES else f"{where} is a {found!r} checkpoint; salt-vla adapts {', '.join(FAMILIES)}."
        )
    lerobot_compat.check_family_supported(family)
    check_processor_files(directory)

    config = lerobot_compat.load_config(str(directory), family)
    config.device = device
    if n_action_steps is not None:
        if not 1 <= n_action_steps <= config.chunk_size:
            raise ValueError(f"n_action_steps must be in [1, chunk_size={config.chunk_size}]; got {n_action_steps}.")
        config.n_action_steps = n_action_steps
    check_dimensions(config, action_names=action_names, state_dim=state_dim, where=where)
    check_depth(config, depth=depth, where=where)
    if isinstance(camera_map, str):
        camera_map = parse_camera_map(camera_map)
    cameras = resolve_camera_map(policy_cameras(config), task_cameras, camera_map,
                                 allow_missing=family in lerobot_compat.FLOW_MATCHING_FAMILIES, where=where)
    if family == "smolvla":
        _check_smolvla_backbone(config, where)

    preprocessor, postprocessor = lerobot_compat.load_processors(config, str(directory), device=device)
    action_mode = config.normalization_mapping.get("ACTION")
    check_stats(preprocessor, postprocessor, where=where, action_mode=getattr(action_mode, "value", action_mode))

    policy = lerobot_compat.load_policy(lerobot_compat.get_policy_class(family), str(directory), config)
    if family in lerobot_compat.PI_FAMILIES:  # Pi0's loader remaps keys itself, and on failure only prints
        check_weights_loaded(policy, directory / "model.safetensors", where=where)
    else:
        check_weights(policy, directory / "model.safetensors", where=where)
    policy.eval()
    policy.reset()
    return LeRobotPolicy(policy, preprocessor, postprocessor, family=family, source=str(source), camera_map=cameras,
                         action_names=action_names, device=device)


def _check_smolvla_backbone(config: Any, where: str) -> None:
    """SmolVLA's config names its VLM backbone; a local path saved on another machine fails obscurely."""
    name = str(config.vlm_model_name)
    is_path = name.startswith(("/", ".", "~")) or name.count("/") != 1
    if is_path and not Path(name).expanduser().exists():
        raise CheckpointError(
            f"{where}: its config names the VLM backbone by a local path, {name!r}, which does not exist here. "
            "Copy that directory to this path, or edit vlm_model_name in the checkpoint's config.json."
        )
