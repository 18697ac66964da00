"""Tiny ACT and SmolVLA checkpoints through the adapters: loading, units, queues, noise, checks."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from salt_vla_lerobot.checks import (
    DegenerateStatsWarning,
    DepthMissingError,
    DimensionMismatchError,
    ProcessorFilesMissingError,
    StatsError,
)
from salt_vla_lerobot.loading import load_lerobot_policy

import salt_vla
from salt_vla import lerobot_compat
from salt_vla.interfaces import Policy

from .conftest import IMAGE_SIZE, make_observation

PRE_STATS = "policy_preprocessor_step_3_normalizer_processor.safetensors"
POST_STATS = "policy_postprocessor_step_0_unnormalizer_processor.safetensors"


def strict_load(spec: str, **kwargs):
    """create_policy with every warning an error: a clean tiny checkpoint must raise none."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return salt_vla.create_policy(spec, **kwargs)


def rewrite_stats(directory, filename, **changes):
    stats = load_file(directory / filename)
    for key, value in changes.items():
        stats[key] = value
    save_file(stats, directory / filename)


@pytest.mark.parametrize("family", ["act", "smolvla"])
def test_loads_through_spec_and_satisfies_policy(family, act_dir, smolvla_dir, observation):
    directory = {"act": act_dir, "smolvla": smolvla_dir}[family]
    policy = strict_load(f"{family}:{directory}")
    assert isinstance(policy, Policy)
    assert policy.camera_names == ("overhead_cam", "wrist_cam")
    assert len(policy.action_names) == 6 and policy.action_names[-1] == "gripper.pos"
    policy.reset()
    action = policy.act(observation)
    assert action.shape == (6,) and action.dtype == np.float32 and np.isfinite(action).all()
    chunk = policy.predict_chunk(observation, num_samples=3, seed=0)
    assert chunk.shape == (3, 8, 6) and np.isfinite(chunk).all()
    assert policy.describe()["family"] == family


def test_act_chunk_is_postprocessed_into_robot_units(act_dir, observation):
    policy = strict_load(f"act:{act_dir}")
    chunk = policy.predict_chunk(observation)[0]
    # The same chunk by hand: LeRobot's preprocessor, the model, then unnormalise with the saved stats.
    batch = policy.preprocessor(policy.to_batch(observation))
    normalised = policy.policy.predict_action_chunk(batch)[0]
    stats = load_file(act_dir / POST_STATS)
    by_hand = normalised * stats["action.std"] + stats["action.mean"]
    np.testing.assert_allclose(chunk, by_hand.numpy(), rtol=1e-5, atol=1e-4)
    assert not np.allclose(chunk, normalised.numpy(), atol=1.0)  # actions really were unnormalised
    np.testing.assert_allclose(chunk, policy.postprocessor(normalised[None])[0].numpy(), rtol=1e-6)


def test_act_queue_and_reset(act_dir, observation):
    policy = strict_load(f"act:{act_dir}")
    chunk = policy.predict_chunk(observation)[0]  # does not consume anything
    policy.reset()
    first_four = np.stack([policy.act(observation) for _ in range(4)])
    np.testing.assert_allclose(first_four, chunk[:4], rtol=1e-5, atol=1e-4)  # n_action_steps=4 from one chunk
    other = make_observation(seed=5)
    fifth = policy.act(other)  # queue empty: re-plans on the new observation
    np.testing.assert_allclose(fifth, policy.predict_chunk(other)[0, 0], rtol=1e-5, atol=1e-4)
    policy.act(observation)
    policy.reset()  # without the reset the next action would come from the stale queue
    np.testing.assert_allclose(policy.act(observation), chunk[0], rtol=1e-5, atol=1e-4)


