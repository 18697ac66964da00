"""ACT on a salt-vla encoder (policy type act_salt): config, frame history, LeRobot's trainer, adapter, Hub."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import salt_vla
from salt_vla.hub import save_pretrained
from salt_vla.models.video_vit import VideoViT, VideoViTConfig

from .conftest import NO_LEROBOT, make_observation

pytestmark = pytest.mark.lerobot
pytest.importorskip("lerobot", reason=NO_LEROBOT)

SIZE = (32, 32)
ENCODER = VideoViTConfig(embed_dim=24, depth=1, num_heads=2, patch_size=8, tubelet_size=2, num_frames=2, img_size=32)
ENCODER_PREFIX = "model.backbone.encoder."


def observations(count: int) -> list:
    return [make_observation(seed, size=SIZE) for seed in range(count)]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from salt_vla_lerobot.builders import build_act_salt

    return build_act_salt(tmp_path_factory.mktemp("act_salt") / "ckpt", chunk_size=6, n_action_steps=3)


def test_config_is_registered_with_lerobot_and_checked():
    from salt_vla import lerobot_compat

    config = lerobot_compat.make_policy_config("act_salt", device="cpu", n_obs_steps=4)
    assert config.type == "act_salt" and config.observation_delta_indices == [-3, -2, -1, 0]
    assert lerobot_compat.get_policy_class("act_salt").__name__ == "ACTSaltPolicy"
    with pytest.raises(ValueError, match=r"normalization_mapping\['VISUAL'\] must be IDENTITY"):
        lerobot_compat.make_policy_config("act_salt", device="cpu", normalization_mapping={"VISUAL": "MEAN_STD"})
    with pytest.raises(ValueError, match="encoder_pretrained and encoder_overrides apply to registered names only"):
        lerobot_compat.make_policy_config("act_salt", device="cpu", encoder="hf-hub:org/student", encoder_overrides={"depth": 2})


def test_encoder_tubelet_and_patches_must_fit_the_frames(tmp_path):
    from salt_vla_lerobot.builders import build_act_salt

    with pytest.raises(ValueError, match="n_obs_steps=3, but the encoder 'vit_micro_patch8_t2' embeds 2 frames"):
        build_act_salt(tmp_path / "a", n_obs_steps=3)
    with pytest.raises(ValueError, match="30"):
        build_act_salt(tmp_path / "b", image_size=(30, 32))


def serve_from_hub_cache(directory: Path, repo_id: str, cache: Path, monkeypatch) -> None:
    """Make ``repo_id`` resolve, offline, to a copy of ``directory`` in a huggingface_hub cache at ``cache``."""
    import huggingface_hub.constants as constants

    commit = "1" * 40
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    shutil.copytree(directory, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_encoder_from_a_hub_id_a_local_dir_or_a_path_keeps_its_weights(tmp_path, monkeypatch):
    from salt_vla_lerobot.builders import build_act_salt

    torch.manual_seed(2)
    student = save_pretrained(VideoViT(ENCODER), tmp_path / "student")
    serve_from_hub_cache(student, "org/student", tmp_path / "hf", monkeypatch)
    expected = load_file(student / "model.safetensors")
    for name, source in (("hub", "hf-hub:org/student"), ("local", f"local-dir:{student}"), ("path", str(student))):
        checkpoint = build_act_salt(tmp_path / name, encoder=source, freeze_encoder=name != "path")
        weights = load_file(checkpoint / "model.safetensors")
        for key, value in expected.items():
            torch.testing.assert_close(weights[ENCODER_PREFIX + key], value, rtol=0, atol=0)
        assert json.loads((checkpoint / "config.json").read_text())["encoder"] == source
    with pytest.raises(Exception, match="not_a_student"):
        build_act_salt(tmp_path / "unknown", encoder="not_a_student")


def test_built_checkpoint_loads_through_act_salt_and_act_specs(built):
    config = json.loads((built / "config.json").read_text())
    assert config["type"] == "act_salt" and config["encoder_config"]["embed_dim"] == 24
    weights = load_file(built / "model.safetensors")
    assert any(key.startswith(ENCODER_PREFIX) for key in weights)
    assert not any("layer4" in key for key in weights)  # no ResNet was built
    for spec in (f"act_salt:{built}", f"act:{built}"):
        policy = salt_vla.create_policy(spec)
        assert policy.family == "act_salt" and policy.describe()["observation_frames"] == 2
        assert policy.predict_chunk(make_observation(0, size=SIZE), num_samples=2).shape == (2, 6, 6)


def test_the_encoder_sees_consecutive_frames_in_both_history_keepers(built):
    """The adapter's history and the policy's own (single frames, as lerobot-eval sends them) give the same
    chunks; the previous frame changes the prediction; a repeated call on one observation adds it once."""
    policy = salt_vla.create_policy(f"act_salt:{built}")
    a, b, c = observations(3)
    policy.reset()
    policy.act(a)
    after_a = policy.predict_chunk(b)[0]
    policy.reset()
    fresh = policy.predict_chunk(b)[0]  # history padded with b itself
    assert not np.allclose(after_a, fresh)

    policy.reset()
    policy.predict_chunk(a)
    policy.act(a)  # the same observation: still one frame of history
    np.testing.assert_allclose(policy.predict_chunk(b)[0], after_a, rtol=0, atol=0)

    # LeRobot's policy alone, fed single frames: select_action remembers, predict_action_chunk only reads.
    lerobot_policy = policy.policy
    lerobot_policy.reset()
    lerobot_policy.select_action(policy.preprocessor(policy.to_batch(a)))
    chunk = lerobot_policy.predict_action_chunk(policy.preprocessor(policy.to_batch(b)))
    np.testing.assert_allclose(policy.postprocessor(chunk).numpy()[0], after_a, rtol=1e-5, atol=1e-4)
    again = lerobot_policy.predict_action_chunk(policy.preprocessor(policy.to_batch(b)))
    torch.testing.assert_close(again, chunk)  # reading did not advance the history

    policy.reset()
    for observation in (a, b):
        policy.predict_chunk(observation)  # temporal ensembling calls only predict_chunk, every step
    np.testing.assert_allclose(policy.predict_chunk(c)[0], _chunk_after(policy, b, c), rtol=0, atol=0)


def _chunk_after(policy, previous, current):
    policy.reset()
    policy.act(previous)
    return policy.predict_chunk(current)[0]


# ------------------------------------------------------------------------------------------- LeRobot's trainer


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("mujoco", reason="the sim extra is not installed (pip install 'salt-vla[sim]')")
    from salt_vla_so101.config import TaskConfig
    from salt_vla_so101.expert import ScriptedExpert
    from salt_vla_so101.recorder import record_dataset

    root = tmp_path_factory.mktemp("act_salt_data") / "dataset"
    record_dataset(ScriptedExpert(), 1, root, task=TaskConfig(image_size=SIZE, max_steps=30), progress=False)
    return root


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A salt-vla student checkpoint (random weights) named by its path in the policy config."""
    torch.manual_seed(1)
    return save_pretrained(VideoViT(ENCODER), tmp_path_factory.mktemp("student") / "student")


