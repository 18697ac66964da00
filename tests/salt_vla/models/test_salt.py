"""Predictor, masked prediction, objectives, parameter groups, the stage-1 pixel teacher."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import salt_vla
from salt_vla.interfaces import Teacher
from salt_vla.models import (
    EncoderTeacher,
    MaskedPredictor,
    PixelMAE,
    PixelMAEConfig,
    Predictor,
    PredictorConfig,
    VideoViT,
    VideoViTConfig,
)
from salt_vla.objectives import LOSS_KINDS, LatentLoss
from salt_vla.optim import make_adamw, param_groups

STUDENT = VideoViTConfig(embed_dim=48, depth=2, num_heads=3, patch_size=8, tubelet_size=2, num_frames=4, img_size=32)
GRID = (2, 4, 4)


def video(b=4, seed=0):
    return torch.randint(0, 256, (b, 3, 4, 32, 32), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def smooth_video(b=2, seed=0):
    """Clips with spatial structure (upsampled noise), so masked pixels are predictable from their neighbours."""
    coarse = torch.rand(b, 3, 4, 4, 4, generator=torch.Generator().manual_seed(seed))
    fine = torch.nn.functional.interpolate(coarse, size=(4, 32, 32), mode="trilinear", align_corners=False)
    return (fine * 255).to(torch.uint8)


def salt_model(out_dim=32, loss="mse"):
    torch.manual_seed(0)
    predictor = Predictor(PredictorConfig(in_dim=48, out_dim=out_dim, dim=32, depth=2, num_heads=2))
    return MaskedPredictor(VideoViT(STUDENT), predictor, LatentLoss(loss))


def test_tiny_student_and_predictor_overfit_one_batch():
    teacher = EncoderTeacher(VideoViT(STUDENT))
    clips = video(2)
    targets = teacher.targets(clips)
    masks = salt_vla.create_masker("random_tube", ratio=0.75)(2, GRID, torch.Generator().manual_seed(0))
    model = salt_model(out_dim=teacher.latent_dim, loss="mse")
    optimizer = make_adamw(model, lr=5e-3, weight_decay=0.0)
    losses = []
    for _ in range(200):
        output = model(clips, masks, targets)
        optimizer.zero_grad()
        output.loss.backward()
        optimizer.step()
        losses.append(output.loss.item())
    assert losses[-1] < 0.1 * losses[0], (losses[0], losses[-1])


def test_every_mask_set_gets_a_loss_term():
    model = salt_model()
    masks = salt_vla.create_masker("multiblock_vjepa")(2, GRID, torch.Generator().manual_seed(0))
    output = model(video(2), masks, torch.randn(2, 32, 32), keep_outputs=True)
    assert len(output.per_set) == len(output.predictions) == 2
    torch.testing.assert_close(output.loss, (output.per_set[0] + output.per_set[1]) / 2)
    assert output.predictions[1].shape == (2, masks.pairs[1].target.shape[1], 32)


def test_predictor_output_shape_and_mask_tokens_per_set():
    predictor = Predictor(PredictorConfig(in_dim=48, out_dim=20, dim=32, depth=1, num_heads=2, num_mask_tokens=2))
    context = torch.randn(3, 5, 48)
    context_idx = torch.arange(5).repeat(3, 1)
    target_idx = torch.arange(5, 12).repeat(3, 1)
    first = predictor(context, context_idx, target_idx, GRID, mask_index=0)
    second = predictor(context, context_idx, target_idx, GRID, mask_index=1)
    assert first.shape == (3, 7, 20)
    assert not torch.allclose(first, second)  # separate learned mask tokens


def test_grid_disagreement_is_reported_before_training():
    model = salt_model()
    masks = salt_vla.create_masker("random_tube", ratio=0.5)(2, GRID, torch.Generator())
    with pytest.raises(ValueError, match="Teacher and student token grids disagree"):
        model(video(2), masks, torch.randn(2, 16, 32))  # a teacher with a 2x2x4 grid, say
    wrong_grid = salt_vla.create_masker("random_tube", ratio=0.5)(2, (2, 2, 2), torch.Generator())
    with pytest.raises(ValueError, match="masks were drawn for grid"):
        model(video(2), wrong_grid, torch.randn(2, 32, 32))


@pytest.mark.parametrize("kind", LOSS_KINDS)
def test_losses_are_zero_at_target_and_positive_elsewhere(kind):
    target = torch.randn(2, 5, 8)
    loss = salt_vla.create_loss(kind)
    assert float(loss(target.clone(), target)) == pytest.approx(0.0, abs=1e-6)
    assert float(loss(target + 0.5, target)) > 0


@settings(max_examples=30, deadline=None)
@given(scale=st.floats(0.1, 100.0), shift=st.floats(-10, 10))
def test_layer_norm_targets_make_loss_invariant_to_teacher_scale(scale, shift):
    target = torch.randn(2, 6, 16, generator=torch.Generator().manual_seed(1))
    pred = torch.randn(2, 6, 16, generator=torch.Generator().manual_seed(2))
    loss = LatentLoss("mse", target_norm="layer_norm")
    torch.testing.assert_close(loss(pred, target * scale + shift), loss(pred, target), rtol=1e-3, atol=1e-4)


def test_loss_errors():
    with pytest.raises(ValueError, match="out_dim must equal the teacher's latent_dim"):
        LatentLoss()(torch.randn(1, 2, 3), torch.randn(1, 2, 4))
    with pytest.raises(ValueError, match="kind 'l3'"):
        LatentLoss("l3")


def test_param_groups_exclude_norms_biases_positions_and_tokens():
    model = salt_model()
    model.student.config = VideoViTConfig(**{**STUDENT.__dict__, "pos_embed": "learned"})
    groups = {g["name"]: g for g in param_groups(model, 0.05)}
    names = {id(p): n for n, p in model.named_parameters()}
    no_decay = {names[id(p)] for p in groups["no_decay"]["params"]}
    decay = {names[id(p)] for p in groups["decay"]["params"]}
    assert groups["no_decay"]["weight_decay"] == 0.0 and groups["decay"]["weight_decay"] == 0.05
    assert "predictor.mask_tokens" in no_decay
    assert all(n.endswith(("bias",)) or "norm" in n or "mask_tokens" in n for n in no_decay)
    assert all(n.endswith("weight") and "norm" not in n for n in decay)
    assert "student.blocks.0.attn.qkv.weight" in decay and "student.patch_embed.weight" in decay
    learned = VideoViT(VideoViTConfig(**{**STUDENT.__dict__, "pos_embed": "learned"}))
    assert "pos_embed" in {n for n, p in learned.named_parameters() if id(p) in
                           {id(q) for q in param_groups(learned, 0.1)[1]["params"]}}


def test_encoder_teacher_protocol_and_fingerprint():
    encoder = VideoViT(STUDENT)
    teacher = EncoderTeacher(encoder)
    assert isinstance(teacher, Teacher)
    latents = teacher.targets(video(2))
    assert latents.shape == (2, 32, 48) and not latents.requires_grad
    base = teacher.fingerprint()
    assert base == EncoderTeacher(encoder).fingerprint()
    assert base != EncoderTeacher(encoder, layer=0).fingerprint()
    assert base != EncoderTeacher(encoder, final_norm=False).fingerprint()
    other = VideoViT(STUDENT)
    assert base != EncoderTeacher(other).fingerprint()
    torch.testing.assert_close(EncoderTeacher(encoder, layer=0, final_norm=False).targets(video(2)),
                               encoder.forward_intermediates(video(2), [0])[0])
    with pytest.raises(ValueError, match="outside the encoder's 2 blocks"):
        EncoderTeacher(encoder, layer=5)


def test_pixel_mae_learns_and_its_encoder_is_a_teacher():
    torch.manual_seed(0)
    model = PixelMAE(PixelMAEConfig(STUDENT, decoder_dim=32, decoder_depth=1, decoder_heads=2))
    clips = smooth_video()
    masks = salt_vla.create_masker("random_tube", ratio=0.75)(2, GRID, torch.Generator().manual_seed(0))
    optimizer = make_adamw(model, lr=3e-3, weight_decay=0.05)
    first = None
    for _ in range(80):  # 60 steps end at about half the first loss for any seed: too close to the bound below
        loss = model(clips, masks).loss
        first = first if first is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.5 * first, (first, loss.item())
    assert model.pixel_targets(clips).shape == (2, 32, 2 * 8 * 8 * 3)
    assert EncoderTeacher(model.encoder).targets(clips).shape == (2, 32, 48)
