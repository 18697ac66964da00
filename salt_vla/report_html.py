"""Self-contained HTML pages of evaluation reports and sweeps: open from disk, share as a folder or a zip.

``report.html`` (written by :meth:`salt_vla.evaluation.EvalReport.write` next to ``report.json``) holds the
summary table with the Wilson 95% interval, the outcome chart as inline SVG, and every recorded
episode's video grouped by outcome: the outcome links above the groups show one group alone ("show me
the drops" is one click). ``sweep.html`` (written by :func:`salt_vla.evaluation.write_sweep`) compares the
policies: their table, success rates with intervals, the outcome breakdown (each count links to those
episodes in the policy's own page), and the policies' videos side by side on the same seeds.

The pages load nothing from a network and run no script: CSS is inline, charts are SVG, and videos are
``<video>`` elements with paths relative to the page, so the folder can be moved. A whisker run of an
episode is shown next to its video when it lies at :data:`WHISKER_VIDEO` (``whiskers/episode_<seed>/
whiskers.mp4`` under the report directory, which ``salt-vla whiskers --seed S --out <report
dir>/whiskers/episode_<S, 6 digits>`` writes); ``write_report_html(dir)`` rebuilds the page afterwards.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from html import escape
from pathlib import Path
from urllib.parse import quote

from salt_vla.evaluation import EpisodeResult, EvalReport, Outcome, _fmt, _pct, clipped_summary
from salt_vla.io import atomic_write_text

REPORT_PAGE = "report.html"
SWEEP_PAGE = "sweep.html"
WHISKER_VIDEO = "whiskers/episode_{seed:06d}/whiskers.mp4"

OUTCOME_COLOURS = {
    "success": "#2e7d32",
    "never_picked_up": "#6d4c41",
    "dropped_during_transport": "#c62828",
    "missed_goal": "#ef6c00",
    "timeout": "#6a1b9a",
    "policy_error": "#455a64",
}

_CSS = """
.svr{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d1d1f;max-width:1280px}
.svr h1{font-size:22px;margin:0 0 4px}.svr h2{font-size:17px;margin:22px 0 8px}
.svr .meta{color:#555;margin:0 0 12px}
.svr table{border-collapse:collapse;margin:6px 0 10px}
.svr th,.svr td{border:1px solid #ddd;padding:3px 9px;text-align:left;vertical-align:top}
.svr th{background:#f4f4f6}.svr td.num{text-align:right;font-variant-numeric:tabular-nums}
.svr .badge{display:inline-block;color:#fff;border-radius:9px;padding:0 8px;font-size:12px;white-space:nowrap}
.svr nav a{display:inline-block;margin:0 6px 6px 0;padding:3px 10px;border-radius:14px;border:1px solid #bbb;
text-decoration:none;color:#1d1d1f}
.svr nav a:hover{background:#eef}
.svr .grid{display:flex;flex-wrap:wrap;gap:10px}
.svr figure{margin:0}.svr .episode{border:1px solid #ddd;border-radius:6px;padding:6px;width:330px}
.svr .episode video{width:100%;background:#000;display:block;margin-bottom:4px}
.svr .episode p{margin:2px 0;font-size:12px;color:#333}.svr .note{color:#b71c1c}
.svr .missing{color:#777;font-size:12px;font-style:italic}
.svr .partial{background:#fff3e0;border-left:4px solid #ef6c00;padding:6px 10px}
.svr .side td video{width:260px;background:#000;display:block}
.svr :has(> section.outcome:target) > section.outcome:not(:target){display:none}
.svr #svr-differ:checked ~ table tr.same{display:none}
.svr svg text{font-family:system-ui,sans-serif}
"""


def _badge(outcome: str) -> str:
    colour = OUTCOME_COLOURS.get(outcome, "#455a64")
    return f'<span class="badge" style="background:{colour}">{escape(outcome)}</span>'


def _href(path: Path, page_dir: Path) -> str:
    return quote(Path(os.path.relpath(path.resolve(), page_dir.resolve())).as_posix())


def _video_file(episode: EpisodeResult, report_dir: Path | None) -> Path | None:
    """The episode's video on disk: under ``report_dir/videos`` (the folder may have moved), else as recorded."""
    if not episode.video:
        return None
    recorded = Path(episode.video)
    candidates = ([report_dir / "videos" / recorded.name] if report_dir is not None else []) + [recorded]
    return next((c for c in candidates if c.is_file()), None)


def _whisker_file(episode: EpisodeResult, report_dir: Path | None) -> Path | None:
    if report_dir is None:
        return None
    path = report_dir / WHISKER_VIDEO.format(seed=episode.seed)
    return path if path.is_file() else None


def _video_tag(path: Path | None, page_dir: Path, label: str) -> str:
    if path is None:
        return f'<p class="missing">no {escape(label)} recorded</p>'
    return (f'<video controls muted loop playsinline preload="metadata" title="{escape(label)}" '
            f'src="{escape(_href(path, page_dir))}"></video>')


# ---------------------------------------------------------------------- charts (inline SVG)


def outcome_chart_svg(report: EvalReport) -> str:
    """A bar chart of the outcome counts of ``report`` as an inline ``<svg>`` element."""
    aggregates = report.aggregates
    counts: dict[str, int] = aggregates["outcome_counts"]
    low, high = aggregates["success_ci95"]
    width, height, left, bottom, top = 640, 250, 40, 52, 40
    plot_h = height - bottom - top
    slot = (width - left - 10) / len(counts)
    peak = max(max(counts.values()), 1)
    title = (f"{report.policy}: success {_pct(report.success_rate)} (95% CI {_pct(low)} - {_pct(high)}), "
             f"{aggregates['episodes']} episodes")
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
             f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="13">{escape(title)}</text>',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" stroke="#888"/>',
             f'<text x="12" y="{top + plot_h / 2}" font-size="11" transform="rotate(-90 12 {top + plot_h / 2})" '
             'text-anchor="middle">episodes</text>']
    for i, (name, count) in enumerate(counts.items()):
        bar_h = plot_h * count / peak
        x = left + i * slot + slot * 0.15
        y = height - bottom - bar_h
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{bar_h:.1f}" '
                     f'fill="{OUTCOME_COLOURS.get(name, "#455a64")}"><title>{escape(name)}: {count}</title></rect>')
        parts.append(f'<text x="{x + slot * 0.35:.1f}" y="{y - 4:.1f}" text-anchor="middle" font-size="12">{count}</text>')
        for j, word in enumerate(name.split("_")):
            parts.append(f'<text x="{x + slot * 0.35:.1f}" y="{height - bottom + 15 + 12 * j}" text-anchor="middle" '
                         f'font-size="11">{escape(word)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def sweep_chart_svg(reports: Sequence[EvalReport]) -> str:
    """Success rate per report with Wilson 95% interval whiskers and episode counts, as inline ``<svg>``."""
    width = max(420, 110 * len(reports) + 60)
    height, left, bottom, top = 290, 48, 70, 44
    plot_h = height - bottom - top
    slot = (width - left - 10) / len(reports)
    counts = sorted({len(r.episodes) for r in reports})
    per = f"{counts[0]} episodes each" if len(counts) == 1 else "episodes as labelled"
    title = f"Success rate per policy (95% Wilson CI), {per}"
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
             f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="13">{escape(title)}</text>']
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        y = height - bottom - plot_h * tick
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" stroke="#e4e4e4"/>'
                     f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="10">{int(tick * 100)}%</text>')
    for i, report in enumerate(reports):
        a = report.aggregates
        low, high = a["success_ci95"]
        centre = left + (i + 0.5) * slot
        bar_h = plot_h * a["success_rate"]
        y_low, y_high = height - bottom - plot_h * low, height - bottom - plot_h * high
        successes = a["outcome_counts"]["success"]
        parts += [
            f'<rect x="{centre - slot * 0.3:.1f}" y="{height - bottom - bar_h:.1f}" width="{slot * 0.6:.1f}" '
            f'height="{bar_h:.1f}" fill="#1565c0"><title>{escape(report.policy)}: {successes}/{a["episodes"]}</title></rect>',
            f'<line x1="{centre:.1f}" y1="{y_low:.1f}" x2="{centre:.1f}" y2="{y_high:.1f}" stroke="#111"/>',
            f'<line x1="{centre - 6:.1f}" y1="{y_low:.1f}" x2="{centre + 6:.1f}" y2="{y_low:.1f}" stroke="#111"/>',
            f'<line x1="{centre - 6:.1f}" y1="{y_high:.1f}" x2="{centre + 6:.1f}" y2="{y_high:.1f}" stroke="#111"/>',
            f'<text x="{centre:.1f}" y="{y_high - 5:.1f}" text-anchor="middle" font-size="11">'
            f'{_pct(a["success_rate"])}</text>',
            f'<text x="{centre:.1f}" y="{height - bottom + 15}" text-anchor="middle" font-size="11">'
            f'{escape(_short(report.policy))}</text>',
            f'<text x="{centre:.1f}" y="{height - bottom + 29}" text-anchor="middle" font-size="10" fill="#555">'
            f'{successes}/{a["episodes"]} episodes</text>',
        ]
    parts.append(f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" stroke="#888"/></svg>')
    return "".join(parts)


def _episodes(count: int) -> str:
    return f"{count} episode" if count == 1 else f"{count} episodes"


def _short(name: str, limit: int = 22) -> str:
    return name if len(name) <= limit else "…" + name[-(limit - 1):]


# ---------------------------------------------------------------------- one report


def _summary_table(report: EvalReport) -> str:
    a = report.aggregates
    low, high = a["success_ci95"]
    rows = [
        ("episodes", "episodes", str(a["episodes"])),
        ("success rate", "success_rate", _pct(a["success_rate"])),
        ("95% CI (Wilson)", "success_ci95", f"{_pct(low)} - {_pct(high)}"),
        ("pick rate", "pick_rate", _pct(a["pick_rate"])),
        ("drop rate (of picked)", "drop_rate", _pct(a["drop_rate"])),
        ("mean steps of successes", "mean_steps_success", _fmt(a["mean_steps_success"], 1)),
        ("mean max block height", "mean_max_height", _fmt(a["mean_max_height"], 3, " m")),
        ("IK failure rate", "ik_failure_rate", _pct(a["ik_failure_rate"])),
        ("mean IK error", "mean_ik_error_mm", _fmt(a["mean_ik_error_mm"], 2, " mm")),
        ("unstable episodes", "unstable_episodes", str(a["unstable_episodes"])),
        ("clipped actions", "clipped_actions", clipped_summary(a)),
        ("episodes per minute", "episodes_per_minute", _fmt(a["episodes_per_minute"], 1)),
    ]
    body = "".join(f'<tr><th>{label}</th><td class="num" data-metric="{key}">{escape(value)}</td></tr>'
                   for label, key, value in rows)
    return f'<table class="summary"><tbody>{body}</tbody></table>'


def _episode_card(episode: EpisodeResult, report_dir: Path | None, page_dir: Path, prefix: str) -> str:
    note = f"UNSTABLE: {episode.message}" if episode.unstable else episode.message
    if episode.clipped_actions:
        note = (f"{episode.clipped_actions} action(s) clipped, up to {episode.max_clip_excess:.3g} past the range. "
                f"{note}").strip()
    whiskers = _whisker_file(episode, report_dir)
    parts = [f'<figure class="episode" id="{prefix}seed-{episode.seed}" data-seed="{episode.seed}" '
             f'data-outcome="{episode.outcome.value}">',
             _video_tag(_video_file(episode, report_dir), page_dir, "video")]
    if whiskers is not None:
        parts += ["<p>whiskers (predicted action chunks):</p>", _video_tag(whiskers, page_dir, "whisker video")]
    parts.append(f"<p><b>seed {episode.seed}</b> {_badge(episode.outcome.value)} {episode.steps} steps, "
                 f"max height {episode.max_height:.3f} m, {'picked' if episode.picked else 'not picked'}, "
                 f"{episode.wall_time_s:.1f} s</p>")
    if note:
        parts.append(f'<p class="note">{escape(note)}</p>')
    return "".join(parts) + "</figure>"


def _anchor_prefix(report: EvalReport) -> str:
    """Element ids of one report (unique per report, so several can share a notebook)."""
    return "r" + hashlib.sha1(f"{report.policy}|{report.created}".encode()).hexdigest()[:8] + "-"


def report_body(report: EvalReport, report_dir: str | os.PathLike[str] | None = None,
                page_dir: str | os.PathLike[str] | None = None, *, heading: bool = True) -> str:
    """The report as an HTML ``<div>`` (no ``<html>``): what :meth:`EvalReport._repr_html_` shows.

    Videos are found under ``report_dir`` (or where the report recorded them) and linked relative to
    ``page_dir`` (default: ``report_dir``, else the current directory).
    """
    report_dir = Path(report_dir) if report_dir is not None else None
    page = Path(page_dir) if page_dir is not None else (report_dir or Path.cwd())
    prefix = _anchor_prefix(report)
    a = report.aggregates
    groups: dict[str, list[EpisodeResult]] = {}
    for episode in report.episodes:
        groups.setdefault(episode.outcome.value, []).append(episode)
    ordered = [name for name in a["outcome_counts"] if name in groups]
    parts = ['<div class="svr">']
    if heading:
        parts.append(f"<h1>Evaluation: <code>{escape(report.policy)}</code> on <code>{escape(report.task)}</code></h1>")
    parts += [f'<p class="meta">{a["episodes"]} episodes, {escape(report.created)}, '
              f"{_fmt(report.wall_time_s, 1)} s wall time</p>",
              *([f'<p class="partial" data-planned="{report.planned}"><b>Partial: {a["episodes"]} of '
                 f'{report.planned} episodes</b> ({escape(report.stopped or "stopped early")}). Re-run the same '
                 "command to continue from <code>episodes.jsonl</code>.</p>"] if report.partial else []),
              _summary_table(report), outcome_chart_svg(report),
              '<div class="episodes">',
              f'<nav id="{prefix}outcomes"><a href="#{prefix}outcomes">all ({a["episodes"]})</a>']
    parts += [f'<a href="#{prefix}outcome-{name}" data-outcome="{name}">{escape(name)} ({len(groups[name])})</a>'
              for name in ordered]
    parts.append("</nav>")
    for name in ordered:
        cards = "".join(_episode_card(e, report_dir, page, prefix) for e in groups[name])
        parts.append(f'<section class="outcome" id="{prefix}outcome-{name}" data-outcome="{name}">'
                     f"<h2>{_badge(name)} {_episodes(len(groups[name]))}</h2><div class=\"grid\">{cards}</div></section>")
    parts.append("</div></div>")
    return "".join(parts)


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>body{{margin:18px}}{_CSS}</style></head>"
            f"<body>{body}</body></html>\n")


def report_html(report: EvalReport, report_dir: str | os.PathLike[str] | None = None) -> str:
    """The whole ``report.html`` page of ``report`` (videos linked relative to ``report_dir``)."""
    return _page(f"{report.policy} on {report.task}", report_body(report, report_dir))


def notebook_html(report: EvalReport) -> str:
    """The report for a notebook cell: the page's content with its style, videos relative to the cwd."""
    return f"<style>{_CSS}</style>" + report_body(report)


def write_report_html(report: EvalReport | str | os.PathLike[str], out_dir: str | os.PathLike[str] | None = None) -> Path:
    """Write ``report.html`` into ``out_dir`` (atomically); ``report`` may be a report directory to rebuild."""
    if not isinstance(report, EvalReport):
        out_dir = out_dir if out_dir is not None else report
        report = EvalReport.read(report)
    if out_dir is None:
        raise ValueError("write_report_html needs out_dir for a report object.")
    out = Path(out_dir)
    return atomic_write_text(out / REPORT_PAGE, report_html(report, out))


# ---------------------------------------------------------------------- sweeps


def _report_dirs(reports: Sequence[EvalReport], out: Path) -> list[Path | None]:
    """Each report's directory under a sweep directory: a subdirectory whose report.json is that report."""
    found: dict[tuple[str, str], Path] = {}
    for path in sorted(out.glob("*/report.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        found.setdefault((data.get("policy"), data.get("created")), path.parent)
    return [found.get((r.policy, r.created)) for r in reports]


def sweep_body(reports: Sequence[EvalReport], out_dir: str | os.PathLike[str],
               report_dirs: Sequence[str | os.PathLike[str] | None] | None = None) -> str:
    """The sweep page's content (see the module docstring)."""
    out = Path(out_dir)
    dirs = [Path(d) if d is not None else None for d in report_dirs] if report_dirs is not None else _report_dirs(reports, out)
    outcomes = [o.value for o in Outcome]
    seeds = sorted({e.seed for r in reports for e in r.episodes})
    same = len({tuple(sorted(e.seed for e in r.episodes)) for r in reports}) == 1
    parts = ['<div class="svr">', f"<h1>Sweep: {len(reports)} policies</h1>",
             f'<p class="meta">seeds {seeds[0]} - {seeds[-1]}, '
             f'{"the same for every policy" if same else "not all run by every policy"}</p>' if seeds else "",
             '<table class="sweep"><thead><tr><th>policy</th><th>episodes</th><th>success</th><th>95% CI</th>'
             "<th>pick</th><th>drop</th><th>steps (succ.)</th></tr></thead><tbody>"]
    for report, directory in zip(reports, dirs):
        a = report.aggregates
        low, high = a["success_ci95"]
        name = escape(report.policy)
        if directory is not None:
            name = f'<a href="{escape(_href(directory / REPORT_PAGE, out))}">{name}</a>'
        episodes = f'{a["episodes"]} of {report.planned} (partial)' if report.partial else str(a["episodes"])
        parts.append(f'<tr data-policy="{escape(report.policy)}"><td>{name}</td><td class="num">{episodes}</td>'
                     f'<td class="num" data-metric="success_rate">{_pct(a["success_rate"])}</td>'
                     f'<td class="num">{_pct(low)} - {_pct(high)}</td><td class="num">{_pct(a["pick_rate"])}</td>'
                     f'<td class="num">{_pct(a["drop_rate"])}</td><td class="num">{_fmt(a["mean_steps_success"], 1)}</td></tr>')
    parts += ["</tbody></table>", sweep_chart_svg(reports), "<h2>Outcomes per policy</h2>",
              '<table class="breakdown"><thead><tr><th>policy</th>'
              + "".join(f"<th>{_badge(o)}</th>" for o in outcomes) + "</tr></thead><tbody>"]
    for report, directory in zip(reports, dirs):
        counts = report.aggregates["outcome_counts"]
        prefix = _anchor_prefix(report)
        cells = []
        for outcome in outcomes:
            text = str(counts[outcome])
            if counts[outcome] and directory is not None:
                text = f'<a href="{escape(_href(directory / REPORT_PAGE, out))}#{prefix}outcome-{outcome}">{text}</a>'
            cells.append(f'<td class="num">{text}</td>')
        parts.append(f"<tr><td>{escape(report.policy)}</td>{''.join(cells)}</tr>")
    parts += ["</tbody></table>", "<h2>Side by side</h2>",
              '<input type="checkbox" id="svr-differ"> <label for="svr-differ">only seeds where the outcomes differ</label>',
              '<table class="side"><thead><tr><th>seed</th>'
              + "".join(f"<th>{escape(r.policy)}</th>" for r in reports) + "</tr></thead><tbody>"]
    by_seed = [{e.seed: e for e in r.episodes} for r in reports]
    for seed in seeds:
        row = [episodes.get(seed) for episodes in by_seed]
        same = len({e.outcome.value if e else None for e in row}) == 1
        cells = []
        for episode, directory in zip(row, dirs):
            if episode is None:
                cells.append('<td class="missing">not run</td>')
                continue
            whiskers = _whisker_file(episode, directory)
            cells.append(f"<td>{_badge(episode.outcome.value)} {episode.steps} steps"
                         + _video_tag(_video_file(episode, directory), out, "video")
                         + (_video_tag(whiskers, out, "whisker video") if whiskers is not None else "") + "</td>")
        parts.append(f'<tr class="{"same" if same else "differ"}" data-seed="{seed}"><th>{seed}</th>{"".join(cells)}</tr>')
    parts.append("</tbody></table></div>")
    return "".join(parts)


def write_sweep_html(reports: Sequence[EvalReport], out_dir: str | os.PathLike[str],
                     report_dirs: Sequence[str | os.PathLike[str] | None] | None = None) -> Path:
    """Write ``sweep.html`` into ``out_dir`` (atomically)."""
    body = sweep_body(reports, out_dir, report_dirs)
    return atomic_write_text(Path(out_dir) / SWEEP_PAGE, _page(f"Sweep of {len(reports)} policies", body))


__all__ = ["OUTCOME_COLOURS", "REPORT_PAGE", "SWEEP_PAGE", "WHISKER_VIDEO", "notebook_html", "outcome_chart_svg",
           "report_body", "report_html", "sweep_body", "sweep_chart_svg", "write_report_html", "write_sweep_html"]
