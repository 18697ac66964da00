"""Evaluated episodes per minute: the scripted expert through SO101Evaluator, physics-only and rendered.

Physics-only is how state-based policies (and the expert) are evaluated; "rendered" makes the expert
declare both cameras so every step renders them at ``--image-size``, as a vision policy forces (the
policy's own inference time is not included). ``--workers`` lists process-pool sizes to compare.

    python benchmarks/sim_eval.py                                    # CPU here: 8 episodes, 1 and 2 workers
    python benchmarks/sim_eval.py --episodes 64 --workers 1,8,16 --image-size 240x320   # GPU machine (EGL)
"""

# sim_common must come before salt-vla's modules (it puts the checkout on sys.path where salt-vla is not
# installed), so this block is not sorted.
from __future__ import annotations  # noqa: I001

from collections.abc import Sequence

from _common import emit, parser
from sim_common import parse_sizes
from salt_vla.robot import SO101_CAMERAS
from salt_vla_so101.expert import ScriptedExpert


class RenderedExpert(ScriptedExpert):
    """The expert declaring both cameras, so the evaluator renders them every step (module level: picklable)."""

    @property
    def camera_names(self) -> Sequence[str]:
        return SO101_CAMERAS


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--episodes", type=int, default=8)
    p.add_argument("--workers", default="1,2", help="comma-separated pool sizes")
    p.add_argument("--image-size", type=parse_sizes, default=parse_sizes("240x320"), help="HxW of rendered runs")
    p.add_argument("--rendered-episodes", type=int, default=None, help="episodes of the rendered run (default --episodes)")
    args = p.parse_args()

    from salt_vla_so101.evaluator import SO101Evaluator

    def run(evaluator: SO101Evaluator, policy: ScriptedExpert, episodes: int, workers: int) -> dict:
        report = evaluator.evaluate(policy, episodes, seed=0, workers=workers, progress=False)
        a = report.aggregates
        return {"episodes": episodes, "workers": workers, "episodes_per_minute": a["episodes_per_minute"],
                "wall_time_s": a["wall_time_s"], "success_rate": a["success_rate"],
                "mean_steps": sum(e.steps for e in report.episodes) / episodes}

    figures: dict = {"physics_only": [], "rendered": []}
    physics = SO101Evaluator()
    for workers in (int(w) for w in args.workers.split(",")):
        figures["physics_only"].append(run(physics, ScriptedExpert(), args.episodes, workers))
    height, width = args.image_size[0]
    rendered = SO101Evaluator(image_size=(height, width))
    for workers in (int(w) for w in args.workers.split(",")):
        figures["rendered"].append(run(rendered, RenderedExpert(), args.rendered_episodes or args.episodes, workers))
    emit("sim_eval", figures, args, image_size=f"{height}x{width}")


if __name__ == "__main__":
    main()
