"""The one place where foreign VideoMAE checkpoints become this plugin's key layout.

:func:`checkpoint_filter_fn` is pure (no I/O, the input is never modified) and understands:

- transformers (``VideoMAEModel``, ``VideoMAEForPreTraining``, ``VideoMAEForVideoClassification``):
  ``[videomae.]encoder.layer.N.attention.attention.{query,key,value}.weight`` with ``q_bias``/``v_bias``
  (transformers 4) or ``query.bias``/``key.bias``/``value.bias`` (transformers 5);
- the original VideoMAE / VideoMAEv2 code: ``blocks.N.attn.qkv.weight`` with ``q_bias``/``v_bias``, under an
  optional ``encoder.`` prefix (pretraining checkpoints) and an optional ``model.``/``module.``/``backbone.``
  prefix or ``{"model": ...}``/``{"module": ...}``/``{"state_dict": ...}`` wrapper.

Decoder, pretraining-only and classifier keys are dropped with a note; a key bias, if any, is dropped
too: it adds the same logit to every key of a query, which softmax ignores.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from salt_vla.weights import unwrap_state_dict
from salt_vla_videomae.model import sinusoid_table

_WRAPPER_PREFIXES = ("module.", "model.", "backbone.")
_IGNORED_PREFIXES = {
    "decoder": "pretraining decoder",
    "encoder_to_decoder": "pretraining decoder",
    "decoder_pos_embed": "pretraining decoder",
    "mask_token": "pretraining decoder",
    "head": "classifier head",
    "classifier": "classifier head",
    "cls_head": "classifier head",
}

_LAYER = r"^encoder\.layer\.(\d+)\."
_TRANSFORMERS_RENAMES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement) for pattern, replacement in (
        (r"^embeddings\.patch_embeddings\.projection\.", "patch_embed.proj."),
        (_LAYER + r"layernorm_before\.", r"blocks.\1.norm1."),
        (_LAYER + r"layernorm_after\.", r"blocks.\1.norm2."),
        (_LAYER + r"attention\.attention\.(q_bias|v_bias)$", r"blocks.\1.attn.\2"),
        (_LAYER + r"attention\.attention\.query\.bias$", r"blocks.\1.attn.q_bias"),
        (_LAYER + r"attention\.attention\.key\.bias$", r"blocks.\1.attn.k_bias"),
        (_LAYER + r"attention\.attention\.value\.bias$", r"blocks.\1.attn.v_bias"),
        (_LAYER + r"attention\.attention\.(query|key|value)\.weight$", r"blocks.\1.attn.\2.weight"),
        (_LAYER + r"attention\.output\.dense\.", r"blocks.\1.attn.proj."),
        (_LAYER + r"intermediate\.dense\.", r"blocks.\1.mlp.fc1."),
        (_LAYER + r"output\.dense\.", r"blocks.\1.mlp.fc2."),
        (r"^layernorm\.", "norm."),
    )
)
_BLOCK_INDEX = re.compile(r"^blocks\.(\d+)\.")


@dataclass(frozen=True)
class ConvertedCheckpoint:
    """An encoder state dict in this plugin's layout, and what was done to get it.

    Attributes:
        state: encoder weights; a final norm, if any, under ``norm.*`` and a mean-pooling norm under ``fc_norm.*``.
        layout: ``"transformers"`` or ``"original"``: the layout it came in.
        ignored: keys dropped (decoder, classifier head, key bias, fixed position table).
        notes: one line per thing a user may want to know about the conversion.
    """

    state: dict[str, torch.Tensor]
    layout: str
    ignored: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def embed_dim(self) -> int | None:
        weight = self.state.get("patch_embed.proj.weight")
        return None if weight is None else int(weight.shape[0])

    @property
    def patch(self) -> int | None:
        weight = self.state.get("patch_embed.proj.weight")
        return None if weight is None or weight.ndim != 5 else int(weight.shape[-1])

    @property
    def depth(self) -> int:
        indices = [i for i in map(block_index, self.state) if i is not None]
        return max(indices) + 1 if indices else 0

    @property
    def layer_scale(self) -> bool:
        return any(key.endswith((".gamma_1", ".gamma_2")) for key in self.state)

    @property
    def has_norm(self) -> bool:
        return "norm.weight" in self.state

    @property
    def has_fc_norm(self) -> bool:
        return "fc_norm.weight" in self.state


def block_index(key: str) -> int | None:
    """``N`` of a ``blocks.N.*`` key, else ``None``."""
    match = _BLOCK_INDEX.match(key)
    return int(match.group(1)) if match else None


def _strip_common_prefix(state: dict[str, torch.Tensor], prefixes: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """Remove prefixes that every key shares, repeatedly (``module.model.x`` -> ``x``)."""
    stripped = True
    while state and stripped:
        stripped = False
        for prefix in prefixes:
            if all(key.startswith(prefix) for key in state):
                state = {key[len(prefix):]: value for key, value in state.items()}
                stripped = True
    return state


def _strip_encoder_prefix(key: str) -> str:
    """``videomae.x`` -> ``x`` (transformers task models); ``encoder.blocks...`` -> ``blocks...`` (pretraining)."""
    key = key.removeprefix("videomae.")
    if key.startswith("encoder.") and not key.startswith("encoder.layer."):
        key = key[len("encoder."):]
    return key


def _rename_transformers(key: str) -> str:
    for pattern, replacement in _TRANSFORMERS_RENAMES:
        renamed, count = pattern.subn(replacement, key)
        if count:
            return renamed
    return key  # left as is: reported as unexpected when loading


def _fuse_attention(state: dict[str, torch.Tensor], notes: list[str], ignored: list[str]) -> None:
    """Separate q/k/v weights -> one ``qkv.weight``; a full ``qkv.bias`` -> q/v biases; drop key biases."""
    for key in [k for k in state if k.endswith(".attn.query.weight")]:
        prefix = key[: -len("query.weight")]
        parts = [f"{prefix}{name}.weight" for name in ("query", "key", "value")]
        if all(part in state for part in parts):
            state[f"{prefix}qkv.weight"] = torch.cat([state.pop(part) for part in parts], dim=0)
    for key in [k for k in state if k.endswith(".attn.qkv.bias")]:
        prefix = key[: -len("qkv.bias")]
        q, k, v = state.pop(key).chunk(3)
        state[f"{prefix}q_bias"], state[f"{prefix}k_bias"], state[f"{prefix}v_bias"] = q, k, v
    key_biases = [k for k in state if k.endswith(".attn.k_bias")]
    nonzero = [k for k in key_biases if not state[k].is_meta and bool(state[k].any())]
    for key in key_biases:
        del state[key]
    ignored.extend(key_biases)
    if nonzero:
        notes.append(f"dropped {len(nonzero)} non-zero attention key biases: a key bias adds the same logit to "
                     "every key of a query, which softmax ignores, so outputs are unchanged")


def _drop_fixed_position_table(state: dict[str, torch.Tensor], notes: list[str], ignored: list[str]) -> None:
    table = state.pop("pos_embed", None)
    if table is None:
        return
    ignored.append("pos_embed")
    if table.is_meta or table.ndim != 3:
        return
    expected = sinusoid_table(table.shape[1], table.shape[2]).to(table.dtype).unsqueeze(0)
    if not torch.allclose(table.float(), expected.float(), atol=1e-3):
        raise ValueError(
            "The checkpoint's pos_embed is not VideoMAE's fixed sin-cos table (it was learned: "
            "use_learnable_pos_emb=True). This plugin implements the fixed table of every published VideoMAE "
            "and VideoMAEv2 checkpoint; a learned table is not supported."
        )
    notes.append("dropped the stored pos_embed: it equals the fixed sin-cos table the encoder computes itself")


def checkpoint_filter_fn(state: Mapping[str, object]) -> ConvertedCheckpoint:
    """Convert a VideoMAE / VideoMAEv2 checkpoint (either layout) to this plugin's encoder layout.

    Args:
        state: a state dict as read from disk, possibly wrapped (``{"model": {...}, "optimizer": ...}``).

    Returns:
        the encoder weights and what was dropped; shapes are not checked here (the loader does that).

    Raises:
        ValueError: no VideoMAE encoder keys found (the message shows the first keys seen), or a learned
            position table.
    """
    tensors = {k: v for k, v in unwrap_state_dict(state).items() if isinstance(v, torch.Tensor)}
    tensors = _strip_common_prefix(tensors, _WRAPPER_PREFIXES)
    ignored: list[str] = []
    notes: list[str] = []
    dropped: dict[str, set[str]] = {}
    encoder: dict[str, torch.Tensor] = {}
    for key, value in tensors.items():
        reason = _IGNORED_PREFIXES.get(key.split(".", 1)[0])
        if reason is None:
            encoder[_strip_encoder_prefix(key)] = value
        else:
            ignored.append(key)
            dropped.setdefault(reason, set()).add(key.split(".", 1)[0] + (".*" if "." in key else ""))
    for reason, names in dropped.items():
        count = sum(1 for key in ignored if _IGNORED_PREFIXES.get(key.split(".", 1)[0]) == reason)
        outcome = "the encoder is loaded" if reason == "pretraining decoder" else "targets come from the encoder"
        notes.append(f"ignored {count} {reason} keys ({', '.join(sorted(names))}): {outcome}")

    if any(re.match(_LAYER, key) for key in encoder):
        layout = "transformers"
        encoder = {_rename_transformers(key): value for key, value in encoder.items()}
    elif any(block_index(key) is not None for key in encoder):
        layout = "original"
    else:
        shown = ", ".join(list(tensors)[:8]) or "none"
        raise ValueError(
            f"No VideoMAE encoder weights found among {len(tensors)} tensors (first keys: {shown}). Expected "
            "transformers' 'encoder.layer.N.attention...' or the original 'blocks.N.attn.qkv.weight' layout, "
            "optionally under 'videomae.', 'encoder.', 'model.', 'module.' or 'backbone.'."
        )
    _fuse_attention(encoder, notes, ignored)
    _drop_fixed_position_table(encoder, notes, ignored)
    return ConvertedCheckpoint(state=encoder, layout=layout, ignored=tuple(ignored), notes=tuple(notes))
