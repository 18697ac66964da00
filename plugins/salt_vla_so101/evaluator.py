"""The SO-101 pick-and-place evaluator (registered as ``so101_pick_place``): ``rollout -> evaluate -> report``.

``SO101Evaluator().evaluate(policy, episodes, seed)`` checks the policy against the task (an error before
any episode), runs episodes ``seed, seed + 1, ...`` (serially or in a pool of worker processes, with
identical results), classifies each, and returns a :class:`salt_vla.evaluation.EvalReport`; with
``out_dir`` it also writes ``report.json``, ``report.md``, ``outcomes.png``, ``report.html``,
``eval_info.json``, ``episodes.jsonl`` (each episode as it finishes: an interrupted evaluation keeps them,
writes a partial report, and a re-run with the same arguments continues) and videos
``videos/episode_<seed:06d>.mp4`` (``episode_000005.mp4``): by default of the first ``videos_per_outcome`` (2)
episodes of each outcome, replayed once all episodes are done (an episode is a function of its seed, and
rendering a camera costs ~30x a physics step, so replaying a few beats rendering every episode); every episode
with ``video=True``, none with ``video=False``. :meth:`SO101Evaluator.sweep` evaluates several policies
(checkpoints) into one table.

Only the cameras the policy reads are rendered; a state-only policy runs physics only.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import pickle
import re
import signal
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from salt_vla.evaluation import EpisodeLog, EpisodeResult, EvalReport, evaluation_settings, write_sweep
from salt_vla.interfaces import Policy
from salt_vla_so101.compatibility import PolicyNeeds, check_policy
from salt_vla_so101.config import TaskConfig
from salt_vla_so101.outcomes import OutcomeThresholds

NAME = "so101_pick_place"


@dataclass(frozen=True)
class EvalConfig:
    """Evaluator settings.

    Attributes:
        task: the task; ``cameras``, ``render`` and ``depth`` are overridden per policy from what it reads.
        thresholds: outcome classifier, early stop and instability thresholds.
        video_camera: camera of the per-episode MP4s.
    """

    task: TaskConfig = field(default_factory=TaskConfig)
    thresholds: OutcomeThresholds = field(default_factory=OutcomeThresholds)
    video_camera: str = "overhead_cam"


def task_config_for(base: TaskConfig, needs: PolicyNeeds) -> TaskConfig:
    """``base`` rendering exactly the cameras a policy reads (none: physics only)."""
    rendered = needs.rendered
    return replace(base, cameras=rendered or base.cameras, render=bool(rendered), depth=bool(needs.depth_cameras))


# ---------------------------------------------------------------------- one process's episodes


@dataclass
class _Job:
    """Everything a process needs to run episodes; pickled to each worker once."""

    policy: bytes | str
    policy_kwargs: dict[str, Any]
    task: TaskConfig
    thresholds: OutcomeThresholds
    video_dir: str | None
    video_camera: str
    threads_per_worker: int | None = None


class _Runner:
    """A task and a policy in one process; ``runner(seed)`` runs that episode (and writes its video)."""

    def __init__(self, job: _Job, policy: Policy | None = None) -> None:
        from salt_vla_so101.task import PickPlaceTask

        self.job = job
        self.task = PickPlaceTask(job.task)
        if policy is not None:
            self.policy = policy
        elif isinstance(job.policy, str):
            import salt_vla

            self.policy = salt_vla.create_policy(job.policy, **job.policy_kwargs)
        else:
            self.policy = pickle.loads(job.policy)

    def __call__(self, seed: int) -> EpisodeResult:
        from salt_vla_so101.rollout import run_episode
        from salt_vla_so101.video import write_mp4

        job = self.job
        camera = job.video_camera if job.video_dir else None
        record = run_episode(self.task, self.policy, seed, thresholds=job.thresholds, video_camera=camera)
        if job.video_dir:
            path = write_mp4(record.frames, Path(job.video_dir) / f"episode_{seed:06d}.mp4", job.task.control_hz)
            record.result.video = str(path)
        return record.result


def describe_policy(policy: Any) -> dict[str, Any]:
    """Where and how a policy runs, for the report: its ``describe()`` (checkpoint adapters: device, camera
    map, chunking, ...) without the per-input details, or just its class for a policy without one."""
    describe = getattr(policy, "describe", None)
    if not callable(describe):
        return {"class": type(policy).__name__}
    return {k: v for k, v in describe().items() if k not in ("inputs", "parameters")}


_WORKER: _Runner | None = None
_WORKER_POLICY: dict[str, Any] = {}


def _init_worker(job: _Job) -> None:
    global _WORKER
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle (partial report)
    if job.threads_per_worker is not None:
        # Each worker would otherwise start one intra-op thread per core: N workers on N cores then run N * N
        # threads, and a policy's forward pass slows by an order of magnitude (seen with 12 workers on 16 cores).
        import torch

        torch.set_num_threads(job.threads_per_worker)
    _WORKER = _Runner(job)
    _WORKER_POLICY.update(describe_policy(_WORKER.policy))


def _run_in_worker(seed: int) -> tuple[EpisodeResult, dict[str, Any]]:
    assert _WORKER is not None, "worker not initialised"
    return _WORKER(seed), _WORKER_POLICY


def threads_per_worker(workers: int, episodes: int) -> int | None:
    """Torch threads for each of ``min(workers, episodes)`` processes: the cores shared out, at least one.

    ``None`` for a single process, which keeps torch's own choice.
    """
    processes = min(workers, episodes)
    if processes <= 1:
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // processes)


def video_seeds(episodes: Sequence[EpisodeResult], per_outcome: int) -> list[int]:
    """The seeds of the first ``per_outcome`` episodes (by seed) of each outcome, in seed order."""
    chosen, taken = [], dict.fromkeys({e.outcome for e in episodes}, 0)
    for episode in sorted(episodes, key=lambda e: e.seed):
        if taken[episode.outcome] < per_outcome:
            taken[episode.outcome] += 1
            chosen.append(episode.seed)
    return chosen


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "policy"


class SO101Evaluator:
    """Evaluates policies on SO-101 pick-and-place (see the module docstring).

    Args:
        config: evaluator settings; or give ``task=``/``thresholds=`` and task-field overrides
            (``SO101Evaluator(max_steps=300)``).
    """

    name = NAME

    def __init__(
        self,
        config: EvalConfig | None = None,
        *,
        task: TaskConfig | None = None,
        thresholds: OutcomeThresholds | None = None,
        video_camera: str | None = None,
        **task_overrides: Any,
    ) -> None:
        config = config or EvalConfig()
        task_config = task or config.task
        if task_overrides:
            task_config = replace(task_config, **task_overrides)
        self.config = replace(
            config,
            task=task_config,
            thresholds=thresholds or config.thresholds,
            video_camera=video_camera or config.video_camera,
        )

    def evaluate(
        self,
        policy: Policy | str,
        episodes: int,
        seed: int = 0,
        *,
        workers: int = 1,
        video: bool | None = None,
        videos_per_outcome: int = 2,
        out_dir: str | Path | None = None,
        progress: bool = True,
        policy_kwargs: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> EvalReport:
        """Evaluate ``policy`` (an object or a SPEC such as ``"scripted"``) on episodes ``seed .. seed+episodes-1``.

        Args:
            workers: processes; results are identical to ``workers=1``. A policy object must then be
                picklable (or pass its SPEC: each worker builds it).
            video: ``True``: write ``videos/episode_<seed:06d>.mp4`` (``episode_000005.mp4``) of every episode under
                ``out_dir`` (needs ``out_dir``), rendered as it runs; ``False``: none; ``None`` (default, with
                ``out_dir``): the first ``videos_per_outcome`` episodes (by seed) of each outcome, replayed with
                the camera once all episodes are done.
            videos_per_outcome: episodes per outcome to replay into videos when ``video`` is ``None``.
            out_dir: also write the report files there, and each episode to ``episodes.jsonl`` as it finishes.
                Interrupted (Ctrl-C) or crashed, the evaluation writes the report of the episodes done, marked
                partial; calling again with the same arguments continues from there.
            policy_kwargs: keyword arguments for ``create_policy`` when ``policy`` is a SPEC.
            name: the policy's name in the report (default: the SPEC, or the class name).

        Raises:
            PolicyMismatchError: the policy's actions or cameras do not fit the task (before any episode).
        """
        if episodes < 1 or workers < 1:
            raise ValueError(f"evaluate needs episodes >= 1 and workers >= 1; got {episodes}, {workers}.")
        if video and out_dir is None:
            raise ValueError("video=True writes MP4s under out_dir; pass out_dir=... as well.")
        if videos_per_outcome < 0:
            raise ValueError(f"videos_per_outcome must be >= 0; got {videos_per_outcome}.")
        policy_kwargs = dict(policy_kwargs or {})
        if isinstance(policy, str):
            import salt_vla

            instance = salt_vla.create_policy(policy, **policy_kwargs)
            name = name or policy
        else:
            instance = policy
            name = name or type(policy).__name__
        spec: bytes | str = b""
        if workers > 1:
            # Workers unpickle the policy (cheap for small policies, and no plugin loading); a SPEC whose
            # policy cannot be pickled is rebuilt in each worker instead.
            spec = self._pickled(instance, fallback=policy if isinstance(policy, str) else None)
        needs = check_policy(instance)
        job = _Job(
            policy=spec,
            policy_kwargs=policy_kwargs,
            task=task_config_for(self.config.task, needs),
            thresholds=self.config.thresholds,
            video_dir=str(Path(out_dir) / "videos") if video else None,
            video_camera=self.config.video_camera,
            threads_per_worker=threads_per_worker(workers, episodes),
        )
        seeds = list(range(seed, seed + episodes))
        config = {
            "task": job.task.to_dict(),
            "thresholds": self.config.thresholds.to_dict(),
            "action_space": needs.action_space,
            "policy_options": {k: v if isinstance(v, (str, int, float, bool, list, dict, type(None))) else repr(v)
                               for k, v in policy_kwargs.items()},
            "seed": seed,
            "workers": workers,
            "video": video,
            "videos_per_outcome": videos_per_outcome if video is None else None,
        }
        config["settings"] = evaluation_settings(config)  # what salt-vla compare checks before pairing reports
        log = None
        done: dict[int, EpisodeResult] = {}
        if out_dir is not None:
            identity = {"policy": name, "task": NAME, "episodes": episodes,
                        **{k: v for k, v in config.items() if k not in ("workers", "settings", "videos_per_outcome")}}
            log = EpisodeLog.open(out_dir, identity, seeds)
            done = dict(log.done)
        todo = [s for s in seeds if s not in done]
        bar = {"total": episodes, "initial": len(done), "desc": f"{NAME} {name}", "unit": "ep", "disable": not progress}
        start = time.perf_counter()

        def finished(result: EpisodeResult) -> None:
            done[result.seed] = result
            if log is not None:
                log.append(result)

        def make_report(stopped: str = "") -> EvalReport:
            return EvalReport(policy=name, task=NAME, episodes=[done[s] for s in seeds if s in done], config=config,
                              wall_time_s=time.perf_counter() - start, planned=episodes, stopped=stopped)

        # How the episodes' process(es) saw the policy (device, camera map, ...), checked to be one policy.
        described: dict[str, str] = {}
        try:
            if todo:
                described = self._run(job, instance, todo, workers, finished, bar)
        except BaseException as exc:
            if log is not None:
                log.close()
                stopped = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
                make_report(stopped).write(out_dir)
                print(f"\n{NAME}: stopped after {len(done)} of {episodes} episodes ({stopped}); the partial report is "
                      f"in {out_dir}. Re-run the same command to continue.", file=sys.stderr)
            raise
        if len(described) > 1:
            raise RuntimeError(f"The worker processes built different policies: {list(described.values())}; "
                               "report this as a bug (run with workers=1 meanwhile).")
        config["policy"] = json.loads(next(iter(described.values()))) if described else describe_policy(instance)
        report = make_report()
        if log is not None:
            log.close()
            report.write(out_dir)
            chosen = video_seeds(report.episodes, videos_per_outcome) if video is None else []
            if chosen:  # the report without them is written: an interrupted replay loses no episode
                began = time.perf_counter()
                self._replay_videos(replace(job, video_dir=str(Path(out_dir) / "videos")), instance, chosen,
                                    workers, done, {**bar, "total": len(chosen), "initial": 0,
                                                    "desc": f"{NAME} {name} videos"})
                config["video_replay_s"] = time.perf_counter() - began
                report.write(out_dir)
        return report

    @classmethod
    def _replay_videos(cls, job: _Job, instance: Policy, seeds: list[int], workers: int,
                       done: dict[int, EpisodeResult], bar: dict[str, Any]) -> None:
        """Run episodes ``seeds`` again with the video camera; attach each video to its row in ``done``."""

        def attach(replay: EpisodeResult) -> None:
            episode = done[replay.seed]
            episode.video = replay.video
            if (replay.outcome, replay.steps) != (episode.outcome, episode.steps):
                episode.message = (f"{episode.message} The video is a replay that ended {replay.outcome.value} after "
                                   f"{replay.steps} steps: the policy is not deterministic per seed.").strip()

        cls._run(job, instance, seeds, min(workers, len(seeds)), attach, bar)

    @staticmethod
    def _run(job: _Job, instance: Policy, seeds: list[int], workers: int,
             finished: Callable[[EpisodeResult], None], bar: dict[str, Any]) -> dict[str, str]:
        """Run episodes ``seeds``, calling ``finished`` with each result as soon as it is there.

        Returns:
            each distinct description of the policy the episodes ran (JSON text -> itself): one, unless the
            worker processes built different policies.
        """
        if workers == 1:
            runner = _Runner(job, instance)
            try:
                for s in tqdm(seeds, **bar):
                    finished(runner(s))
            finally:
                runner.task.close()
            text = json.dumps(describe_policy(instance), sort_keys=True, default=repr)
            return {text: text}
        context = multiprocessing.get_context("spawn")  # no fork: GL contexts and torch threads do not survive it
        pool = ProcessPoolExecutor(min(workers, len(seeds)), mp_context=context, initializer=_init_worker,
                                   initargs=(job,))
        try:
            futures = [pool.submit(_run_in_worker, s) for s in seeds]
            described: dict[str, str] = {}
            for future in tqdm(as_completed(futures), **bar):
                result, description = future.result()
                text = json.dumps(description, sort_keys=True, default=repr)
                described[text] = text
                finished(result)
        except BaseException:
            # Interrupted or failed: drop the queued episodes and stop the running ones now (workers ignore
            # SIGINT so that Ctrl-C reaches only this process, which writes the partial report).
            pool.shutdown(wait=False, cancel_futures=True)
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                process.terminate()
            raise
        pool.shutdown()
        return described

    @staticmethod
    def _pickled(policy: Policy, fallback: str | None = None) -> bytes | str:
        try:
            return pickle.dumps(policy)
        except Exception as exc:
            if fallback is not None:
                return fallback
            raise TypeError(
                f"workers > 1 sends the policy to worker processes, but {type(policy).__name__} cannot be pickled "
                f"({type(exc).__name__}: {exc}). Pass its SPEC string instead (each worker builds it), or use workers=1."
            ) from exc

    def sweep(
        self,
        policies: Sequence[Policy | str],
        episodes: int,
        seed: int = 0,
        *,
        out_dir: str | Path | None = None,
        **options: Any,
    ) -> list[EvalReport]:
        """Evaluate each policy (e.g. checkpoints ``["act:ckpt/5000", "act:ckpt/10000"]``) on the same seeds.

        With ``out_dir``: one report directory per policy plus ``sweep.json``, ``sweep.md`` and ``sweep.png``.
        Options are those of :meth:`evaluate`.
        """
        if not policies:
            raise ValueError("sweep needs at least one policy.")
        specs = [p for p in policies if isinstance(p, str)]
        repeated = sorted({p for p in specs if specs.count(p) > 1})
        if repeated:
            raise ValueError(f"sweep got the policy {', '.join(map(repr, repeated))} more than once; its reports would "
                             "overwrite each other. Give each policy once.")
        reports, used = [], set()
        for policy in policies:
            label = policy if isinstance(policy, str) else type(policy).__name__
            slug, number = _slug(label), 2
            while slug in used:  # distinct SPECs with the same slug, or two objects of one class
                slug, number = f"{_slug(label)}_{number}", number + 1
            used.add(slug)
            target = Path(out_dir) / slug if out_dir is not None else None
            reports.append(self.evaluate(policy, episodes, seed, out_dir=target, **options))
        if out_dir is not None:
            write_sweep(reports, out_dir)
        return reports
