"""A LeRobotDataset (format v3) as SALT video data: one "video" per episode and camera.

A LeRobotDataset v3 directory holds ``meta/info.json`` (features, fps, file-name templates),
``meta/episodes/chunk-*/file-*.parquet`` (one row per episode: length, and where its frames are) and

- for a camera stored as video (``"dtype": "video"``): ``videos/<key>/chunk-<c>/file-<f>.mp4``, many episodes
  one after the other in one file; an episode starts at its ``from_timestamp`` there;
- for a camera stored as images (``"dtype": "image"``): the PNG bytes of every frame in the ``<key>`` column of
  ``data/chunk-<c>/file-<f>.parquet``, next to ``episode_index`` and ``frame_index``.

Item ``i`` of :class:`LeRobotVideoDataset` is episode ``i // len(cameras)`` of the split, seen by camera
``i % len(cameras)``. Its view is drawn inside that episode (the clip's frame numbers are the episode's own,
clamped to its last frame), so a clip never crosses an episode boundary. Frames are decoded like the other
sources: for video, PyAV seeks to the keyframe before the clip's first frame in the shared file and decodes up
to its last (:class:`~salt_vla.data.decode.VideoReader`); for images, only the clip's PNGs are decoded.

Episodes are split into train and validation by a seeded permutation (:func:`split_episodes`), so every clip of
an episode lands on the same side. Reading needs ``pyarrow`` (which LeRobot installs), not LeRobot itself; a Hub
repo id is downloaded through LeRobot into its usual cache (``HF_LEROBOT_HOME``) the first time.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from salt_vla.data.base import FrameSource, Label, VideoDataset
from salt_vla.data.decode import VideoDecodeError, VideoReader
from salt_vla.data.views import VideoInfo, ViewParams, ViewSampler

INFO_FILE = "meta/info.json"
EPISODES_DIR = "meta/episodes"
CAMERA_PREFIX = "observation.images."
SPLITS = ("train", "val", "all")


def split_episodes(episodes: Sequence[int], split: str, val_fraction: float, seed: int) -> list[int]:
    """The episodes of ``split`` (``"train"``, ``"val"`` or ``"all"``), sorted.

    ``round(val_fraction * n)`` episodes, at least one when ``val_fraction > 0`` and at most ``n - 1``, chosen
    by a permutation seeded with ``seed``, are validation; the rest are train. The same arguments always
    give the same split.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}; got {split!r}.")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1); got {val_fraction}.")
    ordered = sorted(int(e) for e in episodes)
    if split == "all":
        return ordered
    n = len(ordered)
    n_val = 0 if val_fraction == 0 or n < 2 else min(n - 1, max(1, round(val_fraction * n)))
    chosen = np.random.default_rng(int(seed)).permutation(n)[:n_val]
    val = {ordered[i] for i in chosen.tolist()}
    return sorted(val) if split == "val" else [e for e in ordered if e not in val]


def resolve_dataset_root(root: str | os.PathLike[str] | None, repo_id: str | None, revision: str | None) -> Path:
    """``root`` when it holds a dataset; else ``repo_id`` fetched by LeRobot (into ``root`` or LeRobot's cache)."""
    if root is not None and (Path(root).expanduser() / INFO_FILE).is_file():
        return Path(root).expanduser()
    if repo_id is None:
        where = Path(root).expanduser() / INFO_FILE if root is not None else "(no root given)"
        raise FileNotFoundError(f"LeRobotVideoDataset: no LeRobotDataset at {where}; give the dataset directory as "
                                "root, or a Hub repo_id to download.")
    from salt_vla.lerobot_compat import INSTALL_HINT, LeRobotMissingError, dataset_class

    try:
        dataset_type = dataset_class()
    except LeRobotMissingError as error:
        raise LeRobotMissingError(f"LeRobotVideoDataset: downloading {repo_id!r} needs LeRobot ({INSTALL_HINT}), "
                                  "or give a local dataset directory as root.") from error
    return Path(dataset_type(repo_id, root=root, revision=revision, download_videos=True).root)


