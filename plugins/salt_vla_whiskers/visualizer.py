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

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from salt_vla.interfaces import Policy
from salt_vla_whiskers.config import WhiskerConfig
from salt_vla_whiskers.episode import WhiskerEpisode, run_whiskers
from salt_vla_whiskers.frames import render_frames
from salt_vla_whiskers.outputs import write_outputs


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
        frames = render_frames(episode, progress=progress) if config.render else []
        result: dict[str, Any] = {"frames": frames, "metrics": episode.metrics(), "summary": episode.summary(),
                                  "error": episode.error, "episode": episode}
        if out_dir is not None:
            result["files"] = write_outputs(episode, frames, out_dir)
        return result


def whisker_frames(policy: Policy | str, seed: int = 0, **options: Any) -> list[np.ndarray]:
    """Frames ``[H, W, 3]`` uint8 of ``policy``'s whiskers on episode ``seed``, for a notebook.

    ``options`` are :class:`~salt_vla_whiskers.config.WhiskerConfig` fields (``samples=4, every=5,
    steps=120, camera="overhead_cam", size=(240, 320)``) and ``progress``.
    """
    progress = bool(options.pop("progress", False))
    return WhiskerVisualizer(**options).visualize(policy, seed=seed, progress=progress)["frames"]
