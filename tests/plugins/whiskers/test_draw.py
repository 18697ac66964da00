"""Whiskers in rendered frames: the right colours where the predicted points project, and a bounded geom count."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from salt_vla_so101.task import PickPlaceTask
from salt_vla_whiskers.camera import PRESETS, project_points, resolve_camera
from salt_vla_whiskers.draw import WhiskerRenderer, WhiskerStyle, draw_whiskers, thin
from salt_vla_whiskers.simulate import ChunkSimulator

from .conftest import TINY


@pytest.fixture(scope="module")
def scene_state(task: PickPlaceTask):
    """The expert carrying the block to the bowl, its predicted bundle, and the path it came along."""
    observation = task.reset(2)
    from salt_vla_so101.expert import ScriptedExpert

    expert = ScriptedExpert(task=task)
    executed = [task.ee_position()]
    for _ in range(140):
        observation = task.step(expert.act(observation))
        executed.append(task.ee_position())
    paths = ChunkSimulator(task).simulate(expert.predict_chunk(observation))
    return paths, np.asarray(executed)


COLOURS = {
    "current": lambda r, g, b: (g > r + 30) & (g > b + 30),  # bright green
    "ghosts": lambda r, g, b: (b > r + 30) & (b > g),  # blue
    "executed": lambda r, g, b: (r > g + 30) & (g > b + 20),  # orange
}


def changed_pixels(renderer: WhiskerRenderer, data: mujoco.MjData, **whiskers) -> tuple[np.ndarray, ...]:
    plain = renderer.render(data).astype(int)
    drawn = renderer.render(data, **whiskers).astype(int)
    mask = np.abs(drawn - plain).max(axis=-1) > 40
    return mask, drawn, plain


def in_front(task: PickPlaceTask, camera: str, pixels: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Which projected points lie inside the image and in front of the rendered scene (depth buffer)."""
    renderer = mujoco.Renderer(task.model, *TINY)
    renderer.enable_depth_rendering()
    renderer.update_scene(task.data, camera=resolve_camera(task.model, camera))
    scene_depth = renderer.render()
    renderer.close()
    column, row = pixels[:, 0].astype(int), pixels[:, 1].astype(int)
    inside = (column >= 0) & (column < TINY[1]) & (row >= 0) & (row < TINY[0])
    visible = np.zeros(len(pixels), dtype=bool)
    visible[inside] = depth[inside] < scene_depth[row[inside], column[inside]] - 0.005
    return visible


def resample(points: np.ndarray, step: float = 0.001) -> np.ndarray:
    """Points every ``step`` metres along the polyline ``points`` ``[P, 3]`` (evenly by length, not by point)."""
    lengths = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=-1))])
    at = np.linspace(0.0, lengths[-1], max(2, int(lengths[-1] / step)))
    return np.stack([np.interp(at, lengths, points[:, i]) for i in range(3)], axis=-1)


@pytest.mark.parametrize("camera", ["perspective", "overhead_cam"])
@pytest.mark.parametrize("layer", ["current", "ghosts", "executed"])
def test_whiskers_appear_in_their_colour_exactly_where_the_points_project(task, scene_state, camera, layer) -> None:
    paths, executed = scene_state
    whiskers = {"current": {"current": paths}, "ghosts": {"ghosts": [paths]}, "executed": {"executed": executed}}[layer]
    line = {"current": paths[0], "ghosts": paths[0], "executed": executed}[layer]
    renderer = WhiskerRenderer(task.model, size=TINY, camera=camera)
    try:
        mask, drawn, plain = changed_pixels(renderer, task.data, **whiskers)
        along, depth = project_points(renderer.scene, resample(line), TINY)
    finally:
        renderer.close()
    assert (depth > 0).all()
    rows, columns = np.nonzero(mask)
    assert len(rows) >= 10, f"only {len(rows)} pixels changed"
    colour = COLOURS[layer](*(drawn[rows, columns, i] for i in range(3)))
    assert colour.mean() >= 0.85, f"{layer}: {colour.mean():.0%} of the changed pixels have its colour"
    # every changed pixel lies on the projected path (within the capsule's width and the end dots)
    centres = np.stack([columns + 0.5, rows + 0.5], axis=-1)
    distance = np.linalg.norm(centres[:, None] - along[None], axis=-1).min(axis=1)
    assert distance.max() <= 3.5
    # and wherever the path is in front of the scene (not hidden by the arm) and the background there is not
    # already of its colour (a blue ghost over the blue bowl), it is drawn
    visible = in_front(task, camera, along, depth)
    column, row = along[:, 0].astype(int).clip(0, TINY[1] - 1), along[:, 1].astype(int).clip(0, TINY[0] - 1)
    visible &= ~COLOURS[layer](*(plain[row, column, i] for i in range(3)))
    assert visible.sum() >= 20
    near = np.linalg.norm(along[visible][:, None] - centres[None], axis=-1).min(axis=1) <= 1.5
    assert near.mean() >= 0.95, f"{near.mean():.0%} of the visible path points have a drawn pixel next to them"


