"""Browse a recorded whisker episode in MuJoCo's interactive viewer (needs a display).

Keys: SPACE play/pause, RIGHT / LEFT one prediction forward / back (and pause), HOME / END first / last.
The viewer shows a display copy restored from the recorded states; the policy is not run again. On macOS,
start Python with ``mjpython`` (MuJoCo's passive viewer needs it there).
"""

from __future__ import annotations

import os
import sys
import threading
import time

from salt_vla_whiskers.draw import WhiskerStyle, draw_whiskers
from salt_vla_whiskers.episode import WhiskerEpisode
from salt_vla_whiskers.frames import restore

KEY_SPACE, KEY_RIGHT, KEY_LEFT, KEY_HOME, KEY_END = 32, 262, 263, 268, 269
"""GLFW key codes the viewer passes to ``key_callback``."""

HELP = "SPACE play/pause   RIGHT/LEFT step   HOME/END first/last"


class NoDisplayError(RuntimeError):
    """The interactive viewer cannot open a window here."""


def display_problem() -> str | None:
    """Why no viewer window can open here (``None`` if one probably can)."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display (DISPLAY and WAYLAND_DISPLAY are unset: a headless machine, or SSH without X forwarding)"
    try:
        import mujoco.viewer  # noqa: F401  (imports glfw)
    except Exception as exc:  # ImportError, or glfw failing to find its library
        return f"MuJoCo's viewer cannot be imported ({type(exc).__name__}: {exc})"
    return None


class History:
    """Which prediction is shown, moved by keys (viewer thread) and by playback (main thread)."""

    def __init__(self, count: int) -> None:
        if count < 1:
            raise ValueError("The episode recorded no predictions; there is nothing to browse.")
        self.count = count
        self.index = 0
        self.playing = True
        self._lock = threading.Lock()

    def on_key(self, key: int) -> None:
        """Apply one key press (GLFW code); other keys are ignored."""
        with self._lock:
            if key == KEY_SPACE:
                self.playing = not self.playing
                if self.playing and self.index == self.count - 1:
                    self.index = 0  # play again from the start
                return
            moves = {KEY_RIGHT: self.index + 1, KEY_LEFT: self.index - 1, KEY_HOME: 0, KEY_END: self.count - 1}
            if key in moves:
                self.playing = False
                self.index = min(max(moves[key], 0), self.count - 1)

    def tick(self) -> None:
        """Advance one prediction while playing; stop at the last one."""
        with self._lock:
            if self.playing:
                self.index = min(self.index + 1, self.count - 1)
                self.playing = self.index < self.count - 1


def browse(episode: WhiskerEpisode, *, style: WhiskerStyle | None = None, speed: float = 1.0) -> None:
    """Open the viewer on ``episode`` and return when its window is closed.

    Args:
        style: colours and sizes (default: the episode's).
        speed: playback speed (1 = real time).

    Raises:
        NoDisplayError: no window can be opened here; the message says why and what to do instead.
    """
    problem = display_problem()
    if problem:
        raise NoDisplayError(
            f"Interactive whiskers need a display: {problem}. The frames, MP4, metrics and summary plot do not; "
            "run without --interactive (or with it on a machine with a screen)."
        )
    import mujoco.viewer

    model = episode.task.model
    data = mujoco.MjData(model)
    style = style or episode.config.style
    history = History(len(episode.steps))
    period = episode.config.every * episode.dt / max(speed, 1e-3)
    shown = -1
    with mujoco.viewer.launch_passive(model, data, key_callback=history.on_key) as viewer:
        while viewer.is_running():
            index, playing = history.index, history.playing
            if index != shown:
                record = episode.steps[index]
                with viewer.lock():
                    restore(model, data, record.state)
                    viewer.user_scn.ngeom = 0
                    draw_whiskers(viewer.user_scn, current=record.paths, ghosts=episode.ghosts(index),
                                  executed=episode.executed[:record.step + 1], style=style)
                shown = index
            status = f"step {episode.steps[index].step} ({index + 1}/{history.count}) {'playing' if playing else 'paused'}"
            viewer.set_texts((None, None, status, HELP))
            viewer.sync()
            time.sleep(period)
            history.tick()
