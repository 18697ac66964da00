"""Physics throughput of the SO-101 pick-and-place scene: MuJoCo steps per second, no rendering.

Two workloads: the arm holding still (few contacts) and a replay of the scripted expert's actions
(grasp, carry and release: the contact-rich case an evaluation spends its time in). The expert's actions
are recorded first, so only ``apply_action`` + ``advance`` are timed.

    python benchmarks/sim_physics.py                 # CPU here
    python benchmarks/sim_physics.py --full-meshes   # TheRobotStudio's meshes for the collision hulls
"""

from __future__ import annotations

import time

import sim_common  # noqa: F401  (import paths, MUJOCO_GL)
from _common import emit, parser


def _replay(task, actions, repeats: int) -> float:
    """Seconds to run ``actions`` from a fresh episode, best of ``repeats``."""
    best = float("inf")
    for _ in range(repeats):
        task.reset(0)
        start = time.perf_counter()
        for action in actions:
            task.apply_action(task.data, action)
            task.advance(task.data)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=600, help="control steps of the hold workload")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--full-meshes", action="store_true", help="mesh_cell=None (unsimplified meshes)")
    args = p.parse_args()

    from salt_vla_so101.expert import ScriptedExpert
    from salt_vla_so101.task import PickPlaceTask

    build_start = time.perf_counter()
    task = PickPlaceTask(render=False, mesh_cell=None if args.full_meshes else 0.002)
    build_s = time.perf_counter() - build_start
    substeps = task.config.substeps

    hold = [task.config.home_pose] * args.steps
    hold_s = _replay(task, hold, args.repeats)

    expert = ScriptedExpert(task=task)
    observation = task.reset(0)
    expert.reset()
    actions = []
    for _ in range(task.config.max_steps):
        action = expert.act(observation)
        actions.append(action)
        observation = task.step(action)
        if expert.phase == "hold":
            break
    expert_s = _replay(task, actions, args.repeats)

    figures = {
        "model_build_s": build_s,
        "timestep_s": task.config.timestep,
        "substeps_per_control_step": substeps,
        "hold": {"control_steps": len(hold), "physics_steps_per_s": len(hold) * substeps / hold_s,
                 "control_steps_per_s": len(hold) / hold_s, "realtime_factor": len(hold) / task.config.control_hz / hold_s},
        "expert_replay": {"control_steps": len(actions), "physics_steps_per_s": len(actions) * substeps / expert_s,
                          "control_steps_per_s": len(actions) / expert_s,
                          "realtime_factor": len(actions) / task.config.control_hz / expert_s},
    }
    emit("sim_physics", figures, args, mesh_cell=task.config.mesh_cell)


if __name__ == "__main__":
    main()
