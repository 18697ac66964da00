from __future__ import annotations

import numpy as np
import pytest
import torch

from salt_vla.data import PhysicsConfig, SyntheticPhysicsDataset, ViewParams


def test_videos_are_a_function_of_the_seed() -> None:
    a, b = (SyntheticPhysicsDataset(num_videos=4, frames=8, size=32, seed=5) for _ in range(2))
    for i in range(4):
        assert torch.equal(a[i]["video"], b[i]["video"]) and a[i]["label"] == b[i]["label"]
    other = SyntheticPhysicsDataset(num_videos=4, frames=8, size=32, seed=6)
    assert not torch.equal(a[0]["video"], other[0]["video"])
    assert a.list_hash() == b.list_hash() != other.list_hash()
    item = a[2]
    assert torch.equal(a.clip(item["view"]), item["video"])


def test_energy_only_leaves_so_the_arrow_of_time_is_visible() -> None:
    dataset = SyntheticPhysicsDataset(num_videos=20, video_frames=96, seed=0, physics={"air_drag": 0.0})
    config = dataset.physics
    for i in range(len(dataset)):
        trajectory = dataset.trajectory(i)
        y, velocity = trajectory.position[..., 1], trajectory.velocity
        energy = config.gravity * (y - trajectory.radius) + 0.5 * (velocity**2).sum(-1)  # per ball, per frame
        # Integration error is small next to what bounces and friction remove.
        assert (np.diff(energy, axis=0) < 0.02).all()
        assert (energy[-1] < energy[0] - 0.05).all()
        assert trajectory.bounces.sum() > 0


def test_labels_follow_the_clip_and_the_flip() -> None:
    dataset = SyntheticPhysicsDataset(num_videos=8, frames=8, size=32, seed=1)
    for i in range(len(dataset)):
        view = dataset[i]["view"]
        label = dataset.label(view)
        assert 1 <= label["num_balls"] <= 3 and label["bounces"] >= 0 and label["speed"] > 0
        mean_vx = dataset.trajectory(i).velocity[view.frame_indices(), :, 0].mean()
        assert label["direction"] == int(mean_vx > 0)
        assert label["vertical"] == pytest.approx(dataset.trajectory(i).velocity[view.frame_indices(), :, 1].mean())
        flipped = ViewParams(**{**view.to_dict(), "flip": True})
        assert dataset.label(flipped)["direction"] == 1 - label["direction"]
        assert dataset.label(flipped)["vertical"] == label["vertical"]  # a horizontal flip keeps up and down
        assert torch.equal(dataset.clip(flipped), dataset.clip(view).flip(-1))


def test_bad_physics_is_refused() -> None:
    with pytest.raises(ValueError, match=r"restitution must lie in \(0, 1\) \(inelastic\)"):
        PhysicsConfig(restitution=(0.9, 1.0))
    with pytest.raises(ValueError, match="num_videos >= 1"):
        SyntheticPhysicsDataset(num_videos=0)
