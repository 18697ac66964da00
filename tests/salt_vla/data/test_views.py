from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from salt_vla.data import ViewParams, ViewSampler, apply_view
from salt_vla.data.views import VideoInfo, view_from_row, views_to_array

views = st.builds(
    ViewParams,
    video_index=st.integers(0, 10**6), view_index=st.integers(0, 7), start=st.integers(0, 500),
    stride=st.integers(1, 8), frames=st.integers(1, 32),
    crop=st.tuples(st.integers(0, 100), st.integers(0, 100), st.integers(1, 400), st.integers(1, 400)),
    flip=st.booleans(), size=st.tuples(st.integers(1, 512), st.integers(1, 512)),
)


@given(views)
def test_view_params_round_trip_through_json_and_rows(view: ViewParams) -> None:
    assert ViewParams.from_dict(json.loads(json.dumps(view.to_dict()))) == view
    assert view_from_row(views_to_array([view])[0]) == view


def test_view_params_reject_bad_values_and_keys() -> None:
    with pytest.raises(ValueError, match="stride and frames"):
        ViewParams(0, 0, 0, 0, 16, (0, 0, 8, 8), False, (8, 8))
    data = ViewParams(0, 0, 0, 1, 1, (0, 0, 1, 1), False, (1, 1)).to_dict()
    data["sise"] = data.pop("size")
    with pytest.raises(ValueError, match=r"missing \['size'\], unknown \['sise'\]"):
        ViewParams.from_dict(data)


@settings(max_examples=200)
@given(
    height=st.integers(1, 300), width=st.integers(1, 300), frames=st.integers(1, 200),
    scale=st.tuples(st.floats(0.05, 1.0), st.floats(0.05, 1.0)).map(sorted),
    ratio=st.one_of(st.none(), st.tuples(st.floats(0.2, 5.0), st.floats(0.2, 5.0)).map(sorted)),
    temporal=st.sampled_from(["random", "center", "start"]), seed=st.integers(0, 2**31),
)
def test_sampled_views_fit_the_video(height, width, frames, scale, ratio, temporal, seed) -> None:
    sampler = ViewSampler(frames=8, stride=3, size=(32, 24), scale=tuple(scale), ratio=ratio and tuple(ratio),
                          flip=True, temporal=temporal)
    view = sampler.sample(4, 1, VideoInfo(frames, height, width, 25.0), torch.Generator().manual_seed(seed))
    top, left, h, w = view.crop
    assert 0 <= top and top + h <= height and 0 <= left and left + w <= width
    assert (view.video_index, view.view_index, view.size, view.frames, view.stride) == (4, 1, (32, 24), 8, 3)
    if frames >= sampler.span:
        assert view.start + sampler.span <= frames
    else:
        assert view.start == 0


def test_sampler_is_deterministic_given_the_generator_and_round_trips() -> None:
    sampler = ViewSampler(frames=4, stride=2, size=16, flip=True)
    info = VideoInfo(100, 90, 120, 30.0)
    draws = [sampler.sample(0, 0, info, torch.Generator().manual_seed(7)) for _ in range(2)]
    assert draws[0] == draws[1]
    assert ViewSampler.from_dict(json.loads(json.dumps(sampler.to_dict()))) == sampler
    with pytest.raises(ValueError, match="temporal must be one of"):
        ViewSampler(temporal="middle")
    with pytest.raises(ValueError, match=r"scale must lie in \(0, 1\]"):
        ViewSampler(scale=(0.0, 2.0))


def test_apply_view_crops_resizes_and_flips() -> None:
    frames = np.zeros((2, 10, 20, 3), dtype=np.uint8)
    frames[:, :, 10:] = 255  # right half white
    view = ViewParams(0, 0, 0, 1, 2, (0, 0, 10, 20), False, (5, 10))
    clip = apply_view(frames, view)
    assert clip.shape == (3, 2, 5, 10) and clip.dtype == torch.uint8
    assert clip[..., -1].min() == 255 and clip[..., 0].max() == 0
    flipped = apply_view(frames, ViewParams(0, 0, 0, 1, 2, (0, 0, 10, 20), True, (5, 10)))
    assert torch.equal(flipped, clip.flip(-1))
    with pytest.raises(ValueError, match="does not fit the source frame 10x20"):
        apply_view(frames, ViewParams(0, 0, 0, 1, 2, (5, 0, 10, 20), False, (5, 10)))
