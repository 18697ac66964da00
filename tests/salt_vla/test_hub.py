"""Checkpoint directories: round trip, bad directories, offline Hub pull, push commit contents."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from salt_vla import hub
from salt_vla.models import PixelMAE, PixelMAEConfig, Predictor, PredictorConfig, VideoViT, VideoViTConfig
from salt_vla.weights import WeightSourceError

STUDENT = VideoViTConfig(embed_dim=48, depth=2, num_heads=3, patch_size=8, tubelet_size=2, num_frames=4, img_size=32)
CLIP = torch.randint(0, 256, (1, 3, 4, 32, 32), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)


@pytest.mark.parametrize("kind", ["video_vit", "predictor", "pixel_mae"])
def test_save_load_round_trip_gives_identical_outputs(tmp_path, kind):
    model = {
        "video_vit": lambda: VideoViT(STUDENT),
        "predictor": lambda: Predictor(PredictorConfig(in_dim=48, out_dim=16, dim=32, depth=1, num_heads=2)),
        "pixel_mae": lambda: PixelMAE(PixelMAEConfig(STUDENT, decoder_dim=32, decoder_depth=1, decoder_heads=2)),
    }[kind]().eval()
    hub.save_pretrained(model, tmp_path / "ckpt", metadata={"probes": {"time_arrow": 0.9}})
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["README.md", "config.json", "model.safetensors"]
    loaded = hub.from_pretrained(f"local-dir:{tmp_path / 'ckpt'}", expected_type=kind).eval()
    if kind == "predictor":
        args = (torch.randn(1, 3, 48), torch.tensor([[0, 1, 2]]), torch.tensor([[5, 6]]), (2, 4, 4))
        torch.testing.assert_close(loaded(*args), model(*args), rtol=0, atol=0)
    else:
        encoder = loaded if kind == "video_vit" else loaded.encoder
        reference = model if kind == "video_vit" else model.encoder
        torch.testing.assert_close(encoder(CLIP), reference(CLIP), rtol=0, atol=0)
    card = (tmp_path / "ckpt" / "README.md").read_text()
    assert "library_name: salt-vla" in card and "time_arrow" in card
    assert loaded.pretrained_metadata == {"probes": {"time_arrow": 0.9}}


def test_bad_directories_name_the_problem(tmp_path):
    hub.save_pretrained(VideoViT(STUDENT), tmp_path / "ok")
    config = json.loads((tmp_path / "ok" / "config.json").read_text())

    def variant(name, **changes):
        target = tmp_path / name
        shutil.copytree(tmp_path / "ok", target)
        (target / "config.json").write_text(json.dumps({**config, **changes}))
        return target

    with pytest.raises(hub.CheckpointError, match="field 'format_version' is 99"):
        hub.from_pretrained(variant("future", format_version=99))
    with pytest.raises(hub.CheckpointError, match="field 'library' is 'timm'"):
        hub.from_pretrained(variant("other", library="timm"))
    with pytest.raises(hub.CheckpointError, match="field 'model_type' is 'video_vit', but a 'predictor'"):
        hub.from_pretrained(tmp_path / "ok", expected_type="predictor")
    with pytest.raises(hub.CheckpointError, match="field 'config' does not describe"):
        hub.from_pretrained(variant("broken", config={**config["config"], "embed_dim": 47}))
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "model.safetensors").write_bytes(b"")
    with pytest.raises(hub.CheckpointError, match=r"has no config.json \(of its files it has only model.safetensors\), so it is not a salt-vla"):
        hub.from_pretrained(tmp_path / "empty")


def test_offline_pull_from_populated_cache(tmp_path, monkeypatch):
    """The Hub path works offline from huggingface_hub's cache (its real code, HF_HUB_OFFLINE)."""
    hub.save_pretrained(VideoViT(STUDENT), tmp_path / "src")
    cache = tmp_path / "hf"
    repo = cache / "models--salt-vla--micro"
    commit = "0" * 40
    shutil.copytree(tmp_path / "src", repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    model = hub.from_pretrained("hf-hub:salt-vla/micro")
    torch.testing.assert_close(model(CLIP), hub.from_pretrained(tmp_path / "src")(CLIP))
    pulled = hub.pull("salt-vla/micro", tmp_path / "pulled")
    assert (pulled / "model.safetensors").read_bytes() == (tmp_path / "src" / "model.safetensors").read_bytes()
    with pytest.raises(WeightSourceError, match="HF_HUB_OFFLINE is set and it is not in the local Hugging Face cache"):
        hub.from_pretrained("hf-hub:salt-vla/not-cached")


def test_push_builds_the_right_commit(tmp_path, monkeypatch):
    hub.save_pretrained(VideoViT(STUDENT), tmp_path / "ckpt")
    operations = hub.commit_operations(tmp_path / "ckpt")
    assert [op.path_in_repo for op in operations] == ["README.md", "config.json", "model.safetensors"]
    import huggingface_hub

    calls = {}

    def create_repo(self, repo_id, **kwargs):
        calls["repo"] = (repo_id, kwargs, self.library_name)

    def create_commit(self, repo_id, operations, commit_message, revision=None):
        calls["commit"] = (repo_id, [op.path_in_repo for op in operations], commit_message)
        return "https://huggingface.co/org/name/commit/abc"

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "create_commit", create_commit)
    url = hub.push_to_hub(tmp_path / "ckpt", "org/name")
    assert url.endswith("/commit/abc")
    assert calls["repo"][0] == "org/name" and calls["repo"][2] == "salt-vla"
    assert calls["commit"][1] == ["README.md", "config.json", "model.safetensors"]
    with pytest.raises(WeightSourceError, match="one '/'"):
        hub.push_to_hub(tmp_path / "ckpt", "org\\name")


