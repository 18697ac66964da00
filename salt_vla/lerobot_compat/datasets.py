"""Recording and reading ``LeRobotDataset`` across LeRobot versions.

Differences handled (by inspecting what is installed, not by version numbers):

- module path: ``lerobot.datasets.lerobot_dataset`` (0.3+) or ``lerobot.common.datasets.lerobot_dataset``
  (older);
- the task string: a ``"task"`` key inside the frame (0.3+, v3 datasets) or ``add_frame(frame, task=...)``;
- ``LeRobotDataset.create`` / ``save_episode`` keyword arguments that a version lacks are dropped
  (``vcodec``, ``parallel_encoding``, ...);
- the video codec: ``create(vcodec=...)`` (0.4) or ``create(rgb_encoder=RGBEncoderConfig(vcodec=...))``
  (>= 0.5, whose default is AV1: several times slower to encode and to decode than H.264 at these sizes);
- ``finalize()`` (v3: closes the parquet writers; without it the dataset cannot be loaded) is called when
  it exists;
- recording's noise (FFmpeg encoder statistics, ``datasets`` progress bars) is silenced by
  :func:`quiet_recording`.

Reading back uses the PyAV video backend: torchcodec needs a system FFmpeg that is often missing.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from salt_vla.lerobot_compat.versions import INSTALL_HINT, LeRobotMissingError


def dataset_class() -> type:
    """``LeRobotDataset`` of the installed LeRobot."""
    try:
        from lerobot.datasets.lerobot_dataset import LeRobotDataset
    except ImportError:
        try:
            from lerobot.common.datasets.lerobot_dataset import LeRobotDataset
        except ImportError as exc:
            raise LeRobotMissingError(
                f"LeRobot datasets need LeRobot (>= 0.4.4), which is not installed: {INSTALL_HINT}"
            ) from exc
    return LeRobotDataset


def _supported(function: Callable[..., Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    parameters = inspect.signature(function).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return kwargs
    return {k: v for k, v in kwargs.items() if k in parameters}


def create_dataset(repo_id: str, root: str | os.PathLike[str], fps: int, features: dict[str, dict], *,
                   robot_type: str, vcodec: str = "h264", use_videos: bool = True) -> Any:
    """An empty dataset at ``root`` (which must not exist) recording ``features`` at ``fps``.

    ``use_videos``: whether ``"video"`` features are encoded (``"image"`` features are always PNG frames).
    """
    cls = dataset_class()
    options = _supported(cls.create, {"robot_type": robot_type, "use_videos": use_videos, "vcodec": vcodec,
                                      "rgb_encoder": rgb_encoder_config(vcodec), "image_writer_threads": 0})
    return cls.create(repo_id=repo_id, fps=fps, features=features, root=root, **options)


def rgb_encoder_config(vcodec: str) -> Any:
    """LeRobot >= 0.5's ``RGBEncoderConfig`` for ``vcodec`` (None on versions that take ``vcodec=`` directly)."""
    try:
        from lerobot.configs.video import RGBEncoderConfig
    except ImportError:
        return None
    return RGBEncoderConfig(vcodec=vcodec)


def add_frame(dataset: Any, frame: dict[str, Any], task: str) -> None:
    """Append one frame (feature name -> value) with its task string."""
    if "task" in inspect.signature(dataset.add_frame).parameters:
        dataset.add_frame(frame, task=task)
    else:
        dataset.add_frame({**frame, "task": task})


def save_episode(dataset: Any) -> None:
    """Write the buffered episode (videos encoded in this process)."""
    dataset.save_episode(**_supported(dataset.save_episode, {"parallel_encoding": False}))


def discard_episode(dataset: Any) -> None:
    """Drop the buffered episode and its temporary images."""
    dataset.clear_episode_buffer()


def finalize(dataset: Any) -> None:
    """Close writers so the dataset is loadable (a no-op on versions without ``finalize``)."""
    close = getattr(dataset, "finalize", None)
    if callable(close):
        close()


def aggregate(parts: list[Path], root: str | os.PathLike[str], repo_id: str) -> None:
    """Join the datasets at ``parts`` (same features and fps), in order, into a new dataset at ``root``.

    LeRobot's own ``aggregate_datasets`` (v3, LeRobot >= 0.4): episodes and frames are re-indexed, tasks
    unified, data and video files copied (videos are concatenated, never re-encoded), statistics combined.
    """
    try:
        from lerobot.datasets.aggregate import aggregate_datasets
    except ImportError as exc:
        raise LeRobotMissingError("Joining LeRobot datasets needs LeRobot >= 0.4 (lerobot.datasets.aggregate): "
                                  f"{INSTALL_HINT}") from exc
    aggregate_datasets(repo_ids=[f"{repo_id}_part{k}" for k in range(len(parts))], aggr_repo_id=repo_id,
                       roots=[Path(p) for p in parts], aggr_root=Path(root))


@contextmanager
def quiet_recording() -> Iterator[None]:
    """Silence what recording prints besides our own progress bar: FFmpeg's encoder statistics (about a dozen
    ``[libx264 @ ...]`` lines per video; LeRobot restores FFmpeg's default log callback after each encode, so
    the FFmpeg log level itself is lowered to errors) and the ``datasets`` library's ``Map`` progress bars."""
    import av.logging

    restore_bars = False
    try:
        import datasets

        if datasets.is_progress_bar_enabled():
            datasets.disable_progress_bars()
            restore_bars = True
    except (ImportError, AttributeError):  # a datasets version without these switches: its bars stay
        pass
    av.logging.set_libav_level(av.logging.ERROR)
    try:
        yield
    finally:
        av.logging.set_libav_level(av.logging.INFO)  # FFmpeg's own default
        if restore_bars:
            import datasets

            datasets.enable_progress_bars()


def load_dataset(root: str | os.PathLike[str], repo_id: str = "local/dataset", **kwargs: Any) -> Any:
    """Open a local dataset for reading, decoding videos with PyAV."""
    cls = dataset_class()
    return cls(repo_id, root=root, **_supported(cls.__init__, {"video_backend": "pyav", **kwargs}))
