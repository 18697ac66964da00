"""The registered teachers: discovery, the Teacher contract, sizes (giant on the meta device), sources, and
the fingerprint's invariants."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file
from torch import nn

import salt_vla
from salt_vla.interfaces import Encoder, Teacher
from salt_vla.plugins import plugin_statuses
from salt_vla.weights import WeightSourceError

NAMES = ["videomae_small", "videomae_base", "videomae_large", "videomae_huge",
         "videomaev2_base", "videomaev2_large", "videomaev2_huge", "videomaev2_giant"]
# name -> (width, depth, spatial patch, MLP width), as published
SHAPES = {
    "videomae_small": (384, 12, 16, 1536), "videomae_base": (768, 12, 16, 3072),
    "videomae_large": (1024, 24, 16, 4096), "videomae_huge": (1280, 32, 16, 5120),
    "videomaev2_base": (768, 12, 16, 3072), "videomaev2_large": (1024, 24, 16, 4096),
    "videomaev2_huge": (1280, 32, 16, 5120), "videomaev2_giant": (1408, 40, 14, 6144),  # MLP ratio 48/11
}


def parameter_count(width: int, depth: int, patch: int, mlp: int) -> int:
    """Tubelet Conv3d + blocks (2 norms, qkv without bias, q/v biases, proj, MLP) + the final norm."""
    block = 2 * 2 * width + 3 * width * width + 2 * width + width * width + width + 2 * width * mlp + mlp + width
    return 3 * 2 * patch * patch * width + width + depth * block + 2 * width


def test_plugin_is_discovered_and_registers_every_name():
    status = next(s for s in plugin_statuses() if s.name == "videomae")
    assert status.ok, status.error
    assert [n for n in salt_vla.list_names("teacher") if n.startswith("videomae")] == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_every_size_has_the_published_shape(name):
    """Built on the meta device: shapes and parameter counts without allocating (giant is ~1.0B parameters)."""
    width, depth, patch, mlp = SHAPES[name]
    teacher = salt_vla.create_teacher(name, device="meta")
    assert isinstance(teacher, Teacher) and isinstance(teacher, nn.Module) and isinstance(teacher.encoder, Encoder)
    assert teacher.latent_dim == width and len(teacher.encoder.blocks) == depth
    assert teacher.patch_size == (2, patch, patch) and teacher.grid(16, 224, 224) == (8, 224 // patch, 224 // patch)
    assert teacher.encoder.blocks[0].mlp.fc1.out_features == mlp
    assert sum(p.numel() for p in teacher.parameters()) == parameter_count(width, depth, patch, mlp)
    if name == "videomaev2_giant":  # ~1.01B parameters
        tokens = teacher.encoder(torch.empty(2, 3, 16, 224, 224, device="meta"))
        assert tokens.shape == (2, 8 * 16 * 16, 1408)


def test_teacher_is_frozen_and_stays_in_eval_mode(load_teacher, random_video):
    teacher = load_teacher("videomae_small", num_frames=2, image_size=32, target_layer=1)
    assert not any(p.requires_grad for p in teacher.parameters())
    teacher.train()
    assert not teacher.training and not teacher.encoder.training
    video = random_video(2, 32)
    assert torch.equal(teacher(video), teacher.targets(video))  # nn.Module call = targets
    assert teacher.to("cpu", torch.float32) is teacher


@pytest.fixture(scope="module")
def full_small(load_teacher):
    """A full-depth random ViT-S teacher (seed 7) for 2 x 32 x 32 clips, and its state dict."""
    teacher = load_teacher("videomae_small", num_frames=2, image_size=32, final_norm=False, seed=7)
    return teacher, {k: v.contiguous() for k, v in teacher.encoder.state_dict().items()}


def test_random_weights_do_not_depend_on_depth(load_teacher, random_video, full_small):
    """Seeded per parameter: a teacher stopped at block 1 equals the full model's first two blocks."""
    full, state = full_small
    short = load_teacher("videomae_small", num_frames=2, image_size=32, target_layer=1, final_norm=False, seed=7)
    for name, value in short.encoder.state_dict().items():
        assert torch.equal(value, state[name]), name
    video = random_video(2, 32)
    with torch.inference_mode():
        x = full.encoder.patch_embed.proj(full.encoder.normalize(video)).flatten(2).transpose(1, 2)
        x = full.encoder.blocks[1](full.encoder.blocks[0](x + full.encoder.pos_embed))
    torch.testing.assert_close(short.targets(video), x)


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_kept_tokens_follow_the_order_they_are_given_in(small_teacher, random_video, data):
    """Attention is permutation-equivariant: any order of the same kept tokens gives the same rows, reordered."""
    grid = small_teacher.grid(4, 64, 64)
    tokens = grid[0] * grid[1] * grid[2]
    kept = data.draw(st.lists(st.integers(0, tokens - 1), min_size=1, max_size=tokens, unique=True), label="kept")
    video = random_video(4, 64, batch=1, seed=data.draw(st.integers(0, 3), label="seed"))
    with torch.inference_mode():
        given_order = small_teacher.encoder(video, torch.tensor([kept]))
        ordered = small_teacher.encoder(video, torch.tensor([sorted(kept)]))
    rank = {index: position for position, index in enumerate(sorted(kept))}
    torch.testing.assert_close(given_order, ordered[:, [rank[i] for i in kept]], rtol=1e-5, atol=1e-5)


