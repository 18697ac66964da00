"""Our tokens equal transformers' VideoMAEModel on the same weights, in both checkpoint layouts."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from salt_vla_videomae.loading import CheckpointNote
from salt_vla_videomae.teacher import VideoMAETeacher, create_videomae_teacher


def _create(name: str, pretrained, **kwargs) -> VideoMAETeacher:
    """Like the ``load_teacher`` fixture, but checkpoint notes are not silenced."""
    family, size = name.split("_")
    return create_videomae_teacher(family, size, pretrained=pretrained, **kwargs)


# (size, frames, image_size, mean_pooling): two sizes, two frame counts (and resolutions), with and without the
# mean-pooling configuration (which decides whether the checkpoint has a final norm): every combination for
# ViT-S, and both frame counts and both configurations for ViT-B (4x cheaper than every combination).
CASES = [("small", 4, 64, False), ("small", 4, 64, True), ("small", 8, 48, False), ("small", 8, 48, True),
         ("base", 4, 64, True), ("base", 8, 48, False)]


@pytest.mark.parametrize(("size", "frames", "image_size", "mean_pooling"), CASES)
def test_tokens_match_transformers(reference, load_teacher, random_video, size, frames, image_size, mean_pooling):
    ref = reference(size, frames, image_size, mean_pooling)
    teacher = load_teacher(f"videomae_{size}", f"local-dir:{ref.directory}")
    assert teacher.encoder.config.num_frames == frames and teacher.encoder.config.image_size == image_size
    assert teacher.norm_source == (None if mean_pooling else "norm")  # "auto" follows the checkpoint
    video = random_video(frames, image_size)
    torch.testing.assert_close(teacher.targets(video), ref.tokens(video), rtol=1e-5, atol=1e-5)


def test_uint8_input_equals_float_input(reference, load_teacher):
    ref = reference("small")
    teacher = load_teacher("videomae_small", f"local-dir:{ref.directory}")
    frames = torch.randint(0, 256, (2, 3, 4, 64, 64), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(teacher.targets(frames), ref.tokens(frames.float() / 255), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layer", [0, 5, -4])
def test_intermediate_layer_matches_transformers_hidden_states(reference, load_teacher, random_video, layer):
    ref = reference("small")
    video = random_video(4, 64)
    hidden = ref.hidden_states(video)[1:][layer]  # [0] is the embedding output
    raw = load_teacher("videomae_small", f"local-dir:{ref.directory}", target_layer=layer, final_norm=False)
    assert len(raw.encoder.blocks) == layer % 12 + 1  # later blocks are not built
    torch.testing.assert_close(raw.targets(video), hidden, rtol=1e-5, atol=1e-5)
    normed = load_teacher("videomae_small", f"local-dir:{ref.directory}", target_layer=layer, final_norm=True)
    with torch.inference_mode():
        expected = ref.model.layernorm(hidden)
    torch.testing.assert_close(normed.targets(video), expected, rtol=1e-5, atol=1e-5)


def test_kept_tokens_match_transformers_masked_forward(reference, load_teacher, random_video):
    ref = reference("small")
    teacher = load_teacher("videomae_small", f"local-dir:{ref.directory}")
    video = random_video(4, 64)
    generator = torch.Generator().manual_seed(2)
    keep = torch.stack([torch.randperm(32, generator=generator)[:12].sort().values for _ in range(2)])
    masked = torch.ones(2, 32, dtype=torch.bool).scatter_(1, keep, False)  # transformers: True = dropped
    with torch.inference_mode():
        ours = teacher.encoder(video, keep)
    torch.testing.assert_close(ours, ref.tokens(video, bool_masked_pos=masked), rtol=1e-5, atol=1e-5)


def _original_layout(model: torch.nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    """The same weights as the original VideoMAE/VideoMAEv2 code names them, read off transformers' modules."""
    state: dict[str, torch.Tensor] = {}

    def put(name: str, module: torch.nn.Module) -> None:
        state[f"{prefix}{name}.weight"] = module.weight.detach().clone()
        state[f"{prefix}{name}.bias"] = module.bias.detach().clone()

    put("patch_embed.proj", model.embeddings.patch_embeddings.projection)
    for i, layer in enumerate(model.encoder.layer):
        attention = layer.attention.attention
        put(f"blocks.{i}.norm1", layer.layernorm_before)
        put(f"blocks.{i}.norm2", layer.layernorm_after)
        put(f"blocks.{i}.attn.proj", layer.attention.output.dense)
        put(f"blocks.{i}.mlp.fc1", layer.intermediate.dense)
        put(f"blocks.{i}.mlp.fc2", layer.output.dense)
        weights = [attention.query.weight, attention.key.weight, attention.value.weight]
        state[f"{prefix}blocks.{i}.attn.qkv.weight"] = torch.cat(weights).detach().clone()
        # transformers 4 keeps q_bias/v_bias parameters; transformers 5 has query.bias/value.bias (and a key bias).
        q_bias = getattr(attention, "q_bias", None)
        state[f"{prefix}blocks.{i}.attn.q_bias"] = (attention.query.bias if q_bias is None else q_bias).detach().clone()
        v_bias = getattr(attention, "v_bias", None)
        state[f"{prefix}blocks.{i}.attn.v_bias"] = (attention.value.bias if v_bias is None else v_bias).detach().clone()
    if model.layernorm is not None:
        put("norm", model.layernorm)
    return state


