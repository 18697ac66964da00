"""From a weight source to a loaded :class:`VideoMAEEncoder`: locate, check the clip, read, convert, check
the weights, build.

The order is chosen for the errors users see: the clip shape and head count in a checkpoint's config are
checked before any weights are read; the whole converted checkpoint is then checked against the full-depth
model of the chosen size (one error listing every problem, with the size that would fit), and only then
truncated to the target layer and handed to the model.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from salt_vla.weights import (
    TORCH_SUFFIXES,
    WeightSourceError,
    check_state_dict,
    find_weight_file,
    load_state_dict,
    parse_source,
    resolve,
)
from salt_vla_videomae.checkpoint import ConvertedCheckpoint, block_index, checkpoint_filter_fn
from salt_vla_videomae.config import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    SIZES,
    EncoderConfig,
    Size,
    name_for,
    size_for,
)
from salt_vla_videomae.model import VideoMAEEncoder

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
          "float16": torch.float16, "fp16": torch.float16}

# transformers' VideoMAEConfig defaults, for config.json files that leave a value out.
_TRANSFORMERS_DEFAULTS = {"num_frames": 16, "image_size": 224, "layer_norm_eps": 1e-12, "num_attention_heads": 12}
_PREPROCESSOR_FILES = ("preprocessor_config.json", "video_preprocessor_config.json")


class CheckpointNote(UserWarning):
    """Something a user may want to know about how a checkpoint was read (decoder keys dropped, ...).

    Silence with ``warnings.filterwarnings("ignore", category=CheckpointNote)``.
    """


@dataclass(frozen=True)
class DirectoryConfig:
    """What a checkpoint directory's JSON files say (``None``: not said)."""

    num_frames: int | None = None
    image_size: int | None = None
    layer_norm_eps: float | None = None
    num_heads: int | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Located:
    """Where a checkpoint's weights are (a file, or a state dict passed in) and what its directory says."""

    weights: Path | Mapping[str, Any]
    config: DirectoryConfig
    label: str

    @property
    def owned(self) -> bool:
        """False for a state dict passed in: its tensors are the caller's and are copied before use."""
        return isinstance(self.weights, Path)


@dataclass(frozen=True)
class Plan:
    """The resolved encoder and how its weights were chosen.

    Attributes:
        config: the encoder to build (``depth`` = target layer + 1).
        target_layer: 0-based index of the block whose output is the target.
        depth_total: blocks of the full model (the checkpoint's, or the size's without one).
        norm_source: ``"norm"``, ``"fc_norm"`` (a mean-pooling norm applied per token) or ``None``.
        notes: what a user may want to know.
    """

    config: EncoderConfig
    target_layer: int
    depth_total: int
    norm_source: str | None
    notes: tuple[str, ...] = ()


def parse_dtype(dtype: torch.dtype | str | None) -> torch.dtype:
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype) and dtype in DTYPES.values():
        return dtype
    if isinstance(dtype, str) and dtype.lower().removeprefix("torch.") in DTYPES:
        return DTYPES[dtype.lower().removeprefix("torch.")]
    raise ValueError(f"dtype={dtype!r} is not supported; use one of {', '.join(DTYPES)} (or the torch.dtype).")


