"""The ``whiskers`` Visualizer and the notebook helper :func:`whisker_frames`.

::

    import salt_vla

    viz = salt_vla.create_visualizer("whiskers", samples=4, camera="perspective")
    result = viz.visualize("scripted", seed=0, out_dir="whiskers/")   # or a Policy object
    result["frames"]     # list of [H, W, 3] uint8, one per prediction
    result["metrics"]    # list of dicts, one per prediction
    result["files"]      # {"frames": [...], "video": ..., "metrics": ..., "summary": ...}
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from salt_vla.interfaces import Policy
from salt_vla_whiskers.config import WhiskerConfig
from salt_vla_whiskers.episode import WhiskerEpisode, run_whiskers
from salt_vla_whiskers.frames import iter_frames
from salt_vla_whiskers.outputs import METRICS, write_frame, write_outputs


class WhiskerVisualizer:
    """Draws a policy's predicted chunks as whiskers (a :class:`salt_vla.interfaces.Visualizer`).

    Args:
        config: settings; keyword options override its fields (``WhiskerVisualizer(samples=8)``).
    """

    name = "whiskers"

    def __init__(self, config: WhiskerConfig | None = None, **options: Any) -> None:
        self.config = (config or WhiskerConfig()).with_options(**options)

    def run(self, policy: Policy | str, *, seed: int, progress: bool = True, **options: Any) -> WhiskerEpisode:
        """Record the whiskers of episode ``seed`` without drawing (options override the config)."""
        return run_whiskers(policy, seed, self.config.with_options(**options), progress=progress)

    def visualize(
        self, policy: Policy | str, *, seed: int, out_dir: str | Path | None = None, progress: bool = True,
        policy_kwargs: Mapping[str, Any] | None = None, **options: Any,
    ) -> Mapping[str, Any]:
        """Roll ``policy`` out on episode ``seed``, draw every prediction, and write the files to ``out_dir``.

        ``policy_kwargs`` are ``create_policy`` options (``device``, ``camera_map``, ...) for a SPEC ``policy``.

        Returns:
            ``{"frames": [[H, W, 3] uint8], "metrics": [per-prediction dicts], "summary": {...},
            "error": str, "episode": WhiskerEpisode}`` and, with ``out_dir``, ``"files"``
            (see :func:`salt_vla_whiskers.outputs.write_outputs`).
        """
        config = self.config.with_options(**options)
        episode = run_whiskers(policy, seed, config, progress=progress, policy_kwargs=policy_kwargs)
        if episode.interrupted:  # Ctrl-C during the rollout: keep what was recorded, then stop
            if out_dir is not None:
                write_outputs(episode, [], out_dir)
                _say_partial(episode, out_dir, "rollout")
            raise KeyboardInterrupt
        frames: list[np.ndarray] = []
        if config.render:
            try:
                for frame in iter_frames(episode, progress=progress):
                    frames.append(frame)
                    if out_dir is not None:  # each frame as it is drawn: an interruption keeps them
                        write_frame(episode.steps[len(frames) - 1], frame, out_dir)
            except KeyboardInterrupt:
                if out_dir is not None:
                    episode.interrupted = True
                    episode.error = f"drawing interrupted after {len(frames)} of {len(episode.steps)} frames"
                    write_outputs(episode, [], out_dir)
                    _say_partial(episode, out_dir, "drawing")
                raise
        result: dict[str, Any] = {"frames": frames, "metrics": episode.metrics(), "summary": episode.summary(),
                                  "error": episode.error, "episode": episode}
        if out_dir is not None:
            result["files"] = write_outputs(episode, frames, out_dir, frames_written=True)
        return result


def _say_partial(episode: WhiskerEpisode, out_dir: str | Path, stage: str) -> None:
    print(f"\nwhiskers: interrupted during the {stage} ({episode.error}); {len(episode.steps)} predictions written to "
          f"{Path(out_dir) / METRICS}, marked partial. Re-run the same command for the whole episode.", file=sys.stderr)


def whisker_frames(policy: Policy | str, seed: int = 0, **options: Any) -> list[np.ndarray]:
    """Frames ``[H, W, 3]`` uint8 of ``policy``'s whiskers on episode ``seed``, for a notebook.

    ``options`` are :class:`~salt_vla_whiskers.config.WhiskerConfig` fields (``samples=4, every=5,
    steps=120, camera="overhead_cam", size=(240, 320)``) and ``progress``.
    """
    progress = bool(options.pop("progress", False))
    return WhiskerVisualizer(**options).visualize(policy, seed=seed, progress=progress)["frames"]
