"""Rendered frames per second of the SO-101 cameras, per camera and resolution (RGB and depth).

    MUJOCO_GL=egl python benchmarks/sim_render.py                         # CPU here (Mesa llvmpipe)
    MUJOCO_GL=egl python benchmarks/sim_render.py --sizes 96x128,240x320,480x640 --frames 200   # GPU
    python benchmarks/sim_render.py --full-meshes                         # TheRobotStudio's full meshes

The scene is posed mid-grasp (the arm over the block), the view policies see most of the time.
"""

from __future__ import annotations

import time

from _common import emit, parser
from sim_common import parse_sizes

CAMERAS = ("overhead_cam", "wrist_cam")


def _rate(render, frames: int) -> float:
    render()  # warm-up (context, buffers)
    start = time.perf_counter()
    for _ in range(frames):
        render()
    return frames / (time.perf_counter() - start)


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--sizes", type=parse_sizes, default=parse_sizes("96x128,240x320,480x640"), help="HxW,HxW,...")
    p.add_argument("--frames", type=int, default=20, help="frames timed per camera, size and mode")
    p.add_argument("--full-meshes", action="store_true", help="mesh_cell=None (unsimplified meshes)")
    args = p.parse_args()

    import os

    from salt_vla_so101.expert import ScriptedExpert
    from salt_vla_so101.task import PickPlaceTask

    figures: dict = {}
    for height, width in args.sizes:
        task = PickPlaceTask(image_size=(height, width), render=False, mesh_cell=None if args.full_meshes else 0.002)
        expert = ScriptedExpert(task=task)
        observation = task.reset(0)
        while expert.phase in ("idle", "approach", "descend"):
            observation = task.step(expert.act(observation))
        row = {}
        for camera in CAMERAS:
            row[camera] = {
                "rgb_fps": _rate(lambda c=camera, t=task: t.render(c), args.frames),
                "depth_fps": _rate(lambda c=camera, t=task: t.render_depth(c), args.frames),
            }
        figures[f"{height}x{width}"] = row
        task.close()
    emit("sim_render", figures, args, mujoco_gl=os.environ.get("MUJOCO_GL"),
         mesh_cell=None if args.full_meshes else 0.002, frames=args.frames)


if __name__ == "__main__":
    main()