def _square(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        if len(set(value)) != 1:
            raise ValueError(f"{what}: non-square image_size {list(value)} is not supported; VideoMAE clips are square.")
        value = value[0]
    return int(value)


def read_directory_config(directory: Path) -> DirectoryConfig:
    """Clip shape, epsilon, heads and mean/std from transformers or VideoMAEv2 (remote code) JSON files."""
    fields: dict[str, Any] = {}
    config_file = directory / "config.json"
    if config_file.is_file():
        config = json.loads(config_file.read_text())
        if isinstance(config.get("model_config"), Mapping):  # OpenGVLab VideoMAEv2 Hub repositories
            model = config["model_config"]
            fields = {"num_frames": model.get("num_frames", model.get("all_frames")),
                      "image_size": _square(model.get("img_size"), str(config_file)),
                      "layer_norm_eps": model.get("layer_norm_eps"), "num_heads": model.get("num_heads")}
        elif config.get("model_type") == "videomae":
            merged = {**_TRANSFORMERS_DEFAULTS, **config}
            fields = {"num_frames": merged["num_frames"], "image_size": _square(merged["image_size"], str(config_file)),
                      "layer_norm_eps": merged["layer_norm_eps"], "num_heads": merged["num_attention_heads"]}
    for name in _PREPROCESSOR_FILES:
        path = directory / name
        if path.is_file():
            processor = json.loads(path.read_text())
            if "image_mean" in processor and "image_std" in processor:
                fields["mean"] = tuple(float(v) for v in processor["image_mean"])
                fields["std"] = tuple(float(v) for v in processor["image_std"])
                break
    return DirectoryConfig(**{k: v for k, v in fields.items() if v is not None})


def locate(pretrained: str | os.PathLike[str] | Mapping[str, Any], *, filename: str | None = None,
           allow_torch: bool = False) -> Located:
    """Find the weight file of ``pretrained`` (a weight source string, a path or a state dict) and read the
    JSON configuration next to it. ``filename`` picks one file inside a directory or Hub repository (and is
    then all that is downloaded)."""
    if isinstance(pretrained, Mapping):
        return Located(pretrained, DirectoryConfig(), "a state dict in memory")
    parsed = parse_source(pretrained)
    label = str(parsed) + (f" ({filename})" if filename else "")
    if parsed.kind == "hf-hub":
        # Fetch safetensors first; pickle files only when allowed and nothing else is there.
        path = resolve(parsed, ["*.json", filename] if filename else ["*.json", "*.safetensors"])
        if not filename and not any(path.glob("*.safetensors")):
            if not allow_torch:
                raise WeightSourceError(
                    f"{label} has no .safetensors weights. If it ships pytorch_model.bin or a .pth file, pass "
                    "allow_torch=True (read with torch.load(weights_only=True)), or name one with filename=."
                )
            path = resolve(parsed, ["*.json", *(f"*{suffix}" for suffix in TORCH_SUFFIXES)])
    else:
        path = resolve(parsed)
    if not path.is_dir():
        if filename:
            raise WeightSourceError(f"{label} is a file; filename={filename!r} only applies to a directory or Hub repo.")
        return Located(path, DirectoryConfig(), label)
    if filename:
        if not (path / filename).is_file():
            raise WeightSourceError(f"{label}: no file {filename!r} in {path}.")
        return Located(path / filename, DirectoryConfig(), label)
    return Located(find_weight_file(path, allow_torch=allow_torch), read_directory_config(path), label)


def read_weights(located: Located, *, allow_torch: bool = False) -> ConvertedCheckpoint:
    """Read (safetensors, or ``torch.load(weights_only=True)`` with ``allow_torch``) and convert."""
    if isinstance(located.weights, Path):
        return checkpoint_filter_fn(load_state_dict(located.weights, allow_torch=allow_torch))
    return checkpoint_filter_fn(located.weights)


def _pick(what: str, given: Any, from_checkpoint: Any, default: Any, source: str) -> Any:
    if given is not None and from_checkpoint is not None and given != from_checkpoint:
        raise ValueError(
            f"{what}={given} does not match the checkpoint ({source} is configured for {what}={from_checkpoint}). "
            f"VideoMAE's position table runs over the flattened token grid, so other clip shapes give targets "
            f"the model never saw. Leave {what} unset (or pass {from_checkpoint}), and feed clips of that shape."
        )
    return next(v for v in (given, from_checkpoint, default) if v is not None)


def _resolve_layer(target_layer: int, depth: int, name: str) -> int:
    if isinstance(target_layer, bool) or not isinstance(target_layer, int) or not -depth <= target_layer < depth:
        raise ValueError(f"target_layer={target_layer!r} is outside {name}'s {depth} blocks; use an int in "
                         f"-{depth}..{depth - 1} (-1 = last block, 0 = first).")
    return target_layer % depth


def _norm_source(final_norm: bool | str, checkpoint: ConvertedCheckpoint | None, label: str) -> str | None:
    if not (isinstance(final_norm, bool) or final_norm == "auto"):
        raise ValueError(f"final_norm={final_norm!r}; choose one of True, False, 'auto' (from the checkpoint).")
    if final_norm is False:
        return None
    if checkpoint is None:  # random weights: a final norm, as in the pretraining encoder
        return "norm"
    if checkpoint.has_norm:
        return "norm"
    if final_norm is True and checkpoint.has_fc_norm:
        return "fc_norm"
    if final_norm is True:
        raise ValueError(f"final_norm=True, but {label} has no final norm (norm.* / videomae.layernorm.*) and no "
                         "fc_norm.*; pass final_norm='auto' or False.")
    return None


def _norm_notes(norm_source: str | None, checkpoint: ConvertedCheckpoint, final_norm: bool | str) -> list[str]:
    if norm_source == "fc_norm":
        return ["final_norm=True: the checkpoint's mean-pooling norm (fc_norm) is applied to every token"]
    if norm_source is None and checkpoint.has_norm:
        return ["final_norm=False: the checkpoint's final norm is not applied"]
    if norm_source is None and checkpoint.has_fc_norm and final_norm == "auto":
        return ["the checkpoint has no final norm, only a mean-pooling fc_norm: targets are the un-normalised "
                "last-block tokens (as transformers' VideoMAEModel returns them); final_norm=True applies fc_norm "
                "to every token instead"]
    return []


def _size_hint(checkpoint: ConvertedCheckpoint, chosen: str, family: str) -> str:
    width, depth, patch = checkpoint.embed_dim, checkpoint.depth, checkpoint.patch
    if width is None:
        return "The checkpoint has no patch embedding (patch_embed.proj.weight), so its size cannot be told."
    fits = size_for(width, depth, patch or 0)
    found = f"width {width}, depth {depth}, patch {patch}"
    if fits is not None and name_for(fits, family) != chosen:
        return f"The checkpoint is a ViT-{fits.name} ({found}): use '{name_for(fits, family)}'."
    sizes = "; ".join(f"{s.name}: {s.description}" for s in SIZES.values())
    return f"The checkpoint has {found}, which matches no VideoMAE size ({sizes})."


def clip_settings(size: Size, name: str, located: Located | None, *, num_frames: int | None,
                  image_size: int | None, mean: Any, std: Any) -> dict[str, Any]:
    """Clip shape, epsilon and normalisation from the arguments and the checkpoint's configuration.

    Checked before any weights are read, so a wrong clip shape fails at once, not after a download.
    """
    directory = located.config if located else DirectoryConfig()
    label = located.label if located else name
    if directory.num_heads is not None and directory.num_heads != size.num_heads:
        raise ValueError(f"{label} has {directory.num_heads} attention heads; {name} has {size.num_heads} "
                         f"({size.description}). Pick the teacher whose size matches the checkpoint.")
    return {
        "num_frames": _pick("num_frames", num_frames, directory.num_frames, 16, label),
        "image_size": _pick("image_size", image_size, directory.image_size, 224, label),
        "layer_norm_eps": directory.layer_norm_eps or 1e-6,
        "mean": tuple(mean) if mean is not None else directory.mean or IMAGENET_MEAN,
        "std": tuple(std) if std is not None else directory.std or IMAGENET_STD,
    }


def plan(size: Size, name: str, checkpoint: ConvertedCheckpoint | None, clip: dict[str, Any], label: str, *,
         target_layer: int, final_norm: bool | str) -> Plan:
    """Resolve the final norm and the target layer, and the encoder that computes them."""
    norm_source = _norm_source(final_norm, checkpoint, label)
    layer = _resolve_layer(target_layer, size.depth, name)
    config = EncoderConfig.from_size(size, depth=layer + 1, final_norm=norm_source is not None,
                                     layer_scale=bool(checkpoint and checkpoint.layer_scale), **clip)
    notes = [*checkpoint.notes, *_norm_notes(norm_source, checkpoint, final_norm)] if checkpoint else []
    if layer < size.depth - 1:
        notes.append(f"targets are block {layer}'s tokens; blocks {layer + 1}..{size.depth - 1} are not built")
    return Plan(config, layer, size.depth, norm_source, tuple(notes))


def encoder_state(checkpoint: ConvertedCheckpoint, the_plan: Plan, name: str, family: str, located: Located
                  ) -> dict[str, torch.Tensor]:
    """The weights for the planned encoder, after one check of the whole checkpoint against the full model.

    Raises:
        salt_vla.weights.StateDictMismatchError: keys or shapes do not fit ``name``; lists every problem
            and the registered name whose size does fit, when one does.
    """
    state = dict(checkpoint.state)
    norms = {prefix: {k[len(prefix):]: state.pop(k) for k in list(state) if k.startswith(prefix)}
             for prefix in ("norm.", "fc_norm.")}
    if the_plan.norm_source is not None:
        state.update({f"norm.{k}": v for k, v in norms[f"{the_plan.norm_source}."].items()})
    with torch.device("meta"):
        full = VideoMAEEncoder(replace(the_plan.config, depth=the_plan.depth_total))
    check_state_dict(full, state, what=f"{name} ({located.label})", hint=_size_hint(checkpoint, name, family))
    kept = {k: v for k, v in state.items() if (block_index(k) or 0) < the_plan.config.depth}
    # The encoder takes these tensors over (assign=True): never the caller's own.
    return kept if located.owned else {k: v.clone() for k, v in kept.items()}


def build_encoder(the_plan: Plan, state: Mapping[str, torch.Tensor] | None, *, dtype: torch.dtype,
                  device: torch.device | str, seed: int = 0) -> VideoMAEEncoder:
    """The planned encoder on ``device`` in ``dtype``, holding ``state`` (or seeded random weights).

    Built on the meta device, so no memory is spent on an initialisation that is thrown away; the checkpoint's
    tensors become the weights (``assign=True``) and are copied only to change dtype or device.
    """
    with torch.device("meta"):
        encoder = VideoMAEEncoder(the_plan.config)
    if state is None:
        encoder = encoder.to(dtype=dtype).to_empty(device=device)
        encoder.reset_buffers()
        if torch.device(device).type != "meta":
            encoder.init_weights(seed)
        return encoder
    encoder.load_state_dict(state, strict=True, assign=True)
    encoder.reset_buffers(device=next(iter(state.values())).device)
    return encoder.to(device=device, dtype=dtype)


def emit_notes(notes: tuple[str, ...], name: str, source: str) -> None:
    if notes:
        lines = "\n".join(f"  - {note}" for note in notes)
        warnings.warn(f"{name} from {source}:\n{lines}", CheckpointNote, stacklevel=3)
