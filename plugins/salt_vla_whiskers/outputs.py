"""Files of a whisker run, all written atomically (:mod:`salt_vla.io`):

- ``frames/step_<t>.png``: one frame per prediction, named by its control step;
- ``whiskers.mp4``: the frames as H.264 video (PyAV), at ``config.frame_rate``;
- ``metrics.json``: per-prediction metrics, their summary, the executed path and the settings (``partial``:
  true when Ctrl-C stopped the run; what was recorded until then is there);
- ``summary.png``: the metrics over the episode.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from salt_vla.io import atomic_write_bytes, atomic_write_json
from salt_vla_whiskers.episode import WhiskerEpisode, WhiskerStep

FRAMES_DIR = "frames"
VIDEO = "whiskers.mp4"
METRICS = "metrics.json"
SUMMARY = "summary.png"


def png_bytes(image: np.ndarray) -> bytes:
    """PNG encoding of an ``[H, W, 3]`` uint8 image."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def frame_name(step: int) -> str:
    """File name of the frame of the prediction made at control ``step``."""
    return f"step_{step:06d}.png"


def _series(episode: WhiskerEpisode, name: str, scale: float) -> np.ndarray:
    return np.array([math.nan if s.metrics.get(name) is None else s.metrics[name] * scale for s in episode.steps])


def summary_png(episode: WhiskerEpisode) -> bytes:
    """A 2x2 plot of spread, jerk, deviation and goal distances over the episode (PNG bytes)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    seconds = np.array([s.step for s in episode.steps]) * episode.dt
    figure = Figure(figsize=(8.0, 5.6), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(2, 2, sharex=True)
    panels = [
        (axes[0, 0], [("spread_m", 1000.0, "spread")], "whisker spread (mm)", False),
        (axes[0, 1], [("jerk_m2_s6", 1.0, "jerk")], "mean squared jerk (m²/s⁶)", True),
        (axes[1, 0], [("deviation_m", 1000.0, "deviation")], "predicted vs executed (mm)", False),
        (axes[1, 1], [("end_to_block_m", 100.0, "to block"), ("end_to_bowl_xy_m", 100.0, "to bowl (xy)")],
         "chunk end distance (cm)", False),
    ]
    for ax, lines, label, log in panels:
        for name, scale, legend in lines:
            ax.plot(seconds, _series(episode, name, scale), marker=".", markersize=3, linewidth=1.2, label=legend)
        if log and np.any(_series(episode, lines[0][0], 1.0) > 0):
            ax.set_yscale("log")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if len(lines) > 1:
            ax.legend(fontsize=8)
    for ax in axes[1]:
        ax.set_xlabel("time (s)")
    k = episode.config.samples
    figure.suptitle(f"whiskers: {episode.policy}, seed {episode.seed}, {k} sample{'s' * (k > 1)} per step")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def write_frame(step: WhiskerStep, frame: np.ndarray, out_dir: str | Path) -> Path:
    """Write the PNG of one prediction's frame (as it is drawn, so an interrupted run keeps it)."""
    return atomic_write_bytes(Path(out_dir) / FRAMES_DIR / frame_name(step.step), png_bytes(frame))


def write_outputs(episode: WhiskerEpisode, frames: Sequence[np.ndarray], out_dir: str | Path, *,
                  frames_written: bool = False) -> dict[str, Any]:
    """Write the run's files into ``out_dir`` (see the module docstring); frames may be empty (no video then).

    ``frames_written``: the PNGs are already there (:func:`write_frame` as each was drawn).

    Returns:
        ``{"frames": [png paths], "video": path | None, "metrics": path, "summary": path}``.
    """
    from salt_vla_so101.video import write_mp4

    out = Path(out_dir)
    if frames and len(frames) != len(episode.steps):
        raise ValueError(f"Got {len(frames)} frames for {len(episode.steps)} predictions; pass one frame per prediction.")
    pngs = [out / FRAMES_DIR / frame_name(s.step) if frames_written else write_frame(s, f, out)
            for s, f in zip(episode.steps, frames)]
    video = write_mp4(list(frames), out / VIDEO, episode.config.frame_rate) if frames else None
    document = episode.to_json()
    if frames:
        for row, s in zip(document["steps"], episode.steps):
            row["frame"] = f"{FRAMES_DIR}/{frame_name(s.step)}"
    return {
        "frames": pngs,
        "video": video,
        "metrics": atomic_write_json(out / METRICS, document),
        "summary": atomic_write_bytes(out / SUMMARY, summary_png(episode)),
    }
