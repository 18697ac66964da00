"""The ACT recipe's training options (image augmentation, learning-rate decay) and the ablation runner."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

from .conftest import NO_LEROBOT

pytestmark = pytest.mark.lerobot
pytest.importorskip("lerobot", reason=NO_LEROBOT)

ROOT = Path(__file__).resolve().parents[3]


def test_unknown_augmentations_and_sizes_are_refused() -> None:
    from salt_vla_lerobot.augmentation import image_transforms

    assert image_transforms("none", (96, 128)) is None
    with pytest.raises(ValueError, match=r"Unknown augmentation 'crop'; choose one of \('none', 'shift', 'lerobot'\)"):
        image_transforms("crop", (96, 128))
    with pytest.raises(ValueError, match=r"got \(0, 128\) and -1"):
        image_transforms("shift", (0, 128), pad=-1)


def test_the_random_shift_moves_whole_images_by_at_most_pad_pixels() -> None:
    from salt_vla_lerobot.augmentation import image_transforms

    from salt_vla import lerobot_compat

    try:
        from lerobot.transforms import ImageTransforms
    except ImportError:
        from lerobot.datasets.transforms import ImageTransforms
    pad = 3
    transform = ImageTransforms(lerobot_compat.image_transforms_config(image_transforms("shift", (20, 24), pad=pad)))
    image = torch.rand(3, 20, 24)
    torch.manual_seed(0)
    shifts = set()
    for _ in range(40):
        shifted = transform(image)
        assert shifted.shape == image.shape
        # The interior of the shifted image is the original's, displaced by (dy, dx) with |dy|, |dx| <= pad.
        found = [(dy, dx) for dy in range(-pad, pad + 1) for dx in range(-pad, pad + 1)
                 if torch.equal(shifted[:, pad:-pad, pad:-pad], image[:, pad - dy:20 - pad - dy, pad - dx:24 - pad - dx])]
        assert len(found) == 1
        shifts.add(found[0])
    assert len(shifts) > 10  # random, not one fixed offset


def test_lerobot_train_flags_parse_to_the_same_configuration() -> None:
    """What docs/policies.md tells lerobot-train users to type builds the configuration salt-vla trains with."""
    import draccus
    from lerobot.configs.default import DatasetConfig
    from salt_vla_lerobot.augmentation import image_transforms, lerobot_train_flags

    from salt_vla import lerobot_compat

    spec = image_transforms("shift", (96, 128))
    flags = [flag.removeprefix("--dataset.").join(("--", "")) for flag in lerobot_train_flags(spec)]
    parsed = draccus.parse(DatasetConfig, args=["--repo_id=local/x", *flags])
    assert parsed.image_transforms == lerobot_compat.image_transforms_config(spec)
    assert lerobot_train_flags(None) == []


def test_lr_decay_builds_lerobots_cosine_to_the_asked_fraction(tmp_path) -> None:
    from lerobot.optim.factory import make_optimizer_and_scheduler
    from salt_vla_lerobot.training import TrainSettings, pipeline_config

    dataset = tmp_path / "ds"
    (dataset / "meta").mkdir(parents=True)
    (dataset / "meta" / "info.json").write_text("{}")
    lr = {"optimizer_lr": 1e-4, "optimizer_lr_backbone": 1e-4}
    settings = TrainSettings(dataset=dataset, output_dir=tmp_path / "run", policy=lr, steps=100, lr_decay=0.1)
    config = pipeline_config(settings)
    config.validate()
    model = torch.nn.Linear(2, 2)
    optimizer, scheduler = make_optimizer_and_scheduler(config, model)
    rates = []
    for _ in range(100):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[0] == pytest.approx(1e-4) and rates[50] == pytest.approx(5.5e-5)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-5)  # 0.1 of the start after the last step
    with pytest.raises(ValueError, match=r"optimizer_lr_backbone \(1e-05\) differs from optimizer_lr \(0.0001\)"):
        pipeline_config(TrainSettings(dataset=dataset, output_dir=tmp_path / "run", policy={"optimizer_lr": 1e-4},
                                      lr_decay=0.1))
    with pytest.raises(ValueError, match=r"lr_decay must be a fraction of the learning rate in \[0, 1\]; got 2"):
        TrainSettings(dataset=dataset, output_dir=tmp_path / "run", lr_decay=2)


def load_runner():
    spec = importlib.util.spec_from_file_location("act_recipe", ROOT / "benchmarks" / "act_recipe.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up
    spec.loader.exec_module(module)
    return module


def test_checkpoints_to_evaluate_must_be_saved_ones() -> None:
    spec = importlib.util.spec_from_file_location("train_act_on_scripted_demos", ROOT / "examples" / "train_act_on_scripted_demos.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    with pytest.raises(SystemExit, match=r"--eval-checkpoints \[7, 20\]: checkpoints are saved every --save-freq 5"):
        example.parse(["--preset", "tiny", "--out", "x", "--eval-checkpoints", "5", "7", "10", "20"])


def test_a_plan_naming_missing_datasets_or_baseline_is_refused(tmp_path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("preset: tiny\ncommon: []\ndatasets: {clean: []}\n"
                    "arms: {a: {dataset: noisy}}\nbaseline: b\n")
    with pytest.raises(SystemExit, match=r"arm 'a' names dataset 'noisy'.*the baseline 'b' is not one of the arms"):
        load_runner().Plan.read(plan)


@pytest.mark.slow
@pytest.mark.sim
def test_the_runner_records_once_trains_arms_together_and_pairs_them(tmp_path) -> None:
    """Two recordings (clean, noise-injected), two arms started as their datasets appear, paired on the same seeds."""
    pytest.importorskip("mujoco", reason="the sim extra is not installed (pip install 'salt-vla[sim]')")
    plan = tmp_path / "plan.yaml"
    plan.write_text("""
