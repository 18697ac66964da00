"""Draw a recorded :class:`~salt_vla_whiskers.episode.WhiskerEpisode` into frames, one per prediction.

Each frame shows the scene at the prediction's step (restored from the recorded state into a display
copy: the task's live data is not used), the current bundle in green, the previous ``ghosts`` bundles in
fading blue, and the executed path so far in orange. Camera, size, ghosts and style can differ from the
run's: redrawing needs no policy.
"""

from __future__ import annotations

from collections.abc import Iterator

import mujoco
import numpy as np
from tqdm.auto import tqdm

from salt_vla_whiskers.draw import WhiskerRenderer, WhiskerStyle
from salt_vla_whiskers.episode import STATE, WhiskerEpisode


def restore(model: mujoco.MjModel, data: mujoco.MjData, state: np.ndarray) -> None:
    """Put the recorded integration ``state`` into ``data`` and recompute positions for drawing."""
    mujoco.mj_setState(model, data, state, STATE)
    mujoco.mj_forward(model, data)


def iter_frames(
    episode: WhiskerEpisode,
    *,
    camera: str | None = None,
    size: tuple[int, int] | None = None,
    ghosts: int | None = None,
    style: WhiskerStyle | None = None,
    progress: bool = False,
) -> Iterator[np.ndarray]:
    """Yield one ``[H, W, 3]`` uint8 frame per prediction of ``episode`` (defaults: the episode's config)."""
    config = episode.config
    model = episode.task.model
    renderer = WhiskerRenderer(model, size=size or config.size, camera=camera or config.camera,
                               style=style or config.style)
    display = mujoco.MjData(model)
    try:
        for index, record in enumerate(tqdm(episode.steps, desc="drawing", unit="frame", disable=not progress,
                                            leave=False)):
            restore(model, display, record.state)
            yield renderer.render(display, current=record.paths, ghosts=episode.ghosts(index, ghosts),
                                  executed=episode.executed[:record.step + 1])
    finally:
        renderer.close()


def render_frames(episode: WhiskerEpisode, **options: object) -> list[np.ndarray]:
    """All frames of ``episode`` as a list (options as :func:`iter_frames`)."""
    return list(iter_frames(episode, **options))  # type: ignore[arg-type]
