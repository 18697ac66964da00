"""Contract and property tests over every registered masker, plus multi-block/tube specifics."""

from __future__ import annotations

import pickle

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import salt_vla
from salt_vla.interfaces import Masker

GRIDS = st.tuples(st.integers(1, 8), st.integers(2, 16), st.integers(2, 16))


def all_maskers() -> list[str]:
    return salt_vla.list_names("masker")


@pytest.mark.parametrize("name", all_maskers())
def test_masker_contract(name):
    masker = salt_vla.create_masker(name)
    assert isinstance(masker, Masker)
    batch = masker(5, (8, 14, 14), torch.Generator().manual_seed(3))
    batch.validate()
    assert batch.batch_size == 5 and batch.grid == (8, 14, 14)
    again = masker(5, (8, 14, 14), torch.Generator().manual_seed(3))
    for a, b in zip(batch, again):
        assert torch.equal(a.context, b.context) and torch.equal(a.target, b.target)
    # Picklable, so it can run as a DataLoader collate step in worker processes.
    clone = pickle.loads(pickle.dumps(masker))
    for a, b in zip(batch, clone(5, (8, 14, 14), torch.Generator().manual_seed(3))):
        assert torch.equal(a.context, b.context) and torch.equal(a.target, b.target)


@settings(max_examples=60, deadline=None)
@given(
    grid=GRIDS,
    batch=st.integers(1, 6),
    seed=st.integers(0, 2**31),
    scale=st.floats(0.05, 0.5),
    blocks=st.integers(1, 4),
    temporal=st.floats(0.3, 1.0),
)
def test_multiblock_properties(grid, batch, seed, scale, blocks, temporal):
    masker = salt_vla.create_masker(
        "multiblock", spatial_scale=(scale, scale), temporal_scale=(temporal, 1.0), num_blocks=blocks
    )
    try:
        masks = masker(batch, grid, torch.Generator().manual_seed(seed))
    except ValueError as error:  # allowed only as the documented "cannot produce a context" error
        assert "lower spatial_scale" in str(error) or "lower num_blocks" in str(error)
        return
    masks.validate()  # indices in range, context and target disjoint per clip
    total = grid[0] * grid[1] * grid[2]
    for pair in masks:
        assert pair.context.shape[0] == pair.target.shape[0] == batch
        assert pair.context.shape[1] + pair.target.shape[1] <= total
        assert torch.all(pair.context[:, 1:] > pair.context[:, :-1])  # sorted, no repeats
        assert torch.all(pair.target[:, 1:] > pair.target[:, :-1])


@settings(max_examples=40, deadline=None)
@given(grid=GRIDS, batch=st.integers(1, 6), seed=st.integers(0, 2**31), ratio=st.floats(0.1, 0.9))
def test_tube_properties(grid, batch, seed, ratio):
    masker = salt_vla.create_masker("random_tube", ratio=ratio)
    plane = grid[1] * grid[2]
    masked = round(ratio * plane)
    if not 0 < masked < plane:
        with pytest.raises(ValueError, match="ratio"):
            masker(batch, grid, torch.Generator().manual_seed(seed))
        return
    (pair,) = masker(batch, grid, torch.Generator().manual_seed(seed))
    assert pair.target.shape == (batch, masked * grid[0])
    assert pair.context.shape == (batch, (plane - masked) * grid[0])
    # A tube: the same spatial positions are masked in every frame.
    spatial = (pair.target % plane).view(batch, grid[0], masked)
    assert torch.equal(spatial, spatial[:, :1].expand_as(spatial))


def test_vjepa_preset_mask_ratio_statistics():
    """Mean target ratios on an 8x14x14 grid stay in the bounds documented on VJEPA_SPECS."""
    masker = salt_vla.create_masker("multiblock_vjepa")
    generator = torch.Generator().manual_seed(0)
    total = 8 * 14 * 14
    ratios = [[], []]
    for _ in range(30):
        for i, pair in enumerate(masker(8, (8, 14, 14), generator)):
            ratios[i].append(pair.target.shape[1] / total)
    short, long = (sum(r) / len(r) for r in ratios)
    assert 0.45 < short < 0.60, short  # union of 8 overlapping blocks of 15%, equalised over 8 clips
    assert 0.65 < long < 0.80, long


def test_max_temporal_keep_restricts_context_to_early_frames():
    masker = salt_vla.create_masker("multiblock", spatial_scale=(0.2, 0.2), num_blocks=2, max_temporal_keep=0.5)
    (pair,) = masker(4, (8, 6, 6), torch.Generator().manual_seed(1))
    assert int(pair.context.max()) < 4 * 36  # only the first half of the token frames
    assert int(pair.target.max()) >= 4 * 36  # the rest is target


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"spatial_scale": (1.0, 1.0)}, "spatial_scale"),
        ({"max_temporal_keep": 0.05}, "max_temporal_keep"),
        ({"num_blocks": 0}, "num_blocks"),
        ({"spatial_scale": (0.5, 0.2)}, "spatial_scale"),
        ({"aspect_ratio": (-1.0, 1.0)}, "aspect_ratio"),
    ],
)
def test_impossible_configs_fail_at_construction_naming_the_parameter(kwargs, parameter):
    with pytest.raises(ValueError, match=parameter):
        salt_vla.create_masker("multiblock", grid=(8, 14, 14), **kwargs)


def test_practically_impossible_config_errors_instead_of_hanging():
    with pytest.raises(ValueError, match="lower num_blocks or spatial_scale"):
        salt_vla.create_masker("multiblock", spatial_scale=(0.95, 0.95), num_blocks=40, grid=(2, 4, 4))
