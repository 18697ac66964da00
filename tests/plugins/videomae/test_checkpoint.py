"""The pure checkpoint filter: both layouts, every wrapper and prefix, what is dropped and why."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from salt_vla_videomae.checkpoint import checkpoint_filter_fn
from salt_vla_videomae.config import EncoderConfig
from salt_vla_videomae.model import VideoMAEEncoder, sinusoid_table

TINY = EncoderConfig(embed_dim=32, depth=2, num_heads=2, mlp_dim=64, num_frames=2, image_size=32)


def tiny_state(final_norm: bool = True) -> dict[str, torch.Tensor]:
    """An original-layout encoder state dict (``blocks.N.attn.qkv`` + q/v biases), random values."""
    encoder = VideoMAEEncoder(EncoderConfig(**{**TINY.to_dict(), "final_norm": final_norm}))
    encoder.init_weights(seed=3)
    with torch.no_grad():
        for param in encoder.parameters():
            param.add_(torch.randn(param.shape, generator=torch.Generator().manual_seed(param.numel())) * 0.1)
    return {k: v.detach().clone() for k, v in encoder.state_dict().items()}


def transformers_state(original: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The same weights under transformers 4 names (VideoMAEForPreTraining: a ``videomae.`` prefix)."""
    hf = {"videomae.embeddings.patch_embeddings.projection.weight": original["patch_embed.proj.weight"],
          "videomae.embeddings.patch_embeddings.projection.bias": original["patch_embed.proj.bias"],
          "videomae.layernorm.weight": original["norm.weight"], "videomae.layernorm.bias": original["norm.bias"]}
    for i in range(TINY.depth):
        layer, block = f"videomae.encoder.layer.{i}.", f"blocks.{i}."
        q, k, v = original[block + "attn.qkv.weight"].chunk(3)
        hf.update({
            layer + "attention.attention.query.weight": q, layer + "attention.attention.key.weight": k,
            layer + "attention.attention.value.weight": v,
            layer + "attention.attention.q_bias": original[block + "attn.q_bias"],
            layer + "attention.attention.v_bias": original[block + "attn.v_bias"],
        })
        for ours, theirs in (("norm1", "layernorm_before"), ("norm2", "layernorm_after"),
                             ("attn.proj", "attention.output.dense"), ("mlp.fc1", "intermediate.dense"),
                             ("mlp.fc2", "output.dense")):
            for kind in ("weight", "bias"):
                hf[f"{layer}{theirs}.{kind}"] = original[f"{block}{ours}.{kind}"]
    return hf


def assert_same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert sorted(a) == sorted(b)
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_transformers_layout_becomes_the_original_layout():
    original = tiny_state()
    converted = checkpoint_filter_fn(transformers_state(original))
    assert converted.layout == "transformers"
    assert_same_state(converted.state, original)
    assert (converted.embed_dim, converted.depth, converted.patch) == (32, 2, 16)
    assert converted.has_norm and not converted.has_fc_norm and not converted.layer_scale


def test_filter_is_pure():
    hf = transformers_state(tiny_state())
    before = {k: v.clone() for k, v in hf.items()}
    checkpoint_filter_fn(hf)
    assert_same_state(hf, before)


WRAPPERS = st.sampled_from([None, "model", "module", "state_dict"])
PREFIXES = st.sampled_from(["", "module.", "model.", "backbone.", "module.model."])


@settings(max_examples=40, deadline=None)
@given(wrapper=WRAPPERS, prefix=PREFIXES, encoder_prefix=st.booleans(), decoder=st.booleans(), head=st.booleans(),
       transformers_layout=st.booleans())
def test_any_wrapping_gives_the_same_encoder(wrapper, prefix, encoder_prefix, decoder, head, transformers_layout):
    original = tiny_state()
    state = transformers_state(original) if transformers_layout else {
        ("encoder." if encoder_prefix else "") + k: v for k, v in original.items()}
    if decoder:
        state.update({"decoder.blocks.0.attn.qkv.weight": torch.ones(6, 2), "encoder_to_decoder.weight": torch.ones(2, 32),
                      "mask_token": torch.zeros(1, 1, 2)})
    if head:
        state.update({"head.weight": torch.ones(5, 32), "fc_norm.weight": torch.ones(32), "fc_norm.bias": torch.zeros(32)})
    state = {prefix + k: v for k, v in state.items()}
    wrapped = state if wrapper is None else {wrapper: state, "epoch": 3, "optimizer": {"lr": 1e-3}}

    converted = checkpoint_filter_fn(wrapped)
    expected = dict(original)
    if head:
        expected.update({"fc_norm.weight": torch.ones(32), "fc_norm.bias": torch.zeros(32)})
    assert_same_state(converted.state, expected)
    assert any("pretraining decoder" in note for note in converted.notes) == decoder
    assert any("classifier head" in note for note in converted.notes) == head
    assert len(converted.ignored) == 3 * decoder + head


def test_full_qkv_bias_is_split_and_the_key_part_dropped():
    original = tiny_state()
    state = dict(original)
    for i in range(TINY.depth):
        q, v = state.pop(f"blocks.{i}.attn.q_bias"), state.pop(f"blocks.{i}.attn.v_bias")
        state[f"blocks.{i}.attn.qkv.bias"] = torch.cat([q, torch.full_like(q, 0.5), v])
    converted = checkpoint_filter_fn(state)
    assert_same_state(converted.state, original)
    assert any("2 non-zero attention key biases" in note for note in converted.notes)


def test_a_zero_key_bias_is_dropped_silently():
    state = dict(tiny_state())
    state["blocks.0.attn.k_bias"] = torch.zeros(32)
    converted = checkpoint_filter_fn(state)
    assert "blocks.0.attn.k_bias" in converted.ignored and not converted.notes


def test_a_stored_fixed_position_table_is_dropped():
    state = {**tiny_state(), "pos_embed": sinusoid_table(TINY.num_tokens, 32).float().unsqueeze(0)}
    converted = checkpoint_filter_fn(state)
    assert "pos_embed" not in converted.state
    assert any("fixed sin-cos table" in note for note in converted.notes)


def test_a_learned_position_table_is_refused():
    state = {**tiny_state(), "pos_embed": torch.randn(1, TINY.num_tokens, 32)}
    with pytest.raises(ValueError, match="learned"):
        checkpoint_filter_fn(state)


def test_layer_scale_is_detected():
    state = {**tiny_state(), "blocks.0.gamma_1": torch.ones(32), "blocks.0.gamma_2": torch.ones(32)}
    assert checkpoint_filter_fn(state).layer_scale


def test_unrecognised_keys_are_reported():
    with pytest.raises(ValueError, match=r"No VideoMAE encoder weights found among 2 tensors \(first keys: "
                                         r"conv1.weight, fc.weight\)"):
        checkpoint_filter_fn({"conv1.weight": torch.ones(1), "fc.weight": torch.ones(1)})