@pytest.fixture(scope="module")
def trained(dataset, encoder_dir, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three steps of LeRobot's training loop each, frozen and fine-tuned encoder."""
    from salt_vla_lerobot.builders import TINY_ACT
    from salt_vla_lerobot.training import TrainSettings, train_policy

    out = tmp_path_factory.mktemp("act_salt_runs")
    runs = {}
    for variant in ("frozen", "finetuned"):
        policy = {**TINY_ACT, "chunk_size": 5, "n_action_steps": 5, "encoder": str(encoder_dir),
                  "freeze_encoder": variant == "frozen", "optimizer_lr_backbone": 1e-3}
        result = train_policy(TrainSettings(dataset=dataset, output_dir=out / variant, policy_type="act_salt",
                                            policy=policy, steps=3, batch_size=2, log_freq=1))
        assert result.step == 3
        runs[variant] = result.checkpoint
    return runs


@pytest.mark.slow
@pytest.mark.sim
def test_lerobot_trains_frozen_and_finetuned_encoders(trained, encoder_dir):
    student = load_file(encoder_dir / "model.safetensors")
    for variant, checkpoint in trained.items():
        weights = load_file(checkpoint / "model.safetensors")
        encoder = {key[len(ENCODER_PREFIX):]: value for key, value in weights.items() if key.startswith(ENCODER_PREFIX)}
        assert sorted(encoder) == sorted(student)
        changed = [key for key in student if not torch.equal(encoder[key], student[key])]
        if variant == "frozen":
            assert changed == []
        else:
            assert len(changed) == len(student)  # every encoder tensor moved (lr 1e-3, 3 Adam steps)
        config = json.loads((checkpoint / "config.json").read_text())
        assert config["encoder"] == str(encoder_dir) and config["encoder_config"]["embed_dim"] == ENCODER.embed_dim
        assert config["freeze_encoder"] == (variant == "frozen")


@pytest.mark.slow
@pytest.mark.sim
def test_trained_checkpoint_loads_without_its_encoder_source_and_runs_in_the_evaluator(trained, encoder_dir, tmp_path):
    checkpoint = Path(shutil.copytree(trained["finetuned"], tmp_path / "ckpt"))
    moved = encoder_dir.rename(encoder_dir.with_name("moved"))  # the checkpoint carries the encoder itself
    try:
        policy = salt_vla.create_policy(f"act:{checkpoint}")
        assert policy.family == "act_salt" and policy.chunk_size == 5
        evaluator = salt_vla.create_evaluator("so101_pick_place", image_size=SIZE, max_steps=6)
        report = evaluator.evaluate(f"act_salt:{checkpoint}", episodes=1, seed=0, workers=1, progress=False)
        (row,) = report.episodes
        assert row.message == "" and row.steps == 6, row.message
    finally:
        moved.rename(encoder_dir)


@pytest.mark.slow
@pytest.mark.sim
def test_whiskers_draw_an_act_salt_policy(trained):
    from dataclasses import replace

    from salt_vla_so101.config import TaskConfig
    from salt_vla_whiskers.config import WhiskerConfig
    from salt_vla_whiskers.episode import run_whiskers

    config = replace(WhiskerConfig(render=False), samples=2, every=2, steps=4, task=TaskConfig(image_size=SIZE))
    episode = run_whiskers(f"act:{trained['frozen']}", 0, config, progress=False)
    assert episode.error == "" and [s.step for s in episode.steps] == [0, 2]
    assert all(record.paths.shape == (2, 5 + 1, 3) for record in episode.steps)


@pytest.mark.slow
@pytest.mark.sim
def test_push_to_hub_and_load_back_by_hub_id(trained, tmp_path, monkeypatch):
    """Pushed as LeRobot's trainer pushes (policy, then its processors), with only huggingface_hub's network
    calls replaced; the upload, served from the Hub cache offline, loads through the adapter."""
    import huggingface_hub
    from lerobot.policies.factory import make_pre_post_processors

    from salt_vla import lerobot_compat

    remote = tmp_path / "remote"
    repos = []

    def create_repo(self, repo_id, **kwargs):
        repos.append(repo_id)
        return huggingface_hub.RepoUrl(f"https://huggingface.co/{repo_id}")

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        shutil.copytree(folder_path, remote, dirs_exist_ok=True)
        return f"https://huggingface.co/{repo_id}/commit/abc"

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    checkpoint = trained["frozen"]
    config = lerobot_compat.load_config(str(checkpoint), "act_salt")
    lerobot_policy = lerobot_compat.get_policy_class("act_salt").from_pretrained(str(checkpoint), config=config)
    preprocessor, postprocessor = make_pre_post_processors(config, pretrained_path=str(checkpoint))
    for pushed in (lerobot_policy, preprocessor, postprocessor):
        pushed.push_to_hub("org/act-salt")
    assert repos == ["org/act-salt"] * 3
    pushed_files = {p.name for p in checkpoint.iterdir()} - {"train_config.json"}  # push_model_to_hub(cfg) adds it
    assert pushed_files <= {p.name for p in remote.iterdir()}

    serve_from_hub_cache(remote, "org/act-salt", tmp_path / "hf", monkeypatch)
    from_hub = salt_vla.create_policy("act_salt:org/act-salt")
    local = salt_vla.create_policy(f"act_salt:{checkpoint}")
    a, b = observations(2)
    np.testing.assert_allclose(_chunk_after(from_hub, a, b), _chunk_after(local, a, b), rtol=0, atol=0)