def test_layer_scale_checkpoints(load_teacher, random_video, full_small):
    """gamma_1 = gamma_2 = 1 changes nothing; other values scale the residual branches."""
    _, state = full_small

    def with_layer_scale(value: float):
        gammas = {f"blocks.{i}.gamma_{j}": torch.full((384,), value) for i in range(12) for j in (1, 2)}
        return load_teacher("videomae_small", {**state, **gammas}, num_frames=2, image_size=32, target_layer=0)

    plain = load_teacher("videomae_small", state, num_frames=2, image_size=32, target_layer=0)
    ones, halves = with_layer_scale(1.0), with_layer_scale(0.5)
    video = random_video(2, 32)
    assert ones.encoder.config.layer_scale and not plain.encoder.config.layer_scale
    torch.testing.assert_close(ones.targets(video), plain.targets(video))
    assert not torch.allclose(halves.targets(video), plain.targets(video))


def test_every_kind_of_source_loads_the_same_weights(load_teacher, random_video, full_small, offline_hub):
    """A state dict, a file, 'local-dir:' and 'hf-hub:' (an offline Hugging Face cache) give one teacher,
    equal to the random teacher of the same seed (weights are seeded per parameter)."""
    _, state = full_small
    made = load_teacher("videomae_small", num_frames=2, image_size=32, target_layer=0, final_norm=False, seed=7)
    snapshot = offline_hub("org/tiny-videomae")
    save_file(state, snapshot / "model.safetensors")

    options = dict(num_frames=2, image_size=32, target_layer=0)
    sources = [state, str(snapshot / "model.safetensors"), f"local-dir:{snapshot}", snapshot,
               "hf-hub:org/tiny-videomae", "hf-hub:org/tiny-videomae@main"]
    teachers = [load_teacher("videomae_small", source, **options) for source in sources]
    video = random_video(2, 32)
    for teacher in teachers:
        assert teacher.norm_source is None  # the checkpoint has no final norm: "auto" applies none
        assert teacher.fingerprint() == made.fingerprint()
        assert torch.equal(teacher.targets(video), made.targets(video))
    assert teachers[4].source == "hf-hub:org/tiny-videomae"


def test_hub_pickle_checkpoints_and_files_inside_a_repository(load_teacher, random_video, full_small, offline_hub):
    """A Hub repository with only a .pth (as OpenGVLab's VideoMAE2 distillation files) needs allow_torch, and
    filename= picks one file in it."""
    _, state = full_small
    snapshot = offline_hub("org/videomae2")
    (snapshot / "distill").mkdir()
    torch.save({"module": {f"encoder.{k}": v for k, v in state.items()}}, snapshot / "distill" / "vit_s.pth")
    with pytest.raises(WeightSourceError, match="has no .safetensors weights.*pass allow_torch=True"):
        load_teacher("videomae_small", "hf-hub:org/videomae2", num_frames=2, image_size=32)
    teacher = load_teacher("videomae_small", "hf-hub:org/videomae2", filename="distill/vit_s.pth", allow_torch=True,
                           num_frames=2, image_size=32, target_layer=0)
    assert teacher.source == "hf-hub:org/videomae2 (distill/vit_s.pth)"
    direct = load_teacher("videomae_small", state, num_frames=2, image_size=32, target_layer=0)
    assert teacher.fingerprint() == direct.fingerprint()