preset: tiny
common: [--val-episodes, 0, --bare-steps, 0, --eval-max-steps, 20, --eval-videos, 0]
datasets: {clean: [], noisy: [--action-noise, 2.0]}
arms:
  base: {dataset: clean, flags: [--eval-n-action-steps, 5, --eval-checkpoints, 5]}
  dart_shift: {dataset: noisy, flags: [--augment, shift, --lr-decay, 0.1]}
baseline: base
deadline_s: 900
eval_reserve_s: 60
""")
    results = tmp_path / "results"
    index = load_runner().main([str(plan), "--work", str(tmp_path / "work"), "--results", str(results)])
    assert index["failures"] == {} and index["max_concurrent_arms"] >= 1
    assert set(index["timings"]["datasets"]) == {"clean", "noisy"}
    # Each arm trained on its own dataset with its own options, and says so in its summary.
    base, dart = (json.loads((results / f"{name}.json").read_text()) for name in ("base", "dart_shift"))
    assert base["recording"]["action_noise"] is None
    assert dart["recording"]["action_noise"] == {"std": 2.0, "gripper_std": 0.0, "correlation": 0.9}
    assert dart["args"]["augment"] == "shift" and dart["args"]["lr_decay"] == 0.1
    train_config = json.loads((tmp_path / "work" / "arms" / "dart_shift" / "train" / "checkpoints" / "last" /
                               "pretrained_model" / "train_config.json").read_text())
    assert train_config["dataset"]["image_transforms"]["tfs"]["shift"]["type"] == "RandomCrop"
    assert train_config["scheduler"]["type"] == "cosine_decay_with_warmup"
    # Per-episode outcomes, seed-ordered, and the comparison pairs every arm and variant with the baseline.
    assert len(base["evaluation"]["outcomes"]) == base["evaluation"]["episodes"] == 1
    assert set(index["comparisons"]) == {"dart_shift", "base@5", "base@step5"}
    assert base["evaluation_checkpoints"]["5"]["episodes"] == 1 and base["evaluation"]["checkpoint_step"] == 10
    assert all(c["paired_seeds"] == 1 for c in index["comparisons"].values())
    assert (results / "compare.md").is_file() and (results / "base.eval_n_action_steps_5.report.json").is_file()
