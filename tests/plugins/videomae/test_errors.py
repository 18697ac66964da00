"""Bad input: each error names the value seen, what was expected and the fix."""

from __future__ import annotations

import json
import warnings

import pytest
import torch
from salt_vla_videomae.config import SIZES, EncoderConfig
from salt_vla_videomae.loading import CheckpointNote
from salt_vla_videomae.model import VideoMAEEncoder
from salt_vla_videomae.teacher import create_videomae_teacher

from salt_vla.weights import StateDictMismatchError, WeightSourceError


def meta_state(size: str, **overrides) -> dict[str, torch.Tensor]:
    """The state dict of a full-size encoder on the meta device: real keys and shapes, no memory."""
    with torch.device("meta"):
        return VideoMAEEncoder(EncoderConfig.from_size(SIZES[size], **overrides)).state_dict()


def test_a_giant_checkpoint_for_a_base_teacher_gets_one_error_naming_the_fitting_size():
    with pytest.raises(StateDictMismatchError) as caught:
        create_videomae_teacher("videomaev2", "base", pretrained=meta_state("giant"))
    message = str(caught.value)
    assert "The state dict does not fit videomaev2_base" in message
    assert "unexpected (364)" in message  # blocks 12..39, 13 tensors each
    assert "shape mismatch (checkpoint vs model) (160)" in message  # 12 blocks x 13 + embedding + norm
    assert "ViT-giant (width 1408, depth 40, patch 14): use 'videomaev2_giant'" in message
    assert len(caught.value.unexpected) == 364 and not caught.value.missing
    assert ("patch_embed.proj.weight", (1408, 3, 2, 14, 14), (768, 3, 2, 16, 16)) in caught.value.mismatched


def test_a_base_checkpoint_for_a_large_teacher_lists_missing_blocks_and_suggests_base():
    with pytest.raises(StateDictMismatchError, match=r"(?s)missing \(156\): blocks\.12\..*use 'videomae_base'"):
        create_videomae_teacher("videomae", "large", pretrained=meta_state("base"))


def test_a_checkpoint_of_no_known_size_says_so():
    with pytest.raises(StateDictMismatchError, match="width 512, depth 12, patch 16, which matches no VideoMAE size"):
        create_videomae_teacher("videomae", "base", pretrained=meta_state("base", embed_dim=512, num_heads=8))


def test_pretraining_decoder_keys_are_ignored_with_a_note():
    state = {f"encoder.{k}": v for k, v in meta_state("small").items()}
    state["decoder.blocks.0.mlp.fc1.weight"] = torch.empty(768, 192, device="meta")
    state["encoder_to_decoder.weight"] = torch.empty(192, 384, device="meta")
    with pytest.warns(CheckpointNote, match=r"ignored 2 pretraining decoder keys .*: the encoder is loaded"):
        teacher = create_videomae_teacher("videomae", "small", pretrained=state, device="meta")
    assert teacher.norm_source == "norm" and any("decoder" in note for note in teacher.notes)


def test_clip_shape_must_match_the_checkpoint_config(tmp_path):
    """Checked before the weights are read (the weight file here is not even valid)."""
    (tmp_path / "model.safetensors").write_bytes(b"not read")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "videomae", "hidden_size": 384,
                                                      "num_attention_heads": 6, "num_frames": 8, "image_size": 112}))
    with pytest.raises(ValueError, match=r"num_frames=16 does not match the checkpoint \(.* is configured for "
                                         r"num_frames=8\).*Leave num_frames unset \(or pass 8\)"):
        create_videomae_teacher("videomae", "small", pretrained=f"local-dir:{tmp_path}", num_frames=16)


def test_head_count_must_match(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"not read")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "videomae", "num_attention_heads": 8}))
    with pytest.raises(ValueError, match="has 8 attention heads; videomae_base has 12"):
        create_videomae_teacher("videomae", "base", pretrained=f"local-dir:{tmp_path}")


