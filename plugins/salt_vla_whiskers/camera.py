"""Which camera whiskers are drawn from, and where world points land in its image.

A camera is a name of the task model (``overhead_cam``, ``wrist_cam``) or a preset free camera
(:data:`PRESETS`: ``perspective``, a three-quarter view that shows heights, which the overhead view hides).
:func:`project_points` maps world points to pixels with the camera MuJoCo actually rendered (read from
the scene after ``update_scene``), so tests and annotations agree with the picture to the pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np


@dataclass(frozen=True)
class FreeCamera:
    """A free camera looking at ``lookat`` (world, metres) from ``distance`` metres, angles in degrees."""

    lookat: tuple[float, float, float]
    distance: float
    azimuth: float
    elevation: float

    def to_mjv(self) -> mujoco.MjvCamera:
        camera = mujoco.MjvCamera()
        camera.type = mujoco.mjtCamera.mjCAMERA_FREE
        camera.lookat[:] = self.lookat
        camera.distance = self.distance
        camera.azimuth = self.azimuth
        camera.elevation = self.elevation
        return camera


PRESETS: dict[str, FreeCamera] = {
    "perspective": FreeCamera(lookat=(0.14, -0.02, 0.08), distance=0.62, azimuth=140.0, elevation=-28.0),
}
"""Free cameras available by name besides the model's own cameras."""


def camera_names(model: mujoco.MjModel) -> list[str]:
    """Every camera name :func:`resolve_camera` accepts for ``model``: presets first, then the model's."""
    return [*PRESETS, *(model.camera(i).name for i in range(model.ncam))]


def resolve_camera(model: mujoco.MjModel, name: str) -> str | mujoco.MjvCamera:
    """What ``mujoco.Renderer.update_scene(data, camera=...)`` takes for ``name``.

    Raises:
        ValueError: unknown name; the message lists the valid ones.
    """
    if name in PRESETS:
        return PRESETS[name].to_mjv()
    if mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, name) >= 0:
        return name
    raise ValueError(f"Unknown whisker camera {name!r}; choose one of {camera_names(model)}.")


@dataclass(frozen=True)
class _Eye:
    position: np.ndarray
    forward: np.ndarray
    up: np.ndarray
    right: np.ndarray
    half_height: float  # half the near plane's height divided by its distance (tan of half the fovy)
    centre: float


def _eye(scene: mujoco.MjvScene) -> _Eye:
    # Without stereo, MuJoCo renders from the average of the scene's two eye cameras.
    cameras = [scene.camera[0], scene.camera[1]]
    position = np.mean([c.pos for c in cameras], axis=0)
    forward = np.mean([c.forward for c in cameras], axis=0)
    up = np.mean([c.up for c in cameras], axis=0)
    forward /= np.linalg.norm(forward)
    up /= np.linalg.norm(up)
    first = cameras[0]
    if first.orthographic:
        raise ValueError("project_points handles perspective cameras only; this scene's camera is orthographic.")
    half_height = (first.frustum_top - first.frustum_bottom) / 2 / first.frustum_near
    centre = (first.frustum_top + first.frustum_bottom) / 2 / first.frustum_near
    return _Eye(position, forward, up, np.cross(forward, up), half_height, centre)


def project_points(scene: mujoco.MjvScene, points: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates of world ``points`` in the image rendered from ``scene``.

    Args:
        scene: a scene after ``update_scene`` (its camera is the one rendered).
        points: ``[N, 3]`` world positions, metres.
        size: ``(H, W)`` of the rendered image.

    Returns:
        ``(pixels [N, 2] float (column, row) with (0, 0) the top-left pixel's corner, depth [N] metres
        along the optical axis)``; points behind the camera have depth <= 0.
    """
    eye = _eye(scene)
    height, width = size
    offset = np.asarray(points, dtype=np.float64).reshape(-1, 3) - eye.position
    depth = offset @ eye.forward
    safe = np.where(np.abs(depth) < 1e-9, 1e-9, depth)
    x = (offset @ eye.right) / safe
    y = (offset @ eye.up) / safe - eye.centre
    half_width = eye.half_height * width / height
    column = (x / half_width + 1) * width / 2
    row = (1 - y / eye.half_height) * height / 2
    return np.stack([column, row], axis=-1), depth


def metres_per_pixel(scene: mujoco.MjvScene, point: np.ndarray, height: int) -> float:
    """Size in metres of one pixel at world ``point`` (its depth) in an image ``height`` pixels tall."""
    eye = _eye(scene)
    depth = max(float((np.asarray(point, dtype=np.float64) - eye.position) @ eye.forward), 1e-3)
    return 2 * eye.half_height * depth / height
