"""``salt-vla train``, ``salt-vla train-teacher`` and ``salt-vla cache``: the engine from the command line."""

from __future__ import annotations

from pathlib import Path

import click

from salt_vla.config import ConfigError, load_config


def split_arguments(arguments: tuple[str, ...]) -> tuple[Path | None, list[str]]:
    """``[CONFIG] [key.path=value ...]``: at most one config (a YAML file, or the name of a shipped config such
    as ``ssv2_vitb_videomae``), then overrides in any order."""
    from salt_vla.configs import config_names, config_path

    files = [a for a in arguments if "=" not in a]
    if len(files) > 1:
        raise click.UsageError(f"Give at most one config file; got {files}. Overrides look like key.path=value.")
    overrides = [a for a in arguments if "=" in a]
    if not files:
        return None, overrides
    if Path(files[0]).is_file():
        return Path(files[0]), overrides
    if files[0] in config_names() or files[0].removesuffix(".yaml") in config_names():
        return config_path(files[0]), overrides
    raise click.UsageError(f"Config file {files[0]!r} does not exist, and no shipped config has that name "
                           f"(shipped: {', '.join(config_names())}). Overrides look like key.path=value.")


def _load(arguments: tuple[str, ...], stage: str):
    from salt_vla.train import TrainConfig

    config, overrides = split_arguments(arguments)
    try:
        return load_config(TrainConfig, config, [f"stage={stage}", *overrides])
    except ConfigError as error:
        raise click.UsageError(str(error)) from None


def _run(arguments: tuple[str, ...], stage: str, resume: bool, allow_config_change: bool,
         print_config: bool = False) -> None:
    cfg = _load(arguments, stage)
    if print_config:
        from salt_vla.config import dump_yaml

        click.echo(dump_yaml(cfg), nl=False)
        return
    from salt_vla.train import train

    result = train(cfg, resume=resume, allow_config_change=allow_config_change)
    click.echo(f"Finished {result.state.step} steps; run directory: {result.out_dir}")
    if result.val_metrics:
        click.echo("validation: " + ", ".join(f"{k}={v:.4g}" for k, v in sorted(result.val_metrics.items())))


_arguments = click.argument("arguments", nargs=-1, metavar="[CONFIG] [KEY.PATH=VALUE]...")
_resume_option = click.option("--resume/--no-resume", default=True, show_default=True,
                              help="Continue from <run.out_dir>/checkpoints/last when it exists.")
_allow_option = click.option("--allow-config-change", is_flag=True,
                             help="Resume although settings such as optim.lr or run.steps changed (listed in a warning). "
                                  "A change of the model or its targets is always refused.")
_print_config_option = click.option("--print-config", is_flag=True,
                                    help="Print the resolved config (file, overrides and every default) as YAML "
                                         "and exit without training.")


@click.command("train")
@_arguments
@_resume_option
@_allow_option
@_print_config_option
def train_command(arguments: tuple[str, ...], resume: bool, allow_config_change: bool, print_config: bool) -> None:
    """Stage 2: train a SALT student (CONFIG is YAML or a shipped config's name; OVERRIDES are key.path=value).

    \b
    salt-vla train run.yaml optim.lr=3e-4 run.out_dir=runs/vitb
    salt-vla train ssv2_vitb_videomae data.args.root=/data/ssv2/videos
    salt-vla train --print-config ssv2_vitl_videomae
    torchrun --nproc_per_node 8 -m salt_vla train run.yaml

    Shipped configs: ssv2_vitb_videomae, ssv2_vitl_videomae, video_folder_vitb (salt_vla/configs).
    """
    _run(arguments, "salt", resume, allow_config_change, print_config)


@click.command("train-teacher")
@_arguments
@_resume_option
@_allow_option
@_print_config_option
def train_teacher_command(arguments: tuple[str, ...], resume: bool, allow_config_change: bool,
                          print_config: bool) -> None:
    """Stage 1: train a pixel-reconstruction teacher (the encoder becomes teacher `checkpoint`)."""
    _run(arguments, "teacher", resume, allow_config_change, print_config)


@click.command("cache")
@_arguments
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Cache directory (resumed if a build of the same settings was interrupted).")
@click.option("--split", type=click.Choice(["train", "val"]), default="train", show_default=True,
              help="Which of the config's datasets: data.args, or data.args + data.val_args.")
@click.option("--views", type=int, default=1, show_default=True, help="Recorded views per video.")
@click.option("--dtype", type=click.Choice(["float16", "bfloat16", "float8_e4m3"]), default="float16", show_default=True)
@click.option("--batch-size", type=int, default=16, show_default=True)
@click.option("--workers", type=int, default=4, show_default=True, help="DataLoader workers decoding clips.")
def cache_command(arguments: tuple[str, ...], out_dir: Path, split: str, views: int, dtype: str,
                  batch_size: int, workers: int) -> None:
    """Compute the config's teacher latents for its dataset into a memory-mappable cache.

    Under torchrun every rank writes its own shards. Train on the result with data.latent_cache=OUT.
    """
    import salt_vla
    from salt_vla.cache import build_latent_cache
    from salt_vla.train.distributed import init_distributed

    cfg = _load(arguments, "salt")
    if cfg.teacher.name is None:
        raise click.UsageError("salt-vla cache needs teacher.name in the config (or as an override).")
    args = dict(cfg.data.args) if split == "train" else {**cfg.data.args, **(cfg.data.val_args or {})}
    info = init_distributed(cfg.run.device)
    dataset = salt_vla.create_dataset(cfg.data.dataset, **args)
    teacher = salt_vla.create_teacher(cfg.teacher.name, **cfg.teacher.args)
    cache = build_latent_cache(teacher, dataset, out_dir, views_per_video=views, dtype=dtype, batch_size=batch_size,
                               device=info.device, num_workers=workers, rank=info.rank, world_size=info.world_size,
                               progress=info.is_main)
    if info.is_main:
        click.echo(f"Cache of {len(cache)} entries at {out_dir} (teacher {teacher.fingerprint()}).")
