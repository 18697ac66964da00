"""The video student: shapes, masked forward, input errors, registered sizes, inflation from timm."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import timm
import torch

import salt_vla
from salt_vla.interfaces import Encoder
from salt_vla.models import VideoViT, VideoViTConfig, video_vit_config
from salt_vla.models.inflate import inflate_image_vit_state_dict
from salt_vla.models.layers import trunc_normal_

MICRO = dict(embed_dim=48, depth=2, num_heads=3, patch_size=8, tubelet_size=2, num_frames=4, img_size=32)


def clip(b=2, t=4, s=32, seed=0):
    return torch.randint(0, 256, (b, 3, t, s, s), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def test_encoder_protocol_and_shapes():
    model = VideoViT(VideoViTConfig(**MICRO))
    assert isinstance(model, Encoder)
    assert model.patch_size == (2, 8, 8) and model.grid(4, 32, 32) == (2, 4, 4)
    assert model(clip()).shape == (2, 32, 48)
    keep = torch.tensor([[0, 5, 9], [1, 2, 31]])
    assert model(clip(), keep).shape == (2, 3, 48)


def test_keep_all_equals_full_forward_and_float_equals_uint8():
    model = VideoViT(VideoViTConfig(**MICRO)).eval()
    video = clip()
    full = model(video)
    everything = torch.arange(32).repeat(2, 1)
    torch.testing.assert_close(model(video, everything), full)
    torch.testing.assert_close(model(video.float() / 255.0), full, rtol=1e-5, atol=1e-5)


def test_tokens_outside_keep_do_not_influence_kept_outputs():
    model = VideoViT(VideoViTConfig(**MICRO)).eval()
    video = clip()
    keep = torch.tensor([[0, 3, 7, 8]] * 2)
    changed = video.clone()
    changed[:, :, :2, :8, 8:16] = 0  # the pixels of token 1 (t'=0, row 0, column 1), which is not kept
    torch.testing.assert_close(model(video, keep), model(changed, keep))


@pytest.mark.parametrize(
    ("shape", "dtype", "match"),
    [
        ((2, 3, 5, 32, 32), torch.uint8, "T=5"),
        ((2, 3, 4, 30, 32), torch.uint8, "H=30"),
        ((2, 1, 4, 32, 32), torch.uint8, "C=3 channels"),
        ((3, 4, 32, 32), torch.uint8, r"\[B, C, T, H, W\]"),
        ((2, 3, 4, 32, 32), torch.int32, "uint8"),
    ],
)
def test_bad_video_errors_name_shape_and_fix(shape, dtype, match):
    model = VideoViT(VideoViTConfig(**MICRO))
    with pytest.raises(ValueError, match=match):
        model(torch.zeros(shape, dtype=dtype))


def test_already_normalised_float_input_is_refused():
    model = VideoViT(VideoViTConfig(**MICRO))
    with pytest.raises(ValueError, match=r"expected \[0, 1\]"):
        model(torch.randn(1, 3, 4, 32, 32))


def test_named_sizes_match_timm_parameter_counts():
    for size, tolerance in (("tiny", 0.03), ("small", 0.02), ("base", 0.01)):
        ours = sum(p.numel() for p in salt_vla.create_encoder(f"vit_{size}_patch16_t2").parameters())
        image = sum(p.numel() for p in timm.create_model(f"vit_{size}_patch16_224", num_classes=0).parameters())
        assert abs(ours - image) / image < tolerance, (size, ours, image)


def test_the_docs_give_every_named_encoders_exact_parameter_count():
    """docs/models.md's table: one row per registered encoder, its width/depth/heads and its exact parameter
    count (each built on the meta device: no memory, even for the 631M-parameter vit_huge)."""
    docs = (Path(__file__).resolve().parents[3] / "docs" / "models.md").read_text()
    rows = {name: (shape, count) for name, shape, count in
            re.findall(r"^\| `(vit_\w+)` \| (\d+, \d+, \d+) \| ([\d,]+) \|", docs, re.M)}
    assert sorted(rows) == salt_vla.list_names("encoder")
    for name, (shape, count) in rows.items():
        model = salt_vla.create_encoder(name, device="meta")
        assert shape == f"{model.config.embed_dim}, {model.config.depth}, {model.config.num_heads}", name
        assert count == f"{sum(p.numel() for p in model.parameters()):,}", name


def test_gradient_checkpointing_gives_same_gradients():
    torch.manual_seed(0)
    model = VideoViT(VideoViTConfig(**MICRO))
    video = clip()
    model(video).sum().backward()
    plain = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model.set_grad_checkpointing(True)
    model(video).sum().backward()
    for a, p in zip(plain, model.parameters()):
        torch.testing.assert_close(a, p.grad, rtol=1e-5, atol=1e-6)


def test_learned_pos_embed_resamples_to_other_grids():
    model = VideoViT(VideoViTConfig(**{**MICRO, "pos_embed": "learned"}))
    assert model(torch.zeros(1, 3, 8, 48, 48, dtype=torch.uint8)).shape == (1, 4 * 6 * 6, 48)


@pytest.mark.parametrize("frames", [2, 8])
def test_inflation_preserves_image_model_on_repeated_frames(frames):
    image = timm.create_model("vit_tiny_patch16_224", class_token=False, global_pool="avg", fc_norm=False,
                              num_classes=0, img_size=64).eval()
    config = video_vit_config("vit_tiny_patch16_t2", num_frames=frames, img_size=64, pos_embed="learned",
                              mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    video_model = VideoViT(config).eval()
    video_model.load_state_dict(inflate_image_vit_state_dict(image.state_dict(), config))
    picture = torch.rand(1, 3, 64, 64)
    expected = image.forward_features((picture - 0.5) / 0.5)  # [1, 16, 192]
    tokens = video_model(picture.unsqueeze(2).repeat(1, 1, frames, 1, 1))  # [1, t' * 16, 192]
    for t in range(frames // 2):
        torch.testing.assert_close(tokens[:, t * 16:(t + 1) * 16], expected, rtol=1e-4, atol=1e-4)


def test_inflation_with_class_token_and_other_patch_size():
    image = timm.create_model("vit_tiny_patch16_224", num_classes=10, img_size=64)
    config = video_vit_config("vit_tiny_patch16_t2", num_frames=4, img_size=96, patch_size=8, pos_embed="learned")
    state = inflate_image_vit_state_dict(image.state_dict(), config, temporal_init="center")
    assert state["patch_embed.weight"].shape == (192, 3, 2, 8, 8)
    assert state["pos_embed"].shape == (1, 2 * 12 * 12, 192)
    assert not any(k.startswith(("cls_token", "head")) for k in state)
    VideoViT(config).load_state_dict(state)  # strict: every key fits


def test_inflation_refuses_sincos_and_wrong_width():
    image = timm.create_model("vit_tiny_patch16_224", num_classes=0, img_size=64)
    with pytest.raises(ValueError, match="pos_embed='learned'"):
        inflate_image_vit_state_dict(image.state_dict(), video_vit_config("vit_tiny_patch16_t2"))
    from salt_vla.weights import StateDictMismatchError, check_state_dict

    config = video_vit_config("vit_small_patch16_t2", num_frames=4, img_size=64, pos_embed="learned")
    with pytest.raises(StateDictMismatchError, match="shape mismatch"):
        check_state_dict(VideoViT(config), inflate_image_vit_state_dict(image.state_dict(), config))


def test_matmul_patch_embedding_equals_the_conv3d_it_replaces():
    from salt_vla.models.layers import normalize_video

    model = VideoViT(VideoViTConfig(**MICRO))
    video = torch.rand(2, 3, 4, 32, 32)
    conv = model.patch_embed(normalize_video(video, model.mean, model.std)).flatten(2).transpose(1, 2)
    expected = conv + model.position_embedding((2, 4, 4), torch.float32)
    torch.testing.assert_close(model.embed(video), expected, rtol=1e-5, atol=1e-5)


def test_trunc_normal_draws_only_normal_numbers_so_a_seed_means_the_same_weights_on_any_torch():
    # torch.nn.init.trunc_normal_ changed its sampler in PyTorch 2.13; ours uses normal_ alone (stable across releases).
    wide = trunc_normal_(torch.empty(5000), std=0.02, generator=torch.Generator().manual_seed(3))
    assert torch.equal(wide, torch.empty(5000).normal_(0.0, 0.02, generator=torch.Generator().manual_seed(3)))
    narrow = trunc_normal_(torch.empty(5000), std=1.0, bound=0.5, generator=torch.Generator().manual_seed(3))
    assert narrow.abs().max() <= 0.5 and narrow.std() > 0.2  # redrawn, not clamped to the bound
    assert (narrow.abs() == 0.5).sum() == 0
    torch.manual_seed(0)
    first = VideoViT(VideoViTConfig(embed_dim=48, depth=2, num_heads=3, patch_size=8, num_frames=4, img_size=32))
    torch.manual_seed(0)
    again = VideoViT(VideoViTConfig(embed_dim=48, depth=2, num_heads=3, patch_size=8, num_frames=4, img_size=32))
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))
