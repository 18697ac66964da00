"""Probes: the linear classifier learns separable data, the time-arrow probe sees motion direction."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from salt_vla.probes import fit_linear_probe, label_probe, split_by_video, time_arrow_probe


@settings(max_examples=20, deadline=None)
@given(classes=st.integers(2, 5), extra=st.integers(0, 10), seed=st.integers(0, 1000))
def test_linear_probe_solves_separable_data_and_reports_chance(classes, extra, seed):
    generator = torch.Generator().manual_seed(seed)
    dim = classes + extra
    centres = 8 * torch.eye(dim)[:classes]  # well-separated class centres
    labels = torch.arange(120) % classes
    features = centres[labels] + torch.randn(120, dim, generator=generator)
    result = fit_linear_probe(features[:80], labels[:80], features[80:], labels[80:])
    assert result.accuracy >= 0.95 and result.train_accuracy >= 0.95
    counts = torch.bincount(labels[80:], minlength=classes)
    assert result.chance == counts.max().item() / 40


def test_linear_probe_is_at_chance_on_noise():
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(400, 8, generator=generator)
    labels = torch.randint(0, 2, (400,), generator=generator)
    assert abs(fit_linear_probe(features[:300], labels[:300], features[300:], labels[300:]).accuracy - 0.5) < 0.12


def test_split_by_video_is_a_deterministic_partition():
    train, test = split_by_video(50, 0.3, seed=3)
    assert sorted(torch.cat([train, test]).tolist()) == list(range(50)) and len(test) == 15
    again = split_by_video(50, 0.3, seed=3)
    assert torch.equal(train, again[0]) and torch.equal(test, again[1])


def _moving_bar_clips(count: int) -> torch.Tensor:
    """A bright bar moving down with random speed; reversed it moves up (a linear feature can tell)."""
    generator = torch.Generator().manual_seed(0)
    clips = torch.zeros(count, 3, 6, 12, 12, dtype=torch.uint8)
    for i in range(count):
        start, speed = int(torch.randint(0, 3, (), generator=generator)), 1 + int(torch.randint(0, 2, (), generator=generator))
        for t in range(6):
            clips[i, :, t, min(11, start + speed * t)] = 255
    return clips


def test_time_arrow_probe_separates_an_encoder_that_sees_motion_from_one_that_does_not():
    clips = _moving_bar_clips(40)
    weights = torch.linspace(-1, 1, 6).view(1, 1, 6, 1, 1)
    rows = torch.arange(12).float().view(1, 1, 1, 12, 1)

    def motion(video):  # correlates time with the bar's row: a direction-sensitive feature
        x = video.float() / 255
        return torch.stack([(x * weights * rows).sum(dim=(1, 2, 3, 4)), x.mean(dim=(1, 2, 3, 4))], dim=1).unsqueeze(1)

    def appearance(video):  # time-symmetric: the same for a clip and its reverse
        x = video.float() / 255
        return x.mean(dim=2).flatten(1).unsqueeze(1)

    assert time_arrow_probe(motion, clips).accuracy >= 0.95
    assert time_arrow_probe(appearance, clips).accuracy <= 0.65


def test_label_probe_maps_arbitrary_label_values_to_classes():
    clips = _moving_bar_clips(30)
    labels = torch.tensor([7 if i % 2 else 42 for i in range(30)])
    clips[labels == 7] //= 4  # dimmer clips for one class

    def brightness(video):
        return video.float().mean(dim=(1, 2, 3, 4)).view(-1, 1, 1)

    result = label_probe(brightness, clips, labels, name="brightness")
    assert result.accuracy == 1.0 and result.name == "brightness"
