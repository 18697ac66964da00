"""Probes: the linear classifier learns separable data, the time-arrow probe sees motion direction, and every
accuracy comes with an interval that pairs across encoders."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from salt_vla.probes import (
    fit_linear_probe,
    label_probe,
    paired_difference,
    pooled_features,
    probe_suite,
    select_weight_decay,
    split_by_video,
    time_arrow_probe,
    wilson_interval,
)


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


def test_wilson_interval_matches_the_textbook_values():
    low, high = wilson_interval(8, 10)
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)
    assert wilson_interval(0, 20)[0] == 0.0 and 0.13 < wilson_interval(0, 20)[1] < 0.17
    assert wilson_interval(5, 0) == (0.0, 1.0)


@settings(max_examples=20, deadline=None)
@given(successes=st.integers(0, 200), extra=st.integers(0, 200))
def test_wilson_interval_contains_the_estimate_and_narrows_with_data(successes, extra):
    total = successes + extra
    if total == 0:
        return
    low, high = wilson_interval(successes, total)
    assert 0.0 <= low <= successes / total <= high <= 1.0
    low4, high4 = wilson_interval(4 * successes, 4 * total)
    assert high4 - low4 < high - low


def test_paired_difference_finds_a_real_shift_and_not_a_null_one():
    generator = torch.Generator().manual_seed(0)
    base = (torch.rand(400, generator=generator) < 0.6).double()
    better = torch.where(torch.rand(400, generator=generator) < 0.15, torch.ones(400, dtype=torch.float64), base)
    shift = paired_difference(better, base)
    assert shift.verdict == "positive" and shift.ci_low > 0 and shift.mean == float((better - base).mean())
    assert paired_difference(base, better).verdict == "negative"
    noise = (torch.rand(400, generator=generator) < 0.6).double()
    null = paired_difference(noise, base[torch.randperm(400, generator=generator)])
    assert null.ci_low < null.mean < null.ci_high
    assert paired_difference(base, base).to_dict() == {"mean": 0.0, "ci_low": 0.0, "ci_high": 0.0, "num_examples": 400,
                                                       "verdict": "inconclusive"}


def test_time_arrow_interval_is_over_videos_not_answers():
    result = time_arrow_probe(lambda video: video.float().mean(dim=(1, 3, 4)).unsqueeze(1), _moving_bar_clips(40))
    assert result.num_test == 12 and result.num_train == 56  # 28 training videos, each shown both ways
    assert result.scores.shape == (12,) and set(result.scores.tolist()) <= {0.0, 0.5, 1.0}
    assert result.accuracy == float(result.scores.mean())
    assert (result.ci_low, result.ci_high) == wilson_interval(result.accuracy * 12, 12)
    assert "scores" not in result.to_dict()


class _PatchBrightness:
    """A fake encoder: one token per 4x4 patch per frame, its value the patch's mean brightness."""

    def grid(self, frames, height, width):
        return frames, height // 4, width // 4

    def __call__(self, video):
        x = video.float().mean(dim=1)  # [B, T, H, W]
        patches = x.unfold(2, 4, 4).unfold(3, 4, 4).mean(dim=(-1, -2))  # [B, T, H/4, W/4]
        return patches.flatten(1).unsqueeze(-1)


def test_spatial_bins_keep_the_position_that_a_frame_average_loses():
    clips = torch.zeros(60, 3, 2, 8, 8, dtype=torch.uint8)
    side = torch.arange(60) % 2
    for i in range(60):
        clips[i, :, :, 2:6, (0 if side[i] else 4):(4 if side[i] else 8)] = 255  # the same square, left or right
    assert pooled_features(_PatchBrightness(), clips).shape == (60, 2)
    assert pooled_features(_PatchBrightness(), clips, spatial_bins=2).shape == (60, 8)
    assert label_probe(_PatchBrightness(), clips, side).accuracy <= 0.7
    assert label_probe(_PatchBrightness(), clips, side, spatial_bins=2).accuracy == 1.0


