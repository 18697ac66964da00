"""Policy sources (Hub ids vs paths) and camera mapping: pure logic, no LeRobot needed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from salt_vla_lerobot.cameras import (
    CameraMappingError,
    parse_camera_map,
    resolve_camera_map,
    suggest_camera_map,
)
from salt_vla_lerobot.sources import parse_checkpoint_source

from salt_vla.weights import WeightSourceError

NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=12)


def test_plain_hub_id_and_explicit_forms():
    assert parse_checkpoint_source("danbhf/act_so101").repo_id == "danbhf/act_so101"
    parsed = parse_checkpoint_source("hf-hub:danbhf/act_so101@v1")
    assert (parsed.repo_id, parsed.revision) == ("danbhf/act_so101", "v1")


def test_existing_directory_wins_over_hub_id(tmp_path, monkeypatch):
    (tmp_path / "org" / "name").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    parsed = parse_checkpoint_source("org/name")
    assert parsed.kind == "local" and parsed.path.name == "name"


@settings(max_examples=50, deadline=None)
@given(org=NAMES, name=NAMES)
def test_backslash_hub_ids_are_refused_with_the_corrected_id(org, name):
    with pytest.raises(WeightSourceError) as error:
        parse_checkpoint_source(f"{org}\\{name}")
    assert f"'{org}/{name}'" in str(error.value) and "2552" in str(error.value)


def test_windows_path_and_nested_hub_path_are_explained():
    with pytest.raises(WeightSourceError, match="backslash"):
        parse_checkpoint_source("C:\\Users\\me\\ckpt")
    with pytest.raises(WeightSourceError, match="exactly one '/'.*'org/repo'"):
        parse_checkpoint_source("org/repo/checkpoints/last")
    with pytest.raises(WeightSourceError, match="no such directory"):
        parse_checkpoint_source("./missing_checkpoint")
    with pytest.raises(WeightSourceError, match="non-empty|directory or a Hub id"):
        parse_checkpoint_source("  ")


def test_hub_id_offline_and_uncached_says_how_to_fix(monkeypatch, tmp_path):
    from salt_vla_lerobot.sources import checkpoint_dir

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(WeightSourceError, match="huggingface-cli download|local-dir"):
        checkpoint_dir("nobody-here/no-such-policy")


def test_identity_mapping_and_explicit_mapping():
    assert resolve_camera_map(["overhead_cam", "wrist_cam"], ["overhead_cam", "wrist_cam"], allow_missing=False,
                              where="p") == {"overhead_cam": "overhead_cam", "wrist_cam": "wrist_cam"}
    resolved = resolve_camera_map(["front", "gripper"], ["overhead_cam", "wrist_cam"],
                                  {"front": "overhead_cam", "gripper": "wrist_cam"}, allow_missing=False, where="p")
    assert resolved == {"front": "overhead_cam", "gripper": "wrist_cam"}


def test_mismatch_error_lists_both_sides_and_suggests_wrist_to_wrist():
    with pytest.raises(CameraMappingError) as error:
        resolve_camera_map(["base_0_rgb", "left_wrist_0_rgb"], ["overhead_cam", "wrist_cam"], allow_missing=False,
                           where="pi0:x")
    text = str(error.value)
    assert "['base_0_rgb', 'left_wrist_0_rgb']" in text and "['overhead_cam', 'wrist_cam']" in text
    assert "{'base_0_rgb': 'overhead_cam', 'left_wrist_0_rgb': 'wrist_cam'}" in text


def test_leaving_a_camera_out_only_for_policies_that_allow_it():
    cams = ["base_0_rgb", "left_wrist_0_rgb", "right_wrist_0_rgb"]
    given_map = parse_camera_map("base_0_rgb=overhead_cam,left_wrist_0_rgb=wrist_cam,right_wrist_0_rgb=")
    assert resolve_camera_map(cams, ["overhead_cam", "wrist_cam"], given_map, allow_missing=True,
                              where="pi0")["right_wrist_0_rgb"] is None
    with pytest.raises(CameraMappingError, match="needs every camera"):
        resolve_camera_map(cams, ["overhead_cam", "wrist_cam"], given_map, allow_missing=False, where="act")
    with pytest.raises(CameraMappingError, match="not cameras of the task"):
        resolve_camera_map(["a"], ["overhead_cam"], {"a": "top_cam"}, allow_missing=False, where="act")
    with pytest.raises(ValueError, match="policy_camera=task_camera"):
        parse_camera_map("overhead_cam")


@settings(max_examples=80, deadline=None)
@given(policy_cams=st.lists(NAMES, min_size=1, max_size=4, unique=True),
       task_cams=st.lists(NAMES, min_size=1, max_size=4, unique=True))
def test_suggestion_is_injective_and_uses_real_cameras(policy_cams, task_cams):
    suggestion = suggest_camera_map(policy_cams, task_cams)
    assert set(suggestion) <= set(policy_cams) and set(suggestion.values()) <= set(task_cams)
    assert len(set(suggestion.values())) == len(suggestion)
    assert len(suggestion) == min(len(policy_cams), len(task_cams))
    if len(policy_cams) <= len(task_cams):  # a complete suggestion is always accepted
        resolved = resolve_camera_map(policy_cams, task_cams, suggestion, allow_missing=False, where="p")
        assert resolved == suggestion
