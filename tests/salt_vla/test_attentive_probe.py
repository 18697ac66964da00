"""Attentive probes: learn a task only a token-level reader can, choose the sweep on validation, reuse cached features."""

from __future__ import annotations

import pytest
import torch

from salt_vla.attentive_probe import (
    AttentiveProbes,
    attentive_label_probe,
    attentive_probe,
    cached_token_maps,
    split_three,
    wilson_interval,
)
from salt_vla.models import VideoViT
from salt_vla.probes import fit_linear_probe


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny einsums: one thread is fastest, and the test machine's cores are shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def one_token_task(count: int, seed: int, *, tokens: int = 32, dim: int = 16, classes: int = 3):
    """Noise tokens; one token per example (at a random place) carries a large class direction and a marker."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(count, tokens, dim, generator=generator)
    y = torch.randint(0, classes, (count,), generator=generator)
    where = torch.randint(0, tokens, (count,), generator=generator)
    x[torch.arange(count), where, :classes] += 6 * torch.eye(classes)[y]
    x[torch.arange(count), where, -1] += 6  # the marker the query can attend to
    return x, y


def test_attentive_probe_learns_a_one_token_task():
    train, val, test = one_token_task(384, 0), one_token_task(96, 1), one_token_task(128, 2)
    result = attentive_probe(*train, *val, *test, lrs=(3e-3,), weight_decays=(0.01,), epochs=30, batch_size=32)
    assert result.accuracy >= 0.9, result
    assert result.num_test == 128 and result.num_val == 96 and result.num_train == 384
    low, high = result.interval
    assert low <= result.accuracy <= high and high - low < 0.2
    counts = torch.bincount(test[1], minlength=3)
    assert result.chance == pytest.approx(counts.max().item() / 128)
    pooled = fit_linear_probe(train[0].mean(1), train[1], test[0].mean(1), test[1])
    assert pooled.accuracy < 0.8  # averaging the tokens drowns the one that matters: the task needs attention


def test_sweep_chooses_on_validation_and_learning_rates_far_too_small_or_large_lose():
    train, val, test = one_token_task(384, 3), one_token_task(96, 4), one_token_task(128, 5)
    result = attentive_probe(*train, *val, *test, lrs=(1e-7, 3e-3, 3.0), weight_decays=(0.0, 0.01), epochs=30,
                             batch_size=32)
    assert result.lr == 3e-3
    by_setting = {(s.lr, s.weight_decay): s for s in result.sweep}
    assert len(by_setting) == 6
    assert max(by_setting[(1e-7, wd)].val_accuracy for wd in (0.0, 0.01)) < 0.6
    assert max(by_setting[(3.0, wd)].val_accuracy for wd in (0.0, 0.01)) < result.val_accuracy
    chosen = by_setting[(result.lr, result.weight_decay)]
    assert chosen.val_accuracy == max(s.val_accuracy for s in result.sweep) == result.val_accuracy


def test_probes_in_a_sweep_are_independent():
    """Probe k's logits depend only on probe k's parameters: perturbing probe 1 leaves probe 0 unchanged."""
    probes = AttentiveProbes(2, 8, 3, heads=2)
    x = torch.randn(5, 6, 8)
    before = probes(x)
    with torch.no_grad():
        probes.key[1] += 1.0
        probes.head[1] += 1.0
    after = probes(x)
    assert torch.equal(before[0], after[0]) and not torch.allclose(before[1], after[1])


def test_wilson_interval_known_value():
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_split_three_is_disjoint_and_covers():
    train, val, test = split_three(20, seed=3)
    assert sorted(torch.cat([train, val, test]).tolist()) == list(range(20))
    assert min(len(train), len(val), len(test)) >= 1


class CountingEncoder(torch.nn.Module):
    """A real tiny video ViT that counts its forward calls."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.vit = VideoViT(embed_dim=24, depth=1, num_heads=2, patch_size=8, num_frames=4, img_size=16)
        self.calls = 0

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.vit(video)


def test_token_maps_are_cached_and_reused(tmp_path):
    encoder = CountingEncoder()
    clips = torch.randint(0, 256, (12, 3, 4, 16, 16), dtype=torch.uint8)
    labels = torch.arange(12) % 2
    first = attentive_label_probe(encoder, clips, labels, cache_dir=tmp_path, key="ckpt-a", lrs=(1e-3,),
                                  weight_decays=(0.0,), epochs=2)
    calls = encoder.calls
    assert calls == 1 and len(list(tmp_path.glob("tokens-*.pt"))) == 1
    second = attentive_label_probe(encoder, clips, labels, cache_dir=tmp_path, key="ckpt-a", lrs=(1e-3,),
                                   weight_decays=(0.0,), epochs=2)
    assert encoder.calls == calls and second == first
    with torch.no_grad():
        encoder.vit.blocks[0].mlp.fc2.bias.add_(1.0)  # new weights: a new cache entry, recomputed
    tokens = cached_token_maps(encoder, clips, tmp_path, key="ckpt-a")
    assert encoder.calls == calls + 1 and len(list(tmp_path.glob("tokens-*.pt"))) == 2
    assert tokens.shape == (12, 2 * 2 * 2, 24)


def test_probe_cli_attentive_kind_reuses_its_feature_cache(tmp_path):
    import json

    from click.testing import CliRunner

    from salt_vla import hub
    from salt_vla.cli import cli

    torch.manual_seed(0)
    hub.save_pretrained(VideoViT(embed_dim=24, depth=1, num_heads=2, patch_size=8, num_frames=4, img_size=32),
                        tmp_path / "ckpt")
    args = ["probe", str(tmp_path / "ckpt"), "--kind", "attentive", "--videos", "12", "--label", "direction",
            "--device", "cpu", "--feature-cache", str(tmp_path / "features")]
    first = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "a.json")])
    assert first.exit_code == 0, first.output
    written = sorted(p.stat().st_mtime_ns for p in (tmp_path / "features").glob("tokens-*.pt"))
    assert len(written) == 2  # forward and time-reversed; the label probe reads the forward maps
    second = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "b.json")])
    assert second.exit_code == 0, second.output
    assert sorted(p.stat().st_mtime_ns for p in (tmp_path / "features").glob("tokens-*.pt")) == written
    report = json.loads((tmp_path / "a.json").read_text())
    assert report == json.loads((tmp_path / "b.json").read_text())
    assert report["kind"] == "attentive" and set(report["probes"]) == {"time_arrow", "direction"}
    assert report["probes"]["time_arrow"]["num_test"] == 4 and report["probes"]["direction"]["num_test"] == 4