TEACHER_RUN = {
    "training_config": {"stage": "salt", "data": {"dataset": "video_folder", "args": {"root": "clips"}},
                        "teacher": {"name": "videomae_base", "args": {"pretrained": "hf-hub:MCG-NJU/videomae-base"}}},
    "probes": {"time_arrow": {"name": "time_arrow", "accuracy": 0.875, "chance": 0.5},
               "direction": {"name": "direction", "accuracy": 0.5, "chance": 0.25}},
    "datasets": ["org/robot-clips"],
}


def test_model_card_metadata_through_huggingface_hub(tmp_path):
    from huggingface_hub import ModelCard

    hub.save_pretrained(VideoViT(STUDENT), tmp_path / "student", metadata=TEACHER_RUN)
    card = ModelCard.load(tmp_path / "student" / "README.md")
    data = card.data
    assert data.library_name == "salt-vla" and data.license == "apache-2.0"
    assert {"salt-vla", "video_vit", "distillation"} <= set(data.tags)
    assert data.base_model == "MCG-NJU/videomae-base"  # the Hub teacher the student was distilled from
    assert data.datasets == ["org/robot-clips"]
    metrics = {r.metric_name: r.metric_value for r in data.eval_results}
    assert metrics == {"time_arrow probe accuracy": 0.875, "direction probe accuracy": 0.5}
    assert {r.dataset_type for r in data.eval_results} == {"video_folder"}
    assert 'VideoViT.from_pretrained("<org>/student")' in card.text

    # A stage-1 teacher trained from pixels has no base model, no probes and no datasets on the Hub.
    hub.save_pretrained(VideoViT(STUDENT), tmp_path / "plain", metadata={"license": "mit"})
    plain = ModelCard.load(tmp_path / "plain" / "README.md").data
    assert plain.license == "mit" and plain.base_model is None and plain.eval_results is None
    assert "distillation" not in plain.tags


def test_methods_save_load_and_keep_the_format_checks(tmp_path):
    model = VideoViT(STUDENT).eval()
    model.save_pretrained(tmp_path / "ckpt", metadata={"probes": {"time_arrow": 0.75}})
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert json.loads((tmp_path / "ckpt" / "config.json").read_text())["library"] == "salt-vla"
    loaded = VideoViT.from_pretrained(tmp_path / "ckpt").eval()
    assert type(loaded) is VideoViT and loaded.pretrained_metadata == {"probes": {"time_arrow": 0.75}}
    torch.testing.assert_close(loaded(CLIP), model(CLIP), rtol=0, atol=0)
    with pytest.raises(hub.CheckpointError, match="field 'model_type' is 'video_vit', but a 'predictor'"):
        Predictor.from_pretrained(tmp_path / "ckpt")
    config = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    (tmp_path / "ckpt" / "config.json").write_text(json.dumps({**config, "format_version": 99}))
    with pytest.raises(hub.CheckpointError, match="field 'format_version' is 99"):
        VideoViT.from_pretrained(tmp_path / "ckpt")
    mae = PixelMAE(PixelMAEConfig(STUDENT, decoder_dim=32, decoder_depth=1, decoder_heads=2)).eval()
    mae.save_pretrained(tmp_path / "mae")
    torch.testing.assert_close(PixelMAE.from_pretrained(tmp_path / "mae").encoder(CLIP), mae.encoder(CLIP), rtol=0, atol=0)


def test_push_to_hub_method_uploads_the_checkpoint_and_it_loads_back(tmp_path, monkeypatch):
    """The mixin's push_to_hub with only huggingface_hub's network calls replaced; the upload is read back."""
    import huggingface_hub

    uploaded = tmp_path / "uploaded"
    calls = {}

    def create_repo(self, repo_id, **kwargs):
        calls["repo"] = repo_id
        return huggingface_hub.RepoUrl(f"https://huggingface.co/{repo_id}")

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        calls["upload"] = repo_id
        shutil.copytree(folder_path, uploaded)
        return "https://huggingface.co/org/student/commit/abc"

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    model = VideoViT(STUDENT).eval()
    model.pretrained_metadata = TEACHER_RUN
    assert model.push_to_hub("org/student").endswith("/commit/abc")
    assert calls == {"repo": "org/student", "upload": "org/student"}
    assert sorted(p.name for p in uploaded.iterdir()) == ["README.md", "config.json", "model.safetensors"]

    # Served back from huggingface_hub's cache (offline), by Hub id, through the mixin's download path.
    cache = tmp_path / "hf"
    commit = "1" * 40
    shutil.copytree(uploaded, cache / "models--org--student" / "snapshots" / commit)
    (cache / "models--org--student" / "refs").mkdir()
    (cache / "models--org--student" / "refs" / "main").write_text(commit)
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    loaded = VideoViT.from_pretrained("org/student")
    torch.testing.assert_close(loaded.eval()(CLIP), model(CLIP), rtol=0, atol=0)
    assert loaded.pretrained_metadata["probes"]["time_arrow"]["accuracy"] == 0.875
