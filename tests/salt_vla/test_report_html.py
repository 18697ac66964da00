"""report.html and sweep.html: the numbers, the outcome groups, relative video paths, nothing from a network."""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser

from salt_vla.evaluation import EpisodeResult, EvalReport, Outcome, write_sweep
from salt_vla.report_html import WHISKER_VIDEO, outcome_chart_svg, sweep_chart_svg, write_report_html


class _Elements(HTMLParser):
    """Every start tag with its attributes, and the text inside elements that carry ``data-metric``."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.metrics: dict[str, str] = {}
        self._metric: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._metric = dict(attrs).get("data-metric")

    def handle_data(self, data: str) -> None:
        if self._metric:
            self.metrics[self._metric] = self.metrics.get(self._metric, "") + data

    def handle_endtag(self, tag: str) -> None:
        self._metric = None

    def all(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag and all(a.get(k.rstrip("_").replace("_", "-")) == v for k, v in attrs.items())]


def _parse(text: str) -> _Elements:
    parser = _Elements()
    parser.feed(text)
    return parser


def _report(out, policy: str = "act:ckpt/1000") -> EvalReport:
    """Seeds 0-5 in three outcomes; seeds 0-2 have a video file under ``out/videos``, seed 1 a whisker run."""
    outcomes = [Outcome.SUCCESS, Outcome.DROPPED_DURING_TRANSPORT, Outcome.SUCCESS, Outcome.NEVER_PICKED_UP,
                Outcome.DROPPED_DURING_TRANSPORT, Outcome.SUCCESS]
    episodes = []
    for seed, outcome in enumerate(outcomes):
        video = None
        if seed < 3:
            video = out / "videos" / f"episode_{seed:06d}.mp4"
            video.parent.mkdir(parents=True, exist_ok=True)
            video.write_bytes(b"mp4 of seed %d" % seed)
        episodes.append(EpisodeResult(seed=seed, outcome=outcome, steps=100 + seed, max_height=0.1,
                                      picked=outcome is not Outcome.NEVER_PICKED_UP, video=str(video) if video else None,
                                      message="held <b>loosely</b>" if seed == 4 else ""))
    whiskers = out / WHISKER_VIDEO.format(seed=1)
    whiskers.parent.mkdir(parents=True)
    whiskers.write_bytes(b"whiskers")
    return EvalReport(policy, "so101_pick_place", episodes, wall_time_s=12.0)


def test_report_page_has_the_numbers_the_groups_and_relative_videos(tmp_path) -> None:
    out = tmp_path / "run"
    report = _report(out)
    paths = report.write(out)
    text = paths["html"].read_text()
    page = _parse(text)
    assert page.metrics["episodes"] == "6"
    assert page.metrics["success_rate"] == "50.0%"
    assert page.metrics["success_ci95"] == "18.8% - 81.2%"  # Wilson 95% for 3 of 6
    assert page.metrics["drop_rate"] == "40.0%"  # 2 drops of 5 picked
    sections = page.all("section")
    assert [s["data-outcome"] for s in sections] == ["success", "never_picked_up", "dropped_during_transport"]
    figures = page.all("figure")
    assert len(figures) == 6
    drops = [int(f["data-seed"]) for f in figures if f["data-outcome"] == "dropped_during_transport"]
    assert drops == [1, 4]
    # One click: each outcome link points at its group's section.
    links = {a["data-outcome"]: a["href"] for a in page.all("a") if a.get("data-outcome")}
    ids = {s["data-outcome"]: s["id"] for s in sections}
    assert links == {name: f"#{ids[name]}" for name in ids}
    videos = [v["src"] for v in page.all("video")]
    assert videos == ["videos/episode_000000.mp4", "videos/episode_000002.mp4", "videos/episode_000001.mp4",
                      "whiskers/episode_000001/whiskers.mp4"]
    assert text.count("no video recorded") == 3
    assert "held &lt;b&gt;loosely&lt;/b&gt;" in text  # messages are escaped
    # Self-contained: no script, no network reference.
    assert "<script" not in text and not re.search(r"(src|href)=\"(https?:)?//", text)
    assert "<svg" in text

    # The folder moves (or is unzipped elsewhere): the page is rebuilt from report.json with the same links.
    moved = tmp_path / "elsewhere" / "run"
    shutil.move(out, moved)
    rebuilt = _parse(write_report_html(moved).read_text())
    assert [v["src"] for v in rebuilt.all("video")] == videos


def test_notebook_display_is_a_fragment(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    report = _report(tmp_path / "run")
    fragment = report._repr_html_()
    assert "<html" not in fragment and fragment.startswith("<style>")
    assert 'data-metric="success_rate">50.0%<' in fragment
    assert 'src="run/videos/episode_000000.mp4"' in fragment  # relative to the notebook's directory


def test_charts_are_titled_svg_with_counts(tmp_path) -> None:
    report = _report(tmp_path / "run")
    chart = outcome_chart_svg(report)
    assert chart.startswith("<svg") and "success 50.0% (95% CI 18.8% - 81.2%), 6 episodes" in chart
    assert ">2</text>" in chart and ">3</text>" in chart
    sweep = sweep_chart_svg([report, EvalReport("hold", "so101_pick_place", report.episodes[3:4])])
    assert "Success rate per policy (95% Wilson CI), episodes as labelled" in sweep
    assert "3/6 episodes" in sweep and "0/1 episodes" in sweep


def test_sweep_page_puts_the_policies_side_by_side(tmp_path) -> None:
    first = _report(tmp_path / "sweep" / "first", "act:ckpt/1000")
    first.write(tmp_path / "sweep" / "first")
    second = EvalReport("act:ckpt/2000", "so101_pick_place",
                        [EpisodeResult(seed=s, outcome=Outcome.SUCCESS, steps=90, max_height=0.1, picked=True)
                         for s in range(6)], created="2026-01-01T00:00:00+00:00")
    second.write(tmp_path / "sweep" / "second")
    paths = write_sweep([first, second], tmp_path / "sweep")
    text = paths["html"].read_text()
    page = _parse(text)
    rows = page.all("tr", class_="differ") + page.all("tr", class_="same")
    assert sorted(int(r["data-seed"]) for r in rows) == list(range(6))
    assert sorted(int(r["data-seed"]) for r in page.all("tr", class_="differ")) == [1, 3, 4]
    assert [v["src"] for v in page.all("video")][:2] == ["first/videos/episode_000000.mp4",
                                                        "first/videos/episode_000001.mp4"]
    assert "first/whiskers/episode_000001/whiskers.mp4" in text
    hrefs = [a["href"] for a in page.all("a")]
    assert "first/report.html" in hrefs and "second/report.html" in hrefs
    drops = [h for h in hrefs if h.startswith("first/report.html#") and h.endswith("outcome-dropped_during_transport")]
    assert len(drops) == 1  # "show me the drops" of one policy, from the sweep
    assert "<script" not in text
