"""The student as a policy backbone: pooling shapes, frozen vs trainable, loading from a checkpoint."""

from __future__ import annotations

import pytest
import torch

from salt_vla import hub
from salt_vla.backbone import VideoBackbone, load_backbone
from salt_vla.models import VideoViT, VideoViTConfig

CONFIG = VideoViTConfig(embed_dim=48, depth=1, num_heads=3, patch_size=8, tubelet_size=2, num_frames=4, img_size=32)
VIDEO = torch.randint(0, 256, (2, 3, 4, 32, 32), dtype=torch.uint8)


@pytest.mark.parametrize(("pooling", "shape"), [("mean", (2, 48)), ("tokens", (2, 32, 48)), ("time", (2, 2, 48))])
def test_pooling_shapes(pooling, shape):
    assert VideoBackbone(VideoViT(CONFIG), pooling=pooling)(VIDEO).shape == shape


def test_frozen_backbone_has_no_gradients_and_stays_in_eval():
    backbone = VideoBackbone(VideoViT(CONFIG), trainable=False)
    head = torch.nn.Linear(48, 2)
    backbone.train()
    assert not backbone.encoder.training
    head(backbone(VIDEO)).sum().backward()
    assert all(p.grad is None for p in backbone.parameters()) and head.weight.grad is not None


def test_trainable_backbone_gets_gradients():
    backbone = VideoBackbone(VideoViT(CONFIG), trainable=True)
    backbone(VIDEO).sum().backward()
    assert all(p.grad is not None for p in backbone.parameters())


def test_load_backbone_from_checkpoint(tmp_path):
    encoder = VideoViT(CONFIG).eval()
    hub.save_pretrained(encoder, tmp_path / "student")
    backbone = load_backbone(f"local-dir:{tmp_path / 'student'}", pooling="mean")
    torch.testing.assert_close(backbone(VIDEO), encoder(VIDEO).mean(1))
    with pytest.raises(ValueError, match="pooling='max'"):
        VideoBackbone(encoder, pooling="max")
