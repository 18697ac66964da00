"""``salt-vla compare``: paired comparison of evaluation reports made on the same seeds."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("compare")
@click.argument("reports", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@click.option("--name", "names", multiple=True, metavar="NAME",
              help="Name of each report's arm, in order (repeat once per report; default: each report's policy).")
@click.option("--baseline", default=None, metavar="NAME",
              help="The arm the others are compared with (default: the first report's).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory for compare.json, compare.md and compare.png.")
@click.option("--allow-different-settings", is_flag=True,
              help="Pair reports made under other task settings than the baseline's (max steps, image size, control "
                   "rate, task config, thresholds); compare.md names the differences at its top.")
def compare_command(reports: tuple[Path, ...], names: tuple[str, ...], baseline: str | None, out_dir: Path,
                    allow_different_settings: bool) -> None:
    """Compare evaluation REPORTS (directories holding report.json, or the files) evaluated on the same seeds.

    Each arm's success rate with its Wilson interval and outcome counts, and each arm's paired difference from
    the baseline: exact McNemar p-value and a Newcombe (method 10) 95% interval. With one training run per arm
    these ignore training-seed variance (compare.md says so). Reports made under different task settings
    (--max-steps, --image-size, ...) are refused, each difference named, unless --allow-different-settings.

    \b
    salt-vla compare eval/pixel eval/salt --name pixel --name salt --baseline pixel --out eval/compare
    """
    from salt_vla.evaluation import EvalReport
    from salt_vla.paired import compare_reports, write_comparison

    if names and len(names) != len(reports):
        raise click.UsageError(f"Got {len(names)} --name for {len(reports)} reports; give one per report or none.")
    loaded = [EvalReport.read(path) for path in reports]
    comparison = compare_reports(loaded, names=names or None, baseline=baseline,
                                 allow_different_settings=allow_different_settings)
    paths = write_comparison(comparison, out_dir)
    for note in comparison.settings_notes():
        click.echo("Note: " + note.replace("**", "").replace("`", ""), err=True)
    for c in comparison.comparisons:
        low, high = c.interval
        click.echo(f"{c.arm} - {c.baseline}: {100 * c.difference:+.1f} pp (95% CI {100 * low:+.1f} to "
                   f"{100 * high:+.1f}), McNemar p = {c.p_value:.4g}, {c.table.n} paired seeds")
    click.echo(f"Comparison written to {paths['markdown']}")
