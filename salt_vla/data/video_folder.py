"""A folder of videos, searched recursively, optionally labelled."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from salt_vla.data.files import FileVideoDataset, labels_to_columns
from salt_vla.data.views import ViewSampler

VIDEO_EXTENSIONS = (".mp4", ".webm", ".mkv", ".avi", ".mov", ".m4v")
LABELS_FILE = "labels.json"
LABEL_MODES = ("auto", "file", "folder", "none")


def find_videos(root: Path, extensions: tuple[str, ...]) -> list[str]:
    """Relative POSIX paths of the files under ``root`` with one of ``extensions``, sorted.

    Hidden files and folders (a leading ``.``: editors' and our own temporary files) are skipped.
    """
    found = []
    for folder, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if not name.startswith(".") and name.lower().endswith(extensions):
                found.append((Path(folder) / name).relative_to(root).as_posix())
    return sorted(found)


class VideoFolderDataset(FileVideoDataset):
    """Every video file under ``root`` (recursively), in sorted path order.

    Args:
        root: the folder.
        frames, stride, size: clip length, frame stride and output ``(H, W)``.
        extensions: file endings that count as videos (case-insensitive).
        labels: ``"file"`` reads ``root/labels.json`` (``{relative path: {name: int | float}}``, as
            :func:`~salt_vla.data.write.write_videos` writes it); ``"folder"`` labels each video
            ``{"class": k}`` by its first-level subfolder (sorted names, see :attr:`classes`);
            ``"none"`` gives empty labels; ``"auto"`` is ``"file"`` when ``labels.json`` exists,
            else ``"none"``.
        seed, scale, ratio, flip, temporal: view sampling (:class:`~salt_vla.data.views.ViewSampler`).
        decode_threads, max_failure_fraction: see :class:`~salt_vla.data.files.FileVideoDataset`.
    """

    kind = "video_folder"

    def __init__(
        self,
        root: str | os.PathLike[str],
        frames: int = 16,
        stride: int = 4,
        size: tuple[int, int] | int = (224, 224),
        *,
        extensions: tuple[str, ...] = VIDEO_EXTENSIONS,
        labels: str = "auto",
        seed: int = 0,
        scale: tuple[float, float] = (0.3, 1.0),
        ratio: tuple[float, float] | None = (0.75, 1.35),
        flip: bool = False,
        temporal: str = "random",
        decode_threads: int = 1,
        max_failure_fraction: float = 0.5,
    ) -> None:
        root = Path(root).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(f"VideoFolderDataset: {root} is not a directory.")
        if labels not in LABEL_MODES:
            raise ValueError(f"VideoFolderDataset: labels must be one of {LABEL_MODES}; got {labels!r}.")
        extensions = tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions)
        paths = find_videos(root, extensions)
        if not paths:
            raise FileNotFoundError(
                f"VideoFolderDataset: no files ending in {', '.join(extensions)} under {root} (searched "
                f"recursively). Pass extensions=(...) if your videos use another one."
            )
        self.classes: list[str] = []
        if labels == "auto":
            labels = "file" if (root / LABELS_FILE).is_file() else "none"
        columns = None
        if labels == "file":
            columns = self._read_labels_file(root, paths)
        elif labels == "folder":
            top = [p.split("/", 1)[0] if "/" in p else "" for p in paths]
            self.classes = sorted(set(top))
            columns = {"class": np.array([self.classes.index(t) for t in top], dtype=np.int64)}
        sampler = ViewSampler(frames=frames, stride=stride, size=size, scale=scale, ratio=ratio, flip=flip,
                              temporal=temporal)
        super().__init__(root, paths, sampler, labels=columns, seed=seed, decode_threads=decode_threads,
                         max_failure_fraction=max_failure_fraction)

    @staticmethod
    def _read_labels_file(root: Path, paths: list[str]) -> dict[str, np.ndarray]:
        file = root / LABELS_FILE
        try:
            table = json.loads(file.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"VideoFolderDataset: cannot read {file}: {error}") from error
        if not isinstance(table, dict):
            raise ValueError(f"{file} must map relative video paths to label dicts; got {type(table).__name__}.")
        missing = [p for p in paths if p not in table]
        if missing:
            raise ValueError(
                f"{file} has no labels for {len(missing)} of {len(paths)} videos (first: {missing[:3]}). "
                f"Add them, or pass labels='none'."
            )
        return labels_to_columns([table[p] for p in paths], str(file))