def test_the_teacher_never_aliases_a_state_dict_passed_in(load_teacher, random_video, full_small):
    _, state = full_small
    mine = {k: v.clone() for k, v in state.items()}
    teacher = load_teacher("videomae_small", mine, num_frames=2, image_size=32, target_layer=0)
    before = teacher.fingerprint()
    with torch.no_grad():
        for value in mine.values():
            value.add_(1.0)
    assert teacher.fingerprint() == before


# -- fingerprint ----------------------------------------------------------------------------------

BASE = dict(num_frames=2, image_size=32, target_layer=0, final_norm=True, seed=0)
CHANGES = {
    "weights": {"seed": 1}, "target layer": {"target_layer": 1}, "final norm": {"final_norm": False},
    "mean": {"mean": (0.5, 0.5, 0.5)}, "std": {"std": (0.5, 0.5, 0.5)}, "frames": {"num_frames": 4},
    "resolution": {"image_size": 48},
}


@pytest.fixture(scope="module")
def base_fingerprint(load_teacher) -> str:
    return load_teacher("videomae_small", **BASE).fingerprint()


def test_fingerprint_is_stable_when_nothing_changes(load_teacher, base_fingerprint):
    assert load_teacher("videomae_small", **BASE).fingerprint() == base_fingerprint


@pytest.mark.parametrize("change", CHANGES.values(), ids=list(CHANGES))
def test_fingerprint_changes_with_weights_layer_norm_and_preprocessing(load_teacher, base_fingerprint, change):
    assert load_teacher("videomae_small", **{**BASE, **change}).fingerprint() != base_fingerprint


@pytest.fixture(scope="module")
def small_teacher():
    from salt_vla_videomae.teacher import create_videomae_teacher

    return create_videomae_teacher("videomae", "small", num_frames=4, image_size=64, target_layer=0)


@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_editing_any_single_weight_changes_the_fingerprint(small_teacher, data):
    params = list(small_teacher.encoder.parameters())
    param = params[data.draw(st.integers(0, len(params) - 1), label="parameter")]
    index = data.draw(st.integers(0, param.numel() - 1), label="element")
    before = small_teacher.fingerprint()
    with torch.no_grad():
        old = param.view(-1)[index].item()
        param.view(-1)[index] = old + data.draw(st.sampled_from([1e-3, -0.5, 2.0]), label="delta")
    try:
        assert small_teacher.fingerprint() != before
    finally:
        with torch.no_grad():
            param.view(-1)[index] = old
    assert small_teacher.fingerprint() == before


def test_fingerprint_ignores_the_name_and_the_dtype_holding_the_same_values(load_teacher, full_small):
    _, state = full_small
    options = dict(num_frames=2, image_size=32, target_layer=0)
    exact = load_teacher("videomae_small", state, **options)
    rounded = {k: v.to(torch.bfloat16) for k, v in state.items()}
    held_in_fp32 = load_teacher("videomae_small", rounded, **options)
    held_in_bf16 = load_teacher("videomae_small", rounded, dtype=torch.bfloat16, **options)
    assert held_in_fp32.fingerprint() == held_in_bf16.fingerprint()  # the same numbers
    assert held_in_fp32.fingerprint() != exact.fingerprint()  # rounded to bfloat16: other weights
    moved = copy.deepcopy(exact).to(torch.float64).to(torch.float32)
    assert moved.fingerprint() == exact.fingerprint()
    v1 = load_teacher("videomae_base", target_layer=0, num_frames=2, image_size=32)
    v2 = load_teacher("videomaev2_base", target_layer=0, num_frames=2, image_size=32)
    assert v1.fingerprint() == v2.fingerprint()  # same architecture, weights and preprocessing


def test_describe_says_what_the_fingerprint_covers(small_teacher):
    described = small_teacher.describe()
    json.dumps(described)  # plain JSON values, ready for a cache's metadata.json
    assert described["preprocessing"] == {"input": "uint8 / 255 or float in [0, 1]", "mean": [0.485, 0.456, 0.406],
                                          "std": [0.229, 0.224, 0.225], "num_frames": 4, "image_size": 64}
    assert described["target_layer"] == 0 and described["final_norm"] is True
    assert len(described["weights_sha256"]) == 64
    assert small_teacher.fingerprint().startswith("videomae-")
