"""timm habits: ``pretrained=True`` means the name's default weights, and large models build on the meta device."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

import salt_vla
from salt_vla.cli import cli
from salt_vla.models.video_vit import DEFAULT_PRETRAINED, resolve_pretrained


def test_pretrained_true_loads_the_names_default_source(tmp_path):
    timm = pytest.importorskip("timm")
    from safetensors.torch import save_file

    assert resolve_pretrained("vit_tiny_patch16_t2", True) == "timm:vit_tiny_patch16_224"
    image = timm.create_model("vit_tiny_patch16_224", pretrained=False)
    weights = tmp_path / "vit_tiny.safetensors"  # a local copy of the default's weights (no network in tests)
    save_file(image.state_dict(), str(weights))
    video = salt_vla.create_encoder("vit_tiny_patch16_t2", pretrained=True, pretrained_file=str(weights))
    kernel = image.state_dict()["patch_embed.proj.weight"]  # [D, C, p, p], inflated over the tubelet of 2
    assert torch.allclose(video.patch_embed.weight.sum(2), kernel, atol=1e-6)
    assert torch.equal(video.blocks[0].attn.qkv.weight, image.blocks[0].attn.qkv.weight)


def test_pretrained_true_without_a_default_says_what_to_pass():
    assert "vit_micro_patch8_t2" not in DEFAULT_PRETRAINED
    with pytest.raises(ValueError, match=r"'vit_micro_patch8_t2' has no default pretrained weights.*timm:<image ViT>"):
        salt_vla.create_encoder("vit_micro_patch8_t2", pretrained=True)
    with pytest.raises(TypeError, match=r"pretrained must be True/False or a source string.*got int 1"):
        salt_vla.create_encoder("vit_micro_patch8_t2", pretrained=1)
    assert salt_vla.create_encoder("vit_micro_patch8_t2", pretrained=False).config.embed_dim == 96


def test_large_encoders_build_on_the_meta_device():
    with torch.device("meta"):
        large = salt_vla.create_encoder("vit_large_patch16_t2")
    assert {p.device.type for p in large.parameters()} == {"meta"}
    assert sum(p.numel() for p in large.parameters()) > 300e6
    huge = salt_vla.create_encoder("vit_huge_patch16_t2", device="meta", drop_path_rate=0.1)
    assert {p.device.type for p in huge.parameters()} == {"meta"}
    tokens = huge(torch.zeros(1, 3, 16, 224, 224, dtype=torch.uint8, device="meta"))
    assert tokens.shape == (1, 8 * 14 * 14, 1280)
    with pytest.raises(ValueError, match="meta-device model cannot hold"):
        salt_vla.create_encoder("vit_base_patch16_t2", pretrained=True, device="meta")


def test_the_train_config_takes_pretrained_true():
    ok = CliRunner().invoke(cli, ["train", "--print-config", "teacher.name=videomae_base", "student.pretrained=true"])
    assert ok.exit_code == 0, ok.output
    assert "pretrained: true" in ok.output
    bad = CliRunner().invoke(cli, ["train", "--print-config", "teacher.name=videomae_base",
                                   "student.name=vit_micro_patch8_t2", "student.pretrained=true"])
    assert bad.exit_code == 2
    assert "student: pretrained=true: vit_micro_patch8_t2 has no default pretrained weights" in bad.output