def test_projection_lands_on_the_block(task: PickPlaceTask) -> None:
    task.reset(3)
    for camera in ("perspective", "overhead_cam"):
        renderer = WhiskerRenderer(task.model, size=TINY, camera=camera)
        image = renderer.render(task.data)
        (column, row), = project_points(renderer.scene, task.block_position()[None], TINY)[0]
        renderer.close()
        red, green, blue = image[int(row), int(column)].astype(int)
        assert red > 2 * green and red > 2 * blue, (camera, image[int(row), int(column)])


def test_the_geom_budget_is_respected_current_first(task: PickPlaceTask) -> None:
    scene = mujoco.MjvScene(task.model, maxgeom=30)
    path = np.linspace([0.1, 0.0, 0.1], [0.3, 0.1, 0.05], 40)
    stats = draw_whiskers(scene, current=np.stack([path, path + 0.01]), ghosts=[path[None] - 0.01] * 3,
                          executed=path, radius=0.002)
    assert scene.ngeom == scene.maxgeom == 30 and stats.geoms == 30
    assert stats.dropped > 0
    green = np.array(WhiskerStyle().current, dtype=np.float32)
    assert all(np.allclose(scene.geoms[i].rgba, green) for i in range(30))


def test_capsules_for_the_current_and_executed_paths_lines_for_ghosts(task: PickPlaceTask) -> None:
    scene = mujoco.MjvScene(task.model, maxgeom=1000)
    path = np.linspace([0.1, 0.0, 0.1], [0.3, 0.1, 0.05], 11)  # 10 segments of ~2.3 cm
    bundle = np.stack([path, path, path + 0.02])  # two identical samples: drawn once
    stats = draw_whiskers(scene, current=bundle, ghosts=[bundle], executed=path, radius=0.002)
    assert stats.geoms == 20 + 10 + 20 + 2 and stats.dropped == 0  # current, executed, ghost lines, end dots
    kinds = [scene.geoms[i].type for i in range(scene.ngeom)]
    capsule, line, sphere = mujoco.mjtGeom.mjGEOM_CAPSULE, mujoco.mjtGeom.mjGEOM_LINE, mujoco.mjtGeom.mjGEOM_SPHERE
    assert kinds == [capsule] * 30 + [line] * 20 + [sphere] * 2
    ghost = scene.geoms[30]
    assert 0 < ghost.rgba[3] < 1 and ghost.transparent
    scene.ngeom = 0
    dense_path = np.linspace(path[0], path[-1], 200)  # 1.15 mm apart
    # every 9th point is kept (9 x 1.15 mm >= 1 cm): 22 segments, and the end dot
    assert draw_whiskers(scene, current=dense_path[None], radius=0.002, spacing=0.01).geoms == 22 + 1


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 30), st.just(3)), elements=st.floats(-1, 1, width=64)),
       st.floats(0.0, 0.5))
def test_thin_keeps_the_ends_and_the_spacing(points: np.ndarray, spacing: float) -> None:
    kept = thin(points, spacing)
    assert np.array_equal(kept[0], points[0]) and np.array_equal(kept[-1], points[-1])
    assert len(kept) <= len(points) and len(kept) >= min(len(points), 2)
    if len(kept) > 2:
        assert (np.linalg.norm(np.diff(kept, axis=0), axis=-1) >= spacing).all()


def test_bad_styles_and_cameras_are_explained(task: PickPlaceTask) -> None:
    with pytest.raises(ValueError, match=r"current=\(2\.0, 0, 0, 1\)"):
        WhiskerStyle(current=(2.0, 0, 0, 1))
    with pytest.raises(ValueError, match="radius=0, ghost_samples=0, segment_px=-1"):
        WhiskerStyle(radius=0, ghost_samples=0, segment_px=-1)
    with pytest.raises(ValueError, match=r"'top'.*'perspective', 'overhead_cam', 'wrist_cam'"):
        WhiskerRenderer(task.model, size=TINY, camera="top")
    assert "perspective" in PRESETS
