"""The interactive viewer's history keys, and its refusal without a display (the window itself needs one)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from salt_vla_so101.config import TaskConfig
from salt_vla_whiskers.config import WhiskerConfig
from salt_vla_whiskers.episode import run_whiskers
from salt_vla_whiskers.viewer import (
    KEY_END,
    KEY_HOME,
    KEY_LEFT,
    KEY_RIGHT,
    KEY_SPACE,
    History,
    NoDisplayError,
    browse,
)

from .conftest import LINUX_ONLY


def test_keys_pause_and_step_through_history_within_bounds() -> None:
    history = History(3)
    assert history.playing and history.index == 0
    history.on_key(KEY_LEFT)
    assert history.index == 0 and not history.playing
    history.on_key(KEY_RIGHT)
    history.on_key(KEY_RIGHT)
    history.on_key(KEY_RIGHT)
    assert history.index == 2
    history.tick()  # paused: stays
    assert history.index == 2
    history.on_key(KEY_SPACE)  # play at the end: from the start
    assert history.playing and history.index == 0
    history.tick()
    history.tick()
    assert history.index == 2 and not history.playing  # playback stops at the last prediction
    history.on_key(KEY_HOME)
    assert history.index == 0
    history.on_key(KEY_END)
    history.on_key(65)  # 'A': ignored
    assert history.index == 2
    with pytest.raises(ValueError, match="no predictions"):
        History(0)


@LINUX_ONLY
def test_browse_without_a_display_explains_what_to_do(monkeypatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    config = replace(WhiskerConfig(render=False, task=TaskConfig(render=False)), steps=2)
    episode = run_whiskers("hold", 0, config, progress=False)
    with pytest.raises(NoDisplayError, match="no display.*run without --interactive"):
        browse(episode)