def test_pickle_files_need_allow_torch(tmp_path):
    torch.save({"model": {}}, tmp_path / "checkpoint.pth")
    with pytest.raises(WeightSourceError, match="allow_torch=True"):
        create_videomae_teacher("videomae", "small", pretrained=f"local-dir:{tmp_path}")
    with pytest.raises(WeightSourceError, match="allow_torch=True"):
        create_videomae_teacher("videomae", "small", pretrained=str(tmp_path / "checkpoint.pth"))


def test_hub_source_offline_and_not_cached():
    with pytest.raises(WeightSourceError, match="HF_HUB_OFFLINE is set and it is not in the local Hugging Face cache"):
        create_videomae_teacher("videomae", "base", pretrained="hf-hub:MCG-NJU/videomae-base")


def test_a_bare_hub_id_is_ambiguous():
    with pytest.raises(WeightSourceError, match="write 'hf-hub:MCG-NJU/videomae-base'"):
        create_videomae_teacher("videomae", "base", pretrained="MCG-NJU/videomae-base")


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"final_norm": "yes"}, r"final_norm='yes'; choose one of True, False, 'auto'"),
    ({"target_layer": 12}, r"target_layer=12 is outside videomae_small's 12 blocks; use an int in -12..11"),
    ({"target_layer": -13}, r"target_layer=-13 is outside"),
    ({"target_layer": True}, r"target_layer=True is outside"),
    ({"dtype": "int8"}, r"dtype='int8' is not supported; use one of float32, fp32, bfloat16"),
    ({"num_frames": 5}, r"num_frames=5 is not a positive multiple of the tubelet 2"),
    ({"image_size": 100}, r"image_size=100 is not a positive multiple of the patch 16"),
    ({"std": (0.2, 0.0, 0.2)}, r"std must be positive"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        create_videomae_teacher("videomae", "small", device="meta", **kwargs)


def test_unknown_size():
    with pytest.raises(ValueError, match="No VideoMAE teacher videomae_giant; available: videomae_small, .*videomaev2_giant"):
        create_videomae_teacher("videomae", "giant")


def test_final_norm_true_needs_a_norm_in_the_checkpoint():
    state = {k: v for k, v in meta_state("small").items() if not k.startswith("norm.")}
    with pytest.raises(ValueError, match=r"final_norm=True, but a state dict in memory has no final norm"):
        create_videomae_teacher("videomae", "small", pretrained=state, final_norm=True)


@pytest.fixture(scope="module")
def tiny_teacher():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CheckpointNote)
        return create_videomae_teacher("videomae", "small", num_frames=2, image_size=32, target_layer=0)


@pytest.mark.parametrize(("video", "match"), [
    (torch.rand(1, 3, 4, 32, 32), r"C, T, H, W = \(3, 2, 32, 32\) \(its configured clip\); got shape \(1, 3, 4, 32, 32\)"),
    (torch.rand(3, 2, 32, 32), r"got shape \(3, 2, 32, 32\)"),
    (torch.rand(1, 2, 3, 32, 32), r"got shape \(1, 2, 3, 32, 32\)"),
    (torch.zeros(1, 3, 2, 32, 32, dtype=torch.int32), r"uint8 \(0-255\) or float in \[0, 1\]; got dtype torch.int32"),
    (torch.full((1, 3, 2, 32, 32), 255.0), r"float but spans \[255, 255\]; expected \[0, 1\]. Pass uint8 frames"),
    (torch.randn(1, 3, 2, 32, 32) * 2, r"float but spans \[-\d"),
])
def test_bad_video(tiny_teacher, video, match):
    tiny_teacher._range_checked = False
    with pytest.raises(ValueError, match=match):
        tiny_teacher.targets(video)


def test_grid_needs_whole_tubelets(tiny_teacher):
    assert tiny_teacher.grid(16, 224, 224) == (8, 14, 14)
    with pytest.raises(ValueError, match=r"T x H x W = \(15, 224, 224\) cannot be cut into \(2, 16, 16\) tubelets"):
        tiny_teacher.grid(15, 224, 224)