class _EpisodeVideo:
    """Frames of one episode inside a video file that holds several (frame numbers relative to the episode)."""

    def __init__(self, reader: VideoReader, offset: int, length: int) -> None:
        self._reader, self._offset = reader, offset
        self.info = VideoInfo(num_frames=length, height=reader.info.height, width=reader.info.width,
                              fps=reader.info.fps)

    def read(self, indices: list[int]) -> np.ndarray:
        return self._reader.read([self._offset + i for i in indices])


class _EpisodeImages:
    """Frames of one episode stored as PNG bytes in a data parquet file (decoded on demand)."""

    def __init__(self, path: Path, key: str, episode: int, info: VideoInfo) -> None:
        import pyarrow.parquet as pq

        self.path = path
        try:
            table = pq.read_table(path, columns=["frame_index", key], filters=[("episode_index", "=", episode)])
        except (OSError, ValueError) as error:
            raise VideoDecodeError(path, f"cannot read {key} of episode {episode} ({type(error).__name__}: {error})") from error
        order = np.argsort(table.column("frame_index").to_numpy(), kind="stable")
        self._images = [table.column(key)[int(i)].as_py() for i in order]
        if len(self._images) < info.num_frames:
            raise VideoDecodeError(path, f"episode {episode} has {len(self._images)} {key} frames; its metadata says "
                                         f"{info.num_frames}")
        self.info = info

    def read(self, indices: list[int]) -> np.ndarray:
        from PIL import Image

        frames = []
        for i in indices:
            image = self._images[i]
            data = image.get("bytes") if isinstance(image, dict) else None
            if not data:
                raise VideoDecodeError(self.path, f"frame {i} has no embedded image bytes")
            try:
                with Image.open(io.BytesIO(data)) as png:
                    frames.append(np.asarray(png.convert("RGB")))
            except OSError as error:
                raise VideoDecodeError(self.path, f"frame {i}: {error}") from error
        return np.stack(frames)