def test_probe_suite_is_the_single_probes_with_features_computed_once():
    clips = _moving_bar_clips(30)
    labels = torch.tensor([i % 2 for i in range(30)])
    calls = []

    def encoder(video):
        calls.append(video.shape[0])
        return video.float().mean(dim=(1, 3, 4)).unsqueeze(1)

    suite = probe_suite(encoder, clips, {"parity": labels}, batch_size=30)
    assert calls == [30, 30]  # forward and reversed, once each
    assert suite["time_arrow"].to_dict() == time_arrow_probe(encoder, clips).to_dict()
    assert suite["parity"].to_dict() == label_probe(encoder, clips, labels, name="parity").to_dict()


def test_cross_validated_weight_decay_avoids_a_penalty_that_underfits():
    # The class is in x0 - x1 (shared noise cancels): strong L2 shrinks the probe towards the class-mean
    # difference (x0 alone) and misses it; a weak penalty finds it. A fixed strength would favour one encoder.
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(400) % 2
    noise = 3 * torch.randn(400, generator=generator)
    features = torch.stack([noise + (labels * 2 - 1) * 0.5, noise], dim=1)
    split = (features[:300], labels[:300], features[300:], labels[300:])
    assert fit_linear_probe(*split, weight_decay=1.0).accuracy < 0.75
    chosen = fit_linear_probe(*split, weight_decay=(1e-3, 1.0))
    assert chosen.weight_decay == 1e-3 and chosen.accuracy > 0.95
    assert select_weight_decay(features[:300], labels[:300], (1.0, 1e-3)) == 1e-3


def test_a_continuous_label_must_be_binned_first():
    with pytest.raises(ValueError, match="'speed' is continuous; bin it"):
        label_probe(lambda video: video.float().mean(dim=(1, 3, 4)).unsqueeze(1), _moving_bar_clips(20),
                    torch.linspace(0, 1, 20), name="speed")


def test_layers_read_the_last_blocks_side_by_side_and_one_layer_is_the_plain_output():
    from salt_vla.models import VideoViT

    torch.manual_seed(0)
    encoder = VideoViT(embed_dim=24, depth=3, num_heads=2, num_frames=4, img_size=16, patch_size=8, tubelet_size=2)
    clips = torch.randint(0, 256, (5, 3, 4, 16, 16), dtype=torch.uint8)
    plain = pooled_features(encoder, clips)
    assert torch.equal(pooled_features(encoder, clips, layers=1), plain)
    two = pooled_features(encoder, clips, layers=2)  # [M, t' * 2D]: per token frame, block -2 then block -1
    assert two.shape == (5, 2 * 2 * 24)
    per_frame = two.reshape(5, 2, 2 * 24)
    torch.testing.assert_close(per_frame[..., 24:].flatten(1), plain)  # the last block through the final norm
    with torch.no_grad():
        second_last = encoder.forward_intermediates(clips, [-2], norm=True)[0]
    torch.testing.assert_close(per_frame[..., :24], second_last.reshape(5, 2, 4, 24).mean(2))


def test_layers_beyond_the_encoder_or_without_intermediates_are_refused():
    from salt_vla.models import VideoViT

    encoder = VideoViT(embed_dim=24, depth=2, num_heads=2, num_frames=4, img_size=16, patch_size=8, tubelet_size=2)
    clips = torch.randint(0, 256, (2, 3, 4, 16, 16), dtype=torch.uint8)
    with pytest.raises(ValueError, match="layers=3 but the encoder has 2 blocks; use at most 2"):
        pooled_features(encoder, clips, layers=3)
    with pytest.raises(ValueError, match="layers must be >= 1; got 0"):
        pooled_features(encoder, clips, layers=0)
    with pytest.raises(ValueError, match="needs an encoder with forward_intermediates"):
        pooled_features(lambda video: video.flatten(2).transpose(1, 2).float(), clips, layers=2)
