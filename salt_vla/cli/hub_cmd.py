"""``salt-vla quickstart``, ``probe``, ``push`` and ``pull``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click

from salt_vla.cli.errors import error_block


@click.command("quickstart")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("runs/quickstart"),
              show_default=True, help="Where the report, plots, runs and the student checkpoint go.")
@click.option("--preset", type=click.Choice(["cpu", "gpu"]), default="cpu", show_default=True,
              help="cpu: about 4 minutes on 2 idle cores; gpu: larger videos, model and budget.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--overwrite", is_flag=True,
              help="Start afresh: remove DIR's quickstart artefacts first. Without it a finished DIR is reused and an "
                   "unfinished one resumes.")
def quickstart_command(out_dir: Path, preset: str, seed: int, overwrite: bool) -> None:
    """Generate synthetic physics videos, train a pixel teacher, cache its latents, train a SALT student on the
    cache, probe it, and write DIR/report.md with each claim, its margin and 95% interval. No download, no GPU."""
    from salt_vla.quickstart import claim_outcome, run_quickstart

    try:
        report = run_quickstart(out_dir, preset=preset, seed=seed, overwrite=overwrite)
    except FileExistsError as error:
        raise error_block(error) from error
    for claim in report["claims"]:
        click.echo(f"{claim['claim']}: {claim_outcome(claim)} (margin {claim['mean']:+.4f}, 95% interval "
                   f"[{claim['ci_low']:+.4f}, {claim['ci_high']:+.4f}])")
    if report.get("reused"):
        click.echo("(results of the finished run already in this directory; --overwrite starts afresh)")
    click.echo(f"Report: {out_dir / 'report.md'}")


@click.command("probe")
@click.argument("checkpoint")
@click.option("--dataset", default="synthetic_physics", show_default=True, help="Registered dataset name.")
@click.option("--dataset-arg", "dataset_args", multiple=True, metavar="KEY=VALUE",
              help="Dataset keyword argument (YAML value), repeatable, e.g. --dataset-arg size=64.")
@click.option("--videos", type=int, default=160, show_default=True, help="Clips to probe (split 70/30 by video).")
@click.option("--label", "labels", multiple=True, default=("num_balls", "direction"), show_default=True,
              help="Dataset label to probe, repeatable.")
@click.option("--device", default="auto", show_default=True)
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), help="Also write the JSON here.")
@click.option("--kind", type=click.Choice(["linear", "attentive"]), default="linear", show_default=True,
              help="linear: logistic regression on pooled features (70/30 split); attentive: a cross-attention "
                   "probe on the token map, learning rate x weight decay chosen on a validation split (50/20/30).")
@click.option("--feature-cache", type=click.Path(file_okay=False, path_type=Path),
              help="attentive: keep the encoder's token maps here and reuse them on the next call.")
@click.option("--layers", type=click.IntRange(min=1), default=1, show_default=True,
              help="linear: features from the last N blocks side by side (DINO's linear-probe protocol; the "
                   "quickstart uses 4).")
def probe_command(checkpoint: str, dataset: str, dataset_args: tuple[str, ...], videos: int, labels: tuple[str, ...],
                  device: str, out_file: Path | None, kind: str, feature_cache: Path | None, layers: int) -> None:
    """Time-arrow and label probes of a frozen encoder CHECKPOINT (student, or stage-1 teacher directory)."""
    import yaml

    import salt_vla
    from salt_vla.hub import from_pretrained
    from salt_vla.io import atomic_write_json
    from salt_vla.models import PixelMAE
    from salt_vla.probes import probe_clips, probe_suite
    from salt_vla.train.distributed import pick_device

    kwargs = {}
    for item in dataset_args:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r}: expected KEY=VALUE such as size=64.", param_hint="--dataset-arg")
        try:
            kwargs[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as error:
            raise click.BadParameter(f"{item!r}: the value {value!r} is not valid YAML ({error.problem}); close the "
                                     "bracket or quote, or quote the whole value.", param_hint="--dataset-arg") from None
    if kind == "attentive" and layers != 1:
        raise click.UsageError(f"--layers {layers} applies to --kind linear; the attentive probe reads the last block.")
    model = from_pretrained(checkpoint)
    encoder = model.encoder if isinstance(model, PixelMAE) else model
    torch_device = pick_device(device)
    encoder.to(torch_device)
    given = set(kwargs)
    kwargs.setdefault("frames", encoder.config.num_frames)
    kwargs.setdefault("size", encoder.config.img_size)
    try:
        data = salt_vla.create_dataset(dataset, num_videos=videos, **kwargs) if dataset == "synthetic_physics" \
            else salt_vla.create_dataset(dataset, **kwargs)
    except TypeError as error:  # the dataset's constructor refused a --dataset-arg; name it, not a traceback
        match = re.search(r"unexpected keyword argument '(\w+)'", str(error))
        if match is None or match.group(1) not in given:
            raise
        key = match.group(1)
        raise click.BadParameter(f"{key}={kwargs[key]!r}: dataset {dataset!r} takes no argument {key!r} ({error}). "
                                 "docs/data.md lists each dataset's arguments.", param_hint="--dataset-arg") from None
    clips, label_values = probe_clips(data, min(videos, len(data)), label_keys=labels)
    if kind == "attentive":
        from salt_vla.attentive_probe import attentive_label_probe, attentive_time_arrow_probe

        cache = {"cache_dir": feature_cache, "key": f"{checkpoint}|{dataset}|{sorted(kwargs.items())}",
                 "device": torch_device}
        results = {"time_arrow": attentive_time_arrow_probe(encoder, clips, **cache).to_dict()}
        for key, values in label_values.items():
            results[key] = attentive_label_probe(encoder, clips, values, name=key, **cache).to_dict()
    else:
        results = {key: result.to_dict() for key, result in
                   probe_suite(encoder, clips, label_values, device=torch_device, layers=layers, progress=True).items()}
    text = json.dumps({"checkpoint": checkpoint, "dataset": dataset, "kind": kind, "layers": layers, "probes": results},
                      indent=2)
    click.echo(text)
    if out_file:
        atomic_write_json(out_file, json.loads(text))


@click.command("push")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("repo_id")
@click.option("--private", is_flag=True, help="Create the repository as private.")
@click.option("--revision", help="Branch to commit to.")
@click.option("--message", default="Upload salt-vla checkpoint", show_default=True)
def push_command(directory: Path, repo_id: str, private: bool, revision: str | None, message: str) -> None:
    """Upload a checkpoint DIRECTORY (config.json + model.safetensors + README.md) to the Hub as REPO_ID."""
    from salt_vla.hub import push_to_hub

    click.echo(push_to_hub(directory, repo_id, private=private, revision=revision, commit_message=message))


@click.command("pull")
@click.argument("repo_id")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--revision", help="Branch, tag or commit.")
def pull_command(repo_id: str, directory: Path, revision: str | None) -> None:
    """Download checkpoint REPO_ID into DIRECTORY (works offline from the Hugging Face cache)."""
    from salt_vla.hub import pull

    click.echo(str(pull(repo_id, directory, revision=revision)))
