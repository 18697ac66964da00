"""Draw whiskers into a MuJoCo scene as user geoms: capsules between consecutive predicted positions.

- the **current** prediction: bright green, every sample of the bundle, a dot where each one ends;
- **ghosts**, earlier predictions: blue, fading with age (newest most opaque);
- the **executed** path, where the gripper actually went: orange.

:func:`draw_whiskers` works on any :class:`mujoco.MjvScene` (an offscreen renderer's scene after
``update_scene``, or the interactive viewer's ``user_scn``) and never exceeds its ``maxgeom``: when geoms
run out it drops the oldest ghosts first, then the ends of paths, and reports how many segments it dropped.
:class:`WhiskerRenderer` renders frames with them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import mujoco
import numpy as np

from salt_vla_whiskers.camera import metres_per_pixel, resolve_camera

RGBA = tuple[float, float, float, float]


@dataclass(frozen=True)
class WhiskerStyle:
    """Colours (RGBA in ``[0, 1]``) and sizes of the drawn paths.

    Attributes:
        current: the current prediction.
        ghost: colour of past predictions; its alpha goes from ``ghost_alpha[0]`` (newest) to
            ``ghost_alpha[1]`` (oldest).
        executed: the path the gripper took.
        radius: capsule radius in metres.
        min_width_px: capsules are widened to at least this many pixels on screen (small images).
        segment_px: path points are kept at least this many pixels apart on screen (fewer geoms to render;
            on CPU each capsule costs about half a millisecond at 240x320).
        ghost_line_px: width of the ghost lines, pixels.
        ghost_samples: at most this many samples of each ghost bundle are drawn.
        end_dot: radius of the dot at each current sample's end, as a multiple of the capsule radius.
        emission: how much the colours glow regardless of the lights (0 = lit like the scene).
    """

    current: RGBA = (0.1, 1.0, 0.15, 1.0)
    ghost: tuple[float, float, float] = (0.25, 0.55, 1.0)
    ghost_alpha: tuple[float, float] = (0.6, 0.1)
    executed: RGBA = (1.0, 0.5, 0.0, 1.0)
    radius: float = 0.002
    min_width_px: float = 2.0
    segment_px: float = 4.0
    ghost_line_px: float = 2.0
    ghost_samples: int = 4
    end_dot: float = 2.0
    emission: float = 0.6

    def __post_init__(self) -> None:
        colours = {"current": self.current, "ghost": self.ghost, "executed": self.executed,
                   "ghost_alpha": self.ghost_alpha}
        bad = [f"{name}={value}" for name, value in colours.items() if not all(0.0 <= c <= 1.0 for c in value)]
        sizes = {"radius": self.radius, "ghost_line_px": self.ghost_line_px, "ghost_samples": self.ghost_samples}
        bad += [f"{name}={value}" for name, value in sizes.items() if value <= 0]
        bad += [f"{name}={getattr(self, name)}" for name in ("min_width_px", "segment_px", "end_dot")
                if getattr(self, name) < 0]
        if bad:
            raise ValueError(
                "Invalid WhiskerStyle: colours must lie in [0, 1], radius, ghost_line_px and ghost_samples must be "
                f"> 0, min_width_px, segment_px and end_dot >= 0; got {', '.join(bad)}."
            )

    def ghost_rgba(self, age: int, count: int) -> RGBA:
        """Colour of the ghost ``age`` predictions old (1 = the previous one) out of ``count`` drawn."""
        newest, oldest = self.ghost_alpha
        fraction = 0.0 if count <= 1 else (age - 1) / (count - 1)
        return (*self.ghost, newest + fraction * (oldest - newest))


@dataclass(frozen=True)
class DrawStats:
    """What one :func:`draw_whiskers` call put into the scene: geoms added, path segments dropped."""

    geoms: int
    dropped: int


def thin(points: np.ndarray, spacing: float) -> np.ndarray:
    """``points`` ``[P, 3]`` with consecutive kept points at least ``spacing`` apart; the first and last are
    always kept (so only a two-point result can have a shorter gap)."""
    points = np.asarray(points, dtype=np.float64)
    if len(points) <= 2:
        return points
    kept = [0]
    for i in range(1, len(points) - 1):
        if np.linalg.norm(points[i] - points[kept[-1]]) >= spacing:
            kept.append(i)
    if len(kept) > 1 and np.linalg.norm(points[-1] - points[kept[-1]]) < spacing:
        kept.pop()
    kept.append(len(points) - 1)
    return points[kept]


def distinct(bundle: np.ndarray) -> np.ndarray:
    """The samples of ``bundle`` ``[K, P, 3]`` without exact repeats (a deterministic policy's K copies draw once)."""
    bundle = np.asarray(bundle, dtype=np.float64)
    _, first = np.unique(bundle.reshape(len(bundle), -1), axis=0, return_index=True)
    return bundle[np.sort(first)]


class _Painter:
    """Adds capsules, lines and spheres to a scene until its geom budget runs out."""

    def __init__(self, scene: mujoco.MjvScene, radius: float, spacing: float, emission: float) -> None:
        self.scene = scene
        self.radius = radius
        self.spacing = spacing
        self.emission = emission
        self.added = 0
        self.dropped = 0
        self._identity = np.eye(3).ravel()

    def _next(self, kind: int, rgba: RGBA, size: np.ndarray, position: np.ndarray) -> mujoco.MjvGeom | None:
        if self.scene.ngeom >= self.scene.maxgeom:
            return None
        geom = self.scene.geoms[self.scene.ngeom]
        mujoco.mjv_initGeom(geom, kind, size, position, self._identity, np.asarray(rgba, dtype=np.float32))
        geom.category = mujoco.mjtCatBit.mjCAT_DECOR
        geom.emission = self.emission
        geom.transparent = rgba[3] < 1.0
        geom.castshadow = False
        self.scene.ngeom += 1
        self.added += 1
        return geom

    def path(self, points: np.ndarray, rgba: RGBA, *, line_px: float | None = None) -> None:
        """Capsules along ``points``, or lines ``line_px`` pixels wide."""
        kind, width = (mujoco.mjtGeom.mjGEOM_CAPSULE, self.radius) if line_px is None else (mujoco.mjtGeom.mjGEOM_LINE, line_px)
        points = thin(points, self.spacing)
        for i in range(len(points) - 1):
            if np.array_equal(points[i], points[i + 1]):
                continue  # a path that does not move (the end dot marks it)
            geom = self._next(kind, rgba, np.zeros(3), np.zeros(3))
            if geom is None:
                self.dropped += len(points) - 1 - i
                return
            mujoco.mjv_connector(geom, kind, width, points[i], points[i + 1])

    def dot(self, position: np.ndarray, rgba: RGBA, scale: float) -> None:
        if scale > 0 and self._next(mujoco.mjtGeom.mjGEOM_SPHERE, rgba, np.full(3, self.radius * scale),
                                    np.asarray(position, dtype=np.float64)) is None:
            self.dropped += 1


def draw_whiskers(
    scene: mujoco.MjvScene,
    *,
    current: np.ndarray | None = None,
    ghosts: Sequence[np.ndarray] = (),
    executed: np.ndarray | None = None,
    style: WhiskerStyle | None = None,
    radius: float | None = None,
    spacing: float | None = None,
) -> DrawStats:
    """Append whisker geoms to ``scene`` (after ``update_scene``, before rendering).

    The current bundle and the executed path are capsules; ghosts are lines (``style.ghost_line_px`` wide),
    which cost a small fraction of a capsule to render. Repeated samples are drawn once.

    Args:
        current: ``[K, P, 3]`` the current whisker bundle (world metres).
        ghosts: earlier bundles ``[K, P, 3]``, newest first; ``style.ghost_samples`` samples of each are drawn.
        executed: ``[T, 3]`` gripper positions reached so far.
        style: colours and sizes (default :class:`WhiskerStyle`).
        radius: capsule radius in metres (default ``style.radius``).
        spacing: path points closer than this (metres) to the previous drawn one are skipped (default
            ``3 * radius``).
    """
    style = style or WhiskerStyle()
    radius = radius or style.radius
    painter = _Painter(scene, radius, spacing or 3 * radius, style.emission)
    current = None if current is None else distinct(current)
    if current is not None:
        for sample in current:
            painter.path(sample, style.current)
    if executed is not None and len(executed) > 1:
        painter.path(executed, style.executed)
    for age, bundle in enumerate(ghosts, start=1):
        rgba = style.ghost_rgba(age, len(ghosts))
        for sample in distinct(bundle)[:style.ghost_samples]:
            painter.path(sample, rgba, line_px=style.ghost_line_px)
    if current is not None:  # end dots last: they matter least
        for sample in current:
            painter.dot(sample[-1], style.current, style.end_dot)
    return DrawStats(painter.added, painter.dropped)


def _anchor(current: np.ndarray | None, ghosts: Sequence[np.ndarray], executed: np.ndarray | None) -> np.ndarray | None:
    """A point of the drawing whose depth sets the on-screen width (the gripper, where possible)."""
    if current is not None:
        return current[0, 0]
    if executed is not None and len(executed):
        return executed[-1]
    return ghosts[0][0, 0] if ghosts else None


class WhiskerRenderer:
    """Offscreen frames of a task model with whiskers drawn in.

    Args:
        model: the task's ``mujoco.MjModel``.
        size: ``(H, W)`` of the frames (within the model's offscreen buffer, 640x480 by default).
        camera: a model camera or a preset (:data:`salt_vla_whiskers.camera.PRESETS`).
        style: colours and sizes.
        max_geom: scene capacity (model geoms + whisker segments).
    """

    def __init__(
        self,
        model: mujoco.MjModel,
        *,
        size: tuple[int, int] = (240, 320),
        camera: str = "perspective",
        style: WhiskerStyle | None = None,
        max_geom: int = 10_000,
    ) -> None:
        self.size = (int(size[0]), int(size[1]))
        self.style = style or WhiskerStyle()
        self.camera = resolve_camera(model, camera)
        self.camera_name = camera
        self._renderer = mujoco.Renderer(model, height=self.size[0], width=self.size[1], max_geom=max_geom)
        self.last_stats = DrawStats(0, 0)

    @property
    def scene(self) -> mujoco.MjvScene:
        """The scene of the last :meth:`render` (its camera gives :func:`~salt_vla_whiskers.camera.project_points`)."""
        return self._renderer.scene

    def render(
        self,
        data: mujoco.MjData,
        *,
        current: np.ndarray | None = None,
        ghosts: Sequence[np.ndarray] = (),
        executed: np.ndarray | None = None,
    ) -> np.ndarray:
        """RGB frame ``[H, W, 3]`` uint8 of ``data`` with the given whiskers (see :func:`draw_whiskers`).

        ``data`` is only read.
        """
        self._renderer.update_scene(data, camera=self.camera)
        scene = self._renderer.scene
        style = self.style
        radius, spacing = style.radius, None
        anchor = _anchor(current, ghosts, executed)
        if anchor is not None:
            pixel = metres_per_pixel(scene, anchor, self.size[0])
            radius = max(radius, style.min_width_px * pixel / 2)
            spacing = max(3 * radius, style.segment_px * pixel)
        self.last_stats = draw_whiskers(scene, current=current, ghosts=ghosts, executed=executed, style=style,
                                        radius=radius, spacing=spacing)
        return self._renderer.render().copy()

    def close(self) -> None:
        """Free the OpenGL context."""
        self._renderer.close()