def test_smolvla_seeded_samples_are_reproducible_and_distinct(smolvla_dir, observation):
    policy = strict_load(f"smolvla:{smolvla_dir}")
    first = policy.predict_chunk(observation, num_samples=3, seed=7)
    again = policy.predict_chunk(observation, num_samples=3, seed=7)
    other = policy.predict_chunk(observation, num_samples=3, seed=8)
    np.testing.assert_array_equal(first, again)
    assert np.abs(first[0] - first[1]).max() > 1e-3  # samples differ from each other
    assert np.abs(first - other).max() > 1e-3
    one = policy.predict_chunk(observation, num_samples=1, seed=7)
    np.testing.assert_allclose(one[0], first[0], rtol=1e-4, atol=1e-3)  # sample i depends on (seed, i) only
    # Unnormalised: the same noise through LeRobot directly, then the saved statistics by hand.
    batch = policy.preprocessor(policy.to_batch(observation))
    normalised = policy.policy.predict_action_chunk(batch, noise=policy.noise(1, 7))[0]
    stats = load_file(smolvla_dir / "policy_postprocessor_step_0_unnormalizer_processor.safetensors")
    np.testing.assert_allclose(one[0], (normalised * stats["action.std"] + stats["action.mean"]).numpy(),
                               rtol=1e-4, atol=1e-3)


def test_smolvla_act_reads_the_task_string(smolvla_dir):
    policy = strict_load(f"smolvla:{smolvla_dir}")
    a = policy.predict_chunk(make_observation(task="pick up the red block"), seed=1)
    b = policy.predict_chunk(make_observation(task="move the arm to the left"), seed=1)
    assert np.abs(a - b).max() > 1e-4


def test_resizes_other_image_sizes_with_one_warning(act_dir):
    from salt_vla_lerobot.adapter import ImageResizeWarning

    policy = salt_vla.create_policy(f"act:{act_dir}")
    big = make_observation(size=(IMAGE_SIZE[0] * 2, IMAGE_SIZE[1] * 2))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert policy.predict_chunk(big).shape == (1, 8, 6)
        policy.predict_chunk(big)
    messages = [str(w.message) for w in caught if issubclass(w.category, ImageResizeWarning)]
    assert len(messages) == 2  # once per camera, not once per frame
    assert "'overhead_cam' renders 96x128 but observation.images.overhead_cam was trained at 48x64" in messages[0]


def test_missing_processor_files_give_the_clear_error(act_dir, copy_checkpoint):
    broken = copy_checkpoint(act_dir)
    (broken / "policy_postprocessor.json").unlink()
    (broken / PRE_STATS).unlink()
    with pytest.raises(ProcessorFilesMissingError) as error:
        salt_vla.create_policy(f"act:{broken}")
    text = str(error.value)
    assert "policy_postprocessor.json" in text and PRE_STATS in text and "migrate_policy_normalization" in text


def test_degenerate_image_std_warns_with_the_values(act_dir, copy_checkpoint, observation):
    broken = copy_checkpoint(act_dir)
    rewrite_stats(broken, PRE_STATS, **{"observation.images.wrist_cam.std": torch.full((3, 1, 1), 0.002)})
    with pytest.warns(DegenerateStatsWarning) as caught:
        policy = salt_vla.create_policy(f"act:{broken}")
    text = " ".join(str(w.message) for w in caught)
    assert "observation.images.wrist_cam" in text and "0.002" in text and "500" in text
    assert policy.act(observation).shape == (6,)  # a warning, not a refusal


def test_non_finite_mean_warns(act_dir, copy_checkpoint):
    broken = copy_checkpoint(act_dir)
    rewrite_stats(broken, PRE_STATS, **{"observation.state.mean": torch.tensor([0, float("inf"), 0, 0, 0, 0.0])})
    with pytest.warns(DegenerateStatsWarning, match=r"observation.state.*1 non-finite mean.*inf"):
        salt_vla.create_policy(f"act:{broken}")


def test_missing_action_stats_are_an_error(act_dir, copy_checkpoint):
    broken = copy_checkpoint(act_dir)
    stats = {k: v for k, v in load_file(broken / POST_STATS).items() if not k.startswith("action.")}
    save_file(stats, broken / POST_STATS)
    with pytest.raises(StatsError, match=r"action \(postprocessor, MEAN_STD\) has no mean/std.*normalised"):
        salt_vla.create_policy(f"act:{broken}")


def test_stats_of_the_wrong_size_are_an_error(act_dir, copy_checkpoint):
    broken = copy_checkpoint(act_dir)
    rewrite_stats(broken, POST_STATS, **{"action.mean": torch.zeros(8), "action.std": torch.ones(8)})
    with pytest.raises(StatsError, match=r"shape \(8,\).*feature shape \(6,\)"):
        salt_vla.create_policy(f"act:{broken}")


