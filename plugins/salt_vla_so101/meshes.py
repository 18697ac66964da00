"""Lighter robot meshes: vertex clustering of the SO-101 STL files, in memory, at load time.

TheRobotStudio's meshes have about 320k triangles (screw holes, fillets). Software rendering on a CPU
draws them at ~6 frames/s; clustered to a 2 mm grid they keep their silhouette at about 23k triangles,
render ~5x faster and compile ~8x faster. The files on disk are never changed or copied: the simplified
vertices go into the :class:`mujoco.MjSpec` as user meshes. Collision hulls are built from the same
simplified meshes (the hull moves by at most one cell), so physics does not depend on whether a camera
is rendered.
"""

from __future__ import annotations

from pathlib import Path

import mujoco
import numpy as np

_STL_RECORD = np.dtype([("normal", "<f4", 3), ("vertices", "<f4", 9), ("attribute", "<u2")])


def read_binary_stl(path: str | Path) -> np.ndarray | None:
    """Triangles ``[F, 3, 3]`` (float64) of a binary STL, or ``None`` if the file is not one."""
    data = Path(path).read_bytes()
    if len(data) < 84:
        return None
    count = int(np.frombuffer(data, np.uint32, 1, 80)[0])
    if len(data) != 84 + count * _STL_RECORD.itemsize:
        return None  # ASCII STL or another format: left to MuJoCo
    return np.frombuffer(data, _STL_RECORD, count, 84)["vertices"].reshape(-1, 3, 3).astype(np.float64)


def _pack(rows: np.ndarray) -> np.ndarray:
    """One int64 per row of small non-negative ints ``[N, 3]`` (so 1-D ``np.unique`` can group rows fast)."""
    span = rows.max(axis=0) + 1
    return (rows[:, 0] * span[1] + rows[:, 1]) * span[2] + rows[:, 2]


def cluster(triangles: np.ndarray, cell: float) -> tuple[np.ndarray, np.ndarray]:
    """Vertices ``[V, 3]`` and faces ``[F, 3]`` of ``triangles`` ``[T, 3, 3]`` after merging the corners in
    each ``cell``-sized grid box into their mean; collapsed and duplicate faces are dropped, winding (the
    outward normal) is kept."""
    corners = triangles.reshape(-1, 3)
    keys = np.floor(corners / cell).astype(np.int64)
    _, group = np.unique(_pack(keys - keys.min(axis=0)), return_inverse=True)
    counts = np.bincount(group)
    vertices = np.zeros((len(counts), 3))
    np.add.at(vertices, group, corners)
    vertices /= counts[:, None]
    faces = group.reshape(-1, 3)
    faces = faces[(faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])]
    _, first = np.unique(_pack(np.sort(faces, axis=1)), return_index=True)
    return vertices, faces[np.sort(first)]


def simplify_meshes(spec: mujoco.MjSpec, cell: float) -> int:
    """Replace every binary-STL mesh of ``spec`` by its clustered version; returns the triangles kept."""
    base = Path(spec.modelfiledir) / (spec.meshdir or "")
    kept = 0
    for mesh in spec.meshes:
        if not mesh.file:
            continue
        triangles = read_binary_stl(base / mesh.file)
        if triangles is None:
            continue
        vertices, faces = cluster(triangles * np.asarray(mesh.scale), cell)
        mesh.file = ""
        mesh.scale = [1.0, 1.0, 1.0]
        mesh.uservert = vertices.astype(np.float32).ravel().tolist()
        mesh.userface = faces.astype(np.int32).ravel().tolist()
        kept += len(faces)
    return kept