def test_videomaev2_pretraining_checkpoint_loads_identically(reference, load_teacher, random_video, tmp_path):
    """A VideoMAEv2 pretraining .pth: {"model": encoder.* + decoder.*}, original key names."""
    ref = reference("small", eps=1e-6)  # the original code's epsilon, which a config-less checkpoint implies
    state = _original_layout(ref.model, "encoder.")
    state.update({"decoder.blocks.0.attn.qkv.weight": torch.randn(576, 192), "decoder.norm.weight": torch.ones(192),
                  "decoder.head.weight": torch.randn(1536, 192), "encoder_to_decoder.weight": torch.randn(192, 384),
                  "mask_token": torch.zeros(1, 1, 192)})
    path = tmp_path / "vit_s_pretrain.pth"
    torch.save({"model": state, "epoch": 799}, path)

    with pytest.warns(CheckpointNote, match=r"ignored 5 pretraining decoder keys \(decoder\.\*, encoder_to_decoder"):
        original = _create("videomae_small", path, allow_torch=True, num_frames=4, image_size=64)
    converted = load_teacher("videomae_small", f"local-dir:{ref.directory}")
    video = random_video(4, 64)
    assert torch.equal(original.targets(video), converted.targets(video))
    torch.testing.assert_close(original.targets(video), ref.tokens(video), rtol=1e-5, atol=1e-5)
    assert original.fingerprint() == converted.fingerprint()  # same weights, same preprocessing


def test_finetuned_checkpoint_with_fc_norm(reference, load_teacher, random_video, tmp_path):
    """A fine-tuned VideoMAEv2 checkpoint in safetensors under 'model.' (the Hub remote-code layout): no
    final norm, an fc_norm and a classifier head."""
    from safetensors.torch import save_file

    ref = reference("small", mean_pooling=True, eps=1e-6)
    state = _original_layout(ref.model, "model.")
    fc_weight, fc_bias = torch.rand(384) + 0.5, torch.randn(384) * 0.1
    state.update({"model.fc_norm.weight": fc_weight, "model.fc_norm.bias": fc_bias,
                  "model.head.weight": torch.randn(710, 384), "model.head.bias": torch.zeros(710)})
    path = tmp_path / "vit_s_k710.safetensors"
    save_file(state, path)
    video = random_video(4, 64)

    with pytest.warns(CheckpointNote, match="only a mean-pooling fc_norm"):
        auto = _create("videomae_small", str(path), num_frames=4, image_size=64)
    torch.testing.assert_close(auto.targets(video), ref.tokens(video), rtol=1e-5, atol=1e-5)
    with pytest.warns(CheckpointNote, match="fc_norm\\) is applied to every token"):
        per_token = _create("videomae_small", str(path), num_frames=4, image_size=64, final_norm=True)
    assert per_token.norm_source == "fc_norm"
    expected = F.layer_norm(ref.tokens(video), (384,), fc_weight, fc_bias, eps=1e-6)
    torch.testing.assert_close(per_token.targets(video), expected, rtol=1e-5, atol=1e-5)


def test_transformers5_layout_with_key_bias(reference, random_video):
    """transformers 5 saves query/key/value biases; a key bias changes no output (softmax is shift-invariant)."""
    from safetensors.torch import load_file

    ref = reference("small")
    state = load_file(ref.directory / "model.safetensors")
    renamed = {}
    for key, value in state.items():
        if key.endswith(("attention.q_bias", "attention.v_bias")):
            which = "query" if key.endswith("q_bias") else "value"
            renamed[key.rsplit(".", 1)[0] + f".{which}.bias"] = value
            renamed[key.rsplit(".", 1)[0] + ".key.bias"] = torch.randn_like(value)
        else:
            renamed[key] = value
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        teacher = _create("videomae_small", renamed, num_frames=4, image_size=64, final_norm=True)
    assert any("non-zero attention key biases" in str(w.message) for w in caught)
    video = random_video(4, 64)
    torch.testing.assert_close(teacher.targets(video), ref.tokens(video), rtol=1e-4, atol=1e-4)


def test_bfloat16_weights_and_autocast_stay_close_to_float32(reference, load_teacher, random_video):
    ref = reference("small")
    video = random_video(4, 64)
    exact = load_teacher("videomae_small", f"local-dir:{ref.directory}").targets(video)
    bf16 = load_teacher("videomae_small", f"local-dir:{ref.directory}", dtype="bfloat16")
    assert bf16.encoder.pixel_mean.dtype == torch.float32  # normalisation constants are never rounded
    low = bf16.targets(video)
    assert low.dtype == torch.bfloat16
    fp32 = load_teacher("videomae_small", f"local-dir:{ref.directory}")
    with torch.autocast("cpu", torch.bfloat16):
        mixed = fp32.targets(video)
    for approx in (low.float(), mixed.float()):
        relative = (approx - exact).norm() / exact.norm()
        assert relative < 0.03, relative


def test_targets_are_plain_tensors_usable_in_any_loss(reference, load_teacher, random_video):
    teacher = load_teacher("videomae_small", f"local-dir:{reference('small').directory}")
    targets = teacher.targets(random_video(4, 64))
    assert not targets.requires_grad and not targets.is_inference()
    prediction = torch.zeros_like(targets, requires_grad=True)
    F.mse_loss(prediction, targets).backward()  # mse saves its target for backward: inference tensors fail here
    assert prediction.grad is not None and torch.is_grad_enabled()