def test_action_and_state_dimension_mismatch(act_dir):
    with pytest.raises(DimensionMismatchError, match="outputs 6 action dimensions, the task expects 8"):
        load_lerobot_policy("act", act_dir, action_names=[f"ee_{i}" for i in range(8)])
    with pytest.raises(DimensionMismatchError, match="6-dimensional 'observation.state', the task provides 7"):
        load_lerobot_policy("act", act_dir, state_dim=7)


def test_depth_features_need_a_depth_task(tmp_path, observation):
    from salt_vla_lerobot.builders import build_act, so101_stats

    cams = ("overhead_cam", "overhead_cam_depth")
    directory = build_act(tmp_path / "rgbd", cameras=cams, image_size=IMAGE_SIZE, chunk_size=4,
                               stats=so101_stats(cams))
    with pytest.raises(DepthMissingError, match=r"observation.images.overhead_cam_depth \(3, 48, 64\)"):
        salt_vla.create_policy(f"act:{directory}")
    policy = salt_vla.create_policy(f"act:{directory}", depth=True)
    assert policy.camera_names == ("overhead_cam", "overhead_cam_depth")  # the SO-101 task's naming of depth
    assert policy.depth_cameras == ("overhead_cam",)
    with pytest.raises(KeyError, match="depth map of task camera 'overhead_cam'"):
        policy.act(observation)  # the observation carries no depth
    depth = {"overhead_cam": np.full(IMAGE_SIZE, 0.5, dtype=np.float32)}
    rgbd = type(observation)(images=observation.images, state=observation.state, task=observation.task, depth=depth)
    assert policy.act(rgbd).shape == (6,)


def test_family_and_spec_mistakes(act_dir, tmp_path):
    with pytest.raises(ValueError, match="is a 'act' checkpoint, not 'smolvla': write 'act:"):
        salt_vla.create_policy(f"smolvla:{act_dir}")
    with pytest.raises(ValueError, match="needs a checkpoint: write 'act:<hub id or directory>'"):
        salt_vla.create_policy("act")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no config.json"):
        salt_vla.create_policy(f"act:{tmp_path / 'empty'}")
    with pytest.raises(ValueError, match="backslash"):
        salt_vla.create_policy("act:danbhf\\act_so101")


def test_missing_weights_are_listed_not_silently_random(act_dir, copy_checkpoint):
    from salt_vla.weights import StateDictMismatchError

    broken = copy_checkpoint(act_dir)
    weights = load_file(broken / "model.safetensors")
    dropped = sorted(k for k in weights if "decoder" in k)
    save_file({k: v for k, v in weights.items() if k not in dropped}, broken / "model.safetensors")
    with pytest.raises(StateDictMismatchError, match=f"missing \\({len(dropped)}\\)"):
        salt_vla.create_policy(f"act:{broken}")


def test_pi0_on_lerobot_044_says_what_it_needs(tmp_path):
    from salt_vla import lerobot_compat

    if lerobot_compat.lerobot_version() >= (0, 5, 0):
        pytest.skip("LeRobot >= 0.5 runs Pi0; the 0.4.4 message does not apply")
    (tmp_path / "pi0").mkdir()
    (tmp_path / "pi0" / "config.json").write_text(json.dumps({"type": "pi0"}))
    with pytest.raises(lerobot_compat.LeRobotVersionError, match=r"LeRobot >= 0.5.*Python >= 3.12"):
        salt_vla.create_policy(f"pi0:{tmp_path / 'pi0'}")


LEROBOT_061_REQUIRES = [  # as LeRobot 0.6.1's metadata declares them
    'transformers<5.6.0,>=5.4.0; extra == "transformers-dep"',
    'lerobot[transformers-dep]; extra == "pi"',
    'lerobot[transformers-dep]; extra == "smolvla"',
    'transformers==4.49.0; extra == "wallx"',
    "numpy>=2",
]