class LeRobotVideoDataset(VideoDataset):
    """The camera streams of a LeRobotDataset v3, one video per (episode, camera), split by episode.

    Args:
        root: the dataset directory (holding ``meta/info.json``).
        frames, stride, size: clip length, frame stride (in the dataset's frames) and output ``(H, W)``.
        repo_id: a Hub dataset id, used when ``root`` does not hold the dataset: LeRobot downloads it (into
            ``root``, or its cache ``HF_LEROBOT_HOME/<repo_id>`` when ``root`` is ``None``).
        revision: the Hub revision (LeRobot's default when ``None``).
        cameras: camera keys (``"observation.images.front"`` or just ``"front"``); default every camera except
            depth maps.
        split, val_fraction, split_seed: which episodes (see :func:`split_episodes`).
        episodes: restrict to these episode indices before splitting (default all).
        seed, scale, ratio, flip, temporal: view sampling (:class:`~salt_vla.data.views.ViewSampler`).
        decode_threads: PyAV decoder threads per video.
        max_failure_fraction: see :class:`~salt_vla.data.base.VideoDataset`.

    Labels: ``{"episode": episode index, "camera": index into cameras}``.
    """

    kind = "lerobot"

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        frames: int = 16,
        stride: int = 4,
        size: tuple[int, int] | int = (224, 224),
        *,
        repo_id: str | None = None,
        revision: str | None = None,
        cameras: Sequence[str] | str | None = None,
        split: str = "train",
        val_fraction: float = 0.1,
        split_seed: int = 0,
        episodes: Sequence[int] | None = None,
        seed: int = 0,
        scale: tuple[float, float] = (0.3, 1.0),
        ratio: tuple[float, float] | None = (0.75, 1.35),
        flip: bool = False,
        temporal: str = "random",
        decode_threads: int = 1,
        max_failure_fraction: float = 0.5,
    ) -> None:
        self.root = resolve_dataset_root(root, repo_id, revision)
        try:
            info = json.loads((self.root / INFO_FILE).read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"LeRobotVideoDataset: cannot read {self.root / INFO_FILE}: {error}") from error
        version = str(info.get("codebase_version", ""))
        if not version.startswith("v3"):
            raise ValueError(f"LeRobotVideoDataset reads LeRobotDataset format v3; {self.root} is {version or 'unversioned'}. "
                             "Convert it with LeRobot's v2.1-to-v3.0 converter.")
        self.fps = float(info["fps"])
        self.cameras = self._pick_cameras(info["features"], cameras)
        self._stored = [info["features"][key]["dtype"] for key in self.cameras]
        self._shapes = [self._height_width(info["features"][key]) for key in self.cameras]
        table = self._episode_table(info)
        present = table["episode_index"]
        if episodes is not None:
            unknown = sorted(set(int(e) for e in episodes) - set(present.tolist()))
            if unknown:
                raise ValueError(f"LeRobotVideoDataset: episodes {unknown[:10]} are not in {self.root} "
                                 f"({len(present)} episodes, indices {int(present.min())}-{int(present.max())}).")
            present = np.asarray(sorted(set(int(e) for e in episodes)), dtype=np.int64)
        self.split = split
        chosen = split_episodes(present.tolist(), split, val_fraction, split_seed)
        if not chosen:
            raise ValueError(f"LeRobotVideoDataset: split {split!r} of {self.root} has no episodes "
                             f"({len(present)} episodes, val_fraction={val_fraction}).")
        rows = np.searchsorted(table["episode_index"], np.asarray(chosen, dtype=np.int64))
        # NumPy columns rather than Python objects: forked DataLoader workers then share these pages.
        self._episodes = table["episode_index"][rows]
        self._lengths = table["length"][rows]
        self._data_files = table["data_file"][rows]
        self._video_files = {k: table[f"video_file/{k}"][rows] for k, s in zip(self.cameras, self._stored) if s == "video"}
        self._offsets = {k: table[f"offset/{k}"][rows] for k in self._video_files}
        self.decode_threads = int(decode_threads)
        sampler = ViewSampler(frames=frames, stride=stride, size=size, scale=scale, ratio=ratio, flip=flip,
                              temporal=temporal)
        super().__init__(sampler, seed=seed, max_failure_fraction=max_failure_fraction)
        self._version = version

    # -- metadata -----------------------------------------------------------------------------
    def _pick_cameras(self, features: dict[str, Any], cameras: Sequence[str] | str | None) -> list[str]:
        available = [k for k, f in features.items() if f.get("dtype") in ("video", "image")]
        if not available:
            raise ValueError(f"LeRobotVideoDataset: {self.root} has no camera (no feature of dtype video or image).")
        if cameras is None:  # depth maps are not colour video: only when asked for by name
            return [k for k in available if not (features[k].get("info") or {}).get("video.is_depth_map")] or available
        wanted = [cameras] if isinstance(cameras, str) else list(cameras)
        picked = []
        for name in wanted:
            key = name if name in available else f"{CAMERA_PREFIX}{name}"
            if key not in available:
                raise ValueError(f"LeRobotVideoDataset: no camera {name!r} in {self.root}; cameras: "
                                 f"{', '.join(k.removeprefix(CAMERA_PREFIX) for k in available)}.")
            if key not in picked:
                picked.append(key)
        return picked

    @staticmethod
    def _height_width(feature: dict[str, Any]) -> tuple[int, int]:
        shape, names = list(feature["shape"]), list(feature.get("names") or [])
        if "height" in names and "width" in names:
            return int(shape[names.index("height")]), int(shape[names.index("width")])
        if len(shape) == 3 and shape[0] in (1, 3, 4) and shape[-1] not in (1, 3, 4):
            return int(shape[1]), int(shape[2])
        return int(shape[0]), int(shape[1])

    def _episode_table(self, info: dict[str, Any]) -> dict[str, np.ndarray]:
        from salt_vla.extras import MissingExtraError, install_line

        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError as error:
            raise MissingExtraError(f"LeRobotVideoDataset reads parquet files with pyarrow, which is not installed: "
                                    f"pip install pyarrow, or {install_line('lerobot')}.") from error

        files = sorted((self.root / EPISODES_DIR).glob("chunk-*/file-*.parquet"))
        if not files:
            raise FileNotFoundError(f"LeRobotVideoDataset: no episode metadata under {self.root / EPISODES_DIR}.")
        columns = ["episode_index", "length", "data/chunk_index", "data/file_index"]
        for key, stored in zip(self.cameras, self._stored):
            if stored == "video":
                columns += [f"videos/{key}/chunk_index", f"videos/{key}/file_index", f"videos/{key}/from_timestamp"]
        try:
            table = pa.concat_tables([pq.read_table(f, columns=columns) for f in files]).to_pydict()
        except (OSError, ValueError, KeyError, pa.ArrowInvalid) as error:
            raise ValueError(f"LeRobotVideoDataset: cannot read the episode metadata of {self.root}: {error}") from error
        order = np.argsort(np.asarray(table["episode_index"]), kind="stable")
        pick = [int(i) for i in order]
        out = {"episode_index": np.asarray(table["episode_index"], dtype=np.int64)[order],
               "length": np.asarray(table["length"], dtype=np.int64)[order]}
        out["data_file"] = np.array([info["data_path"].format(chunk_index=table["data/chunk_index"][i],
                                                              file_index=table["data/file_index"][i]).encode()
                                     for i in pick], dtype=np.bytes_)
        for key, stored in zip(self.cameras, self._stored):
            if stored != "video":
                continue
            chunks, numbers = table[f"videos/{key}/chunk_index"], table[f"videos/{key}/file_index"]
            out[f"video_file/{key}"] = np.array(
                [info["video_path"].format(video_key=key, chunk_index=chunks[i], file_index=numbers[i]).encode()
                 for i in pick], dtype=np.bytes_)
            starts = table[f"videos/{key}/from_timestamp"]
            out[f"offset/{key}"] = np.array([round(float(starts[i]) * self.fps) for i in pick], dtype=np.int64)
        return out

    # -- VideoDataset -------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self._episodes.shape[0]) * len(self.cameras)

    def locate(self, index: int) -> tuple[int, str]:
        """``(episode index, camera key)`` of video ``index``."""
        self._check_index(index)
        row, camera = divmod(index, len(self.cameras))
        return int(self._episodes[row]), self.cameras[camera]

    @contextmanager
    def open_source(self, index: int) -> Iterator[FrameSource]:
        self._check_index(index)
        row, camera = divmod(index, len(self.cameras))
        key, length = self.cameras[camera], int(self._lengths[row])
        if self._stored[camera] == "video":
            path = self.root / self._video_files[key][row].decode()
            with VideoReader(path, threads=self.decode_threads) as reader:
                yield _EpisodeVideo(reader, int(self._offsets[key][row]), length)
        else:
            height, width = self._shapes[camera]
            info = VideoInfo(num_frames=length, height=height, width=width, fps=self.fps)
            yield _EpisodeImages(self.root / self._data_files[row].decode(), key, int(self._episodes[row]), info)

    def list_hash(self) -> str:
        identity = {"version": self._version, "cameras": self.cameras, "episodes": self._episodes.tolist(),
                    "lengths": self._lengths.tolist(), "data": self._data_files.tolist(),
                    "videos": {k: [v.tolist(), self._offsets[k].tolist()] for k, v in self._video_files.items()}}
        return hashlib.sha256(json.dumps(identity, sort_keys=True, default=bytes.decode).encode()).hexdigest()

    def label(self, view: ViewParams, source: FrameSource | None = None) -> Label:
        row, camera = divmod(view.video_index, len(self.cameras))
        return {"episode": int(self._episodes[row]), "camera": camera}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "split": self.split, "cameras": list(self.cameras),
                "episodes": int(self._episodes.shape[0])}
