"""Something-Something-v2 from its JSON split files.

A split file (``train.json``, ``validation.json``, ``test.json``) is a list of
``{"id": "78687", "label": "holding potato next to vicks vaporub bottle", "template": "Holding
[something] next to [something]", "placeholders": [...]}``; the test split has ids only. Videos are
``<root>/<id>.webm``. The class of a video is its template's index in the official labels file
(``something-something-v2-labels.json``: ``{"Holding something next to something": "93", ...}``),
found next to the split file or in ``root`` unless given; without it, items have no labels (which
self-supervised training does not need).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from salt_vla.data.files import FileVideoDataset
from salt_vla.data.views import ViewSampler

LABELS_FILE = "something-something-v2-labels.json"


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as error:
        raise FileNotFoundError(f"SSv2Dataset: {what} {path} does not exist.") from error
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"SSv2Dataset: cannot read {what} {path}: {error}") from error


def template_key(template: str) -> str:
    """The labels-file key of a split entry's template: ``"Holding [something]"`` -> ``"Holding something"``."""
    return template.replace("[", "").replace("]", "")


class SSv2Dataset(FileVideoDataset):
    """Something-Something-v2 videos listed by a split file.

    Args:
        root: folder of ``<id>.webm`` files.
        split_json: the split file.
        frames, stride, size: clip length, frame stride (source frames at 12 fps) and output ``(H, W)``.
        labels_json: the official labels file; default: look next to ``split_json``, then in ``root``.
        extension: video file ending.
        seed, scale, ratio, flip, temporal: view sampling. ``flip`` stays off for SSv2: mirroring
            swaps "left" and "right" classes.
        decode_threads, max_failure_fraction: see :class:`~salt_vla.data.files.FileVideoDataset`.

    Entries whose video file is missing are dropped with a warning that counts them.
    """

    kind = "ssv2"

    def __init__(
        self,
        root: str | os.PathLike[str],
        split_json: str | os.PathLike[str],
        frames: int = 16,
        stride: int = 4,
        size: tuple[int, int] | int = (224, 224),
        *,
        labels_json: str | os.PathLike[str] | None = None,
        extension: str = ".webm",
        seed: int = 0,
        scale: tuple[float, float] = (0.3, 1.0),
        ratio: tuple[float, float] | None = (0.75, 1.35),
        flip: bool = False,
        temporal: str = "random",
        decode_threads: int = 1,
        max_failure_fraction: float = 0.5,
    ) -> None:
        root, split_json = Path(root).expanduser(), Path(split_json).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(f"SSv2Dataset: video root {root} is not a directory.")
        entries = _read_json(split_json, "split file")
        bad = next((e for e in entries if not isinstance(e, dict) or "id" not in e), None) if isinstance(
            entries, list) else entries
        if bad is not None:
            raise ValueError(
                f"SSv2Dataset: {split_json} must be a JSON list of {{\"id\": ..., \"template\": ...}} entries; "
                f"found {str(bad)[:120]!r}."
            )
        present = {entry.name for entry in os.scandir(root)}
        kept = [e for e in entries if f"{e['id']}{extension}" in present]
        if not kept:
            raise FileNotFoundError(
                f"SSv2Dataset: none of the {len(entries)} videos of {split_json.name} is in {root} (expected e.g. "
                f"{root / (str(entries[0]['id']) + extension) if entries else '<id>' + extension}). Check root and extension."
            )
        if len(kept) < len(entries):
            missing = [str(e["id"]) for e in entries if f"{e['id']}{extension}" not in present]
            warnings.warn(
                f"SSv2Dataset: {len(missing)} of {len(entries)} videos of {split_json.name} are missing from {root} "
                f"and are left out (first ids: {missing[:5]}).", stacklevel=2,
            )
        self.split = split_json.stem
        labels = self._class_labels(kept, root, split_json, labels_json)
        sampler = ViewSampler(frames=frames, stride=stride, size=size, scale=scale, ratio=ratio, flip=flip,
                              temporal=temporal)
        super().__init__(root, [f"{e['id']}{extension}" for e in kept], sampler, labels=labels, seed=seed,
                         decode_threads=decode_threads, max_failure_fraction=max_failure_fraction)

    @staticmethod
    def _class_labels(entries: list[dict[str, Any]], root: Path, split_json: Path,
                      labels_json: str | os.PathLike[str] | None) -> dict[str, np.ndarray] | None:
        if labels_json is None:
            found = [p for p in (split_json.parent / LABELS_FILE, root / LABELS_FILE) if p.is_file()]
            if not found or not all("template" in e for e in entries):
                return None
            labels_json = found[0]
        table = _read_json(Path(labels_json), "labels file")
        unlabelled = [e["id"] for e in entries if "template" not in e]
        if unlabelled:
            raise ValueError(
                f"SSv2Dataset: {len(unlabelled)} entries of {split_json.name} have no 'template' (first ids: "
                f"{unlabelled[:3]}); the test split is unlabelled. Leave labels_json unset for it."
            )
        unknown = sorted({template_key(e["template"]) for e in entries} - set(table))
        if unknown:
            raise ValueError(f"SSv2Dataset: templates not in {labels_json}: {unknown[:5]} ({len(unknown)} in all).")
        return {"class": np.array([int(table[template_key(e["template"])]) for e in entries], dtype=np.int64)}

    def video_id(self, index: int) -> str:
        """The SSv2 id of video ``index``."""
        return self.path(index).name.split(".", 1)[0]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "split": self.split}