def test_declared_transformers_range_follows_lerobot_self_references():
    from packaging.specifiers import SpecifierSet

    wanted = SpecifierSet(lerobot_compat.declared_requirement(LEROBOT_061_REQUIRES, "pi"))
    assert "5.5.4" in wanted and "5.17.0" not in wanted and "5.3.0" not in wanted
    assert lerobot_compat.declared_requirement(LEROBOT_061_REQUIRES, "wallx") == "==4.49.0"
    assert lerobot_compat.declared_requirement(LEROBOT_061_REQUIRES, "docs") is None


def test_transformers_outside_the_declared_range_is_refused_with_the_fix():
    lerobot_compat.check_transformers_declared("pi0", "pi", requirements=LEROBOT_061_REQUIRES, installed="5.5.4")
    with pytest.raises(lerobot_compat.LeRobotVersionError) as error:
        lerobot_compat.check_transformers_declared("pi0", "pi", requirements=LEROBOT_061_REQUIRES, installed="5.17.0")
    text = str(error.value)
    assert "transformers 5.17.0 is installed" in text and "pip install" in text and "5.6.0" in text


def test_the_installed_lerobots_own_metadata_is_read():
    # Whatever LeRobot this environment has (0.4.4 in CI: ">=4.57.1,<5.0.0"; 0.6.1: ">=5.4.0,<5.6.0").
    import importlib.metadata

    wanted = lerobot_compat.declared_requirement(importlib.metadata.requires("lerobot"), "smolvla")
    assert wanted and ">=" in wanted
    with pytest.raises(lerobot_compat.LeRobotVersionError, match="transformers 0.0.1 is installed"):
        lerobot_compat.check_transformers_declared("smolvla", "smolvla", installed="0.0.1")


def test_without_lerobot_the_plugin_loads_and_the_factory_says_what_to_install(monkeypatch, act_dir):
    import sys

    assert "act" in salt_vla.list_names("policy")
    monkeypatch.setitem(sys.modules, "lerobot", None)  # as if the extra were not installed
    with pytest.raises(ImportError, match=r'pip install "salt-vla\[lerobot\]"'):
        salt_vla.create_policy(f"act:{act_dir}")


def test_random_pi_builder_refuses_lerobot_044_before_building(tmp_path):
    from salt_vla_lerobot.builders import build_random_pi

    from salt_vla import lerobot_compat

    if lerobot_compat.lerobot_version() >= (0, 5, 0):
        pytest.skip("LeRobot >= 0.5 builds Pi0; the 0.4.4 refusal does not apply")
    with pytest.raises(lerobot_compat.LeRobotVersionError, match="pi05 cannot run with LeRobot 0.4"):
        build_random_pi(tmp_path / "pi05", family="pi05")
    assert not (tmp_path / "pi05").exists()


class TwoTowers(torch.nn.Module):
    """Module names as transformers 5.17 writes them for PaliGemma: ``model.vision_tower...``."""

    def __init__(self) -> None:
        super().__init__()
        self.model = torch.nn.ModuleDict({
            "vision_tower": torch.nn.ModuleList([torch.nn.Linear(4, 4) for _ in range(3)]),
            "language_model": torch.nn.ModuleList([torch.nn.Linear(4, 4) for _ in range(3)]),
        })


def test_weights_left_random_under_renamed_keys_are_caught(tmp_path):
    from salt_vla_lerobot.checks import CheckpointError
    from salt_vla_lerobot.loading import check_weights_loaded

    torch.manual_seed(0)
    model = TwoTowers()
    saved = {key: value.clone() for key, value in model.state_dict().items()}
    # The file names the vision tower as another transformers version does; the language model matches.
    renamed = {key.replace("model.vision_tower", "vision_tower"): value for key, value in saved.items()}
    save_file(renamed, tmp_path / "model.safetensors")
    check_weights_loaded(model, tmp_path / "model.safetensors", where="twins")  # every value is there, renamed or not

    with torch.no_grad():  # what a loader that skipped the renamed keys leaves: a fresh vision tower
        for layer in model.model["vision_tower"]:
            layer.weight.normal_()
    with pytest.raises(CheckpointError, match=r"sampled tensors differ .*model\.vision_tower\.\d\.weight"):
        check_weights_loaded(model, tmp_path / "model.safetensors", where="twins")
