"""sockdrill fuzz --report DIR: a page of the campaign (exec/s, coverage and corpus over time as
SVG charts, the crashes with their kind, repro command and `repro --html` timeline) and its
figures in series.json, written at the end, rewritten while the campaign runs, and after
SIGINT."""
import html.parser
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time

import pytest

from conftest import ROOT, default_stop_signals, kill_if_alive

AFL_ENV = {"AFL_SKIP_CPUFREQ": "1", "AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES": "1"}


def sd(build, *args, timeout=900, env=None):
    return subprocess.run([str(build / "sockdrill"), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})})


class Page(html.parser.HTMLParser):
    """What a test looks at in index.html: each chart's polyline points and crash marks, the
    crash table's cells by class, the links."""

    def __init__(self, text):
        super().__init__()
        self.charts = {}  # svg id -> {"points": [(x, y)], "crashes": n}
        self.rows = []  # one dict per crash row: the text of each classed <code>, the links
        self.refresh = False
        self._chart = self._code = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "svg" and "chart" in a.get("class", ""):
            self._chart = self.charts.setdefault(a["id"], {"points": [], "crashes": 0})
        elif tag == "polyline" and self._chart is not None:
            self._chart["points"] += [tuple(map(float, p.split(",")))
                                      for p in a["points"].split()]
        elif tag == "line" and a.get("class") == "crash" and self._chart is not None:
            self._chart["crashes"] += 1
        elif tag == "tr" and a.get("class") == "crash-row":
            self.rows.append({"id": a["id"], "cells": []})
        elif tag == "td" and self.rows:
            self.rows[-1]["cells"].append("")
        elif tag == "code" and self.rows:
            self._code = a.get("class")
        elif tag == "a" and a.get("class") == "timeline" and self.rows:
            self.rows[-1]["timeline"] = a["href"]
        elif tag == "meta" and a.get("http-equiv") == "refresh":
            self.refresh = True

    def handle_endtag(self, tag):
        if tag == "svg":
            self._chart = None
        elif tag == "code":
            self._code = None

    def handle_data(self, data):
        if self.rows and self.rows[-1]["cells"]:
            self.rows[-1]["cells"][-1] += data
            if self._code:
                self.rows[-1][self._code] = self.rows[-1].get(self._code, "") + data


def check_page(report, ncrash_min=1):
    """The page and series.json agree and show a campaign: three charts of at least two points
    each, inside their plot area, a mark per crash in each; the crash table. The page, parsed."""
    page = Page((report / "index.html").read_text())
    series = json.loads((report / "series.json").read_text())
    timelines = [c["timeline"] for c in series["crashes"] if c["timeline"]]
    # no temporary left; a timeline page per crash that has one
    assert sorted(os.listdir(report)) == sorted(["index.html", "series.json", *timelines])
    assert set(page.charts) == {"chart-execs", "chart-coverage", "chart-corpus"}
    for name, chart in page.charts.items():
        assert len(chart["points"]) >= 2, (name, chart)
        assert all(70 <= x <= 740 and 30 <= y <= 184 for x, y in chart["points"]), chart
        assert chart["crashes"] == len(series["crashes"])
    assert len(series["points"]) >= 2
    times = [p["t"] for p in series["points"]]
    assert times == sorted(times)
    assert len(page.rows) == len(series["crashes"]) >= ncrash_min
    for row, crash in zip(page.rows, series["crashes"]):
        assert row["file"] == crash["file"] and row["reproduce"] == crash["reproduce"]
        assert row["cells"][2] == (crash["kind"] or "(replayed at the end)")
        assert row.get("timeline") == crash["timeline"]
    return page, series


@pytest.mark.parametrize("engine, statsd", [("libfuzzer", None), ("afl", None),
                                            ("afl", "1")])
def test_report_of_a_campaign_that_finds_the_bug(build, tmp_path, engine, statsd):
    """fragile_server's bug is found in seconds: the page shows the figures up to it, the crash
    with its kind (the finding, replayed once) and a repro command that reproduces it. (AFL++'s
    figures come by StatsD; with the caller's own AFL_STATSD, from fuzzer_stats and plot_data.)"""
    report = tmp_path / "report"
    env = {**AFL_ENV, **({"AFL_STATSD": statsd} if statsd else {})}
    r = sd(build, "fuzz", "fragile_server", "--engine", engine, "--time", "60", "--out",
           tmp_path / "out", "--report", report, env=env)
    assert r.returncode == 1, r.stdout + r.stderr[-3000:]
    assert f"fuzz: report {report}/index.html\n" in r.stdout
    page, series = check_page(report)
    assert series["engine"] == engine and not series["running"]
    assert series["status"].startswith("ended after ")
    assert not page.refresh  # the final page stays
    sources = {p["source"] for p in series["points"]}
    assert sources <= ({"libfuzzer"} if engine == "libfuzzer" else
                       {"fuzzer_stats", "plot_data"} if statsd else {"statsd", "fuzzer_stats"})
    printed = re.findall(r"^reproduce: (.*)$", r.stdout, re.M)
    assert sorted(c["reproduce"] for c in series["crashes"]) == sorted(printed)
    for crash in series["crashes"]:
        assert crash["kind"].startswith("sockdrill finding: client "), crash
        assert 0 <= crash["t"] <= series["elapsed"] + 1
    for i, crash in enumerate(series["crashes"], 1):  # `repro --html`'s page of each
        assert crash["timeline"] == f"crash-{i}.html", crash
        timeline = (report / crash["timeline"]).read_text()
        assert timeline.startswith("<!DOCTYPE html>") and "</html>" in timeline
        assert os.path.basename(crash["file"]) in timeline
    cmd = series["crashes"][0]["reproduce"]
    again = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=300,
                           cwd=ROOT, env={**os.environ, "SOCKDRILL_PRESET": "default"})
    assert again.returncode == 1, again.stdout + again.stderr[-2000:]
    assert "the finding reproduces" in again.stdout
    assert series["crashes"][0]["kind"].removeprefix("sockdrill finding: ") in again.stderr
    if shutil.which("chromium"):  # the page as a browser builds it
        dom = subprocess.run(["timeout", "60", "chromium", "--headless=new", "--no-sandbox",
                              "--disable-gpu", "--dump-dom", (report / "index.html").as_uri()],
                             capture_output=True, text=True, timeout=90).stdout
        assert dom.count("<polyline") == 3 and dom.count('class="crash-row"') == len(page.rows)


# Stands in for libFuzzer: a status line every half second for about 7 s, a crash file at
# 2 s, then it waits to be stopped.
SLOW_FUZZER = """#!/bin/sh
for a in "$@"; do
    case "$a" in -artifact_prefix=*) prefix="${a#-artifact_prefix=}" ;; esac
done
[ -n "$prefix" ] || { echo "sockdrill finding: replayed"; exit 1; }
i=1
while [ $i -le 14 ]; do
    printf '#%d\\tNEW    cov: %d ft: %d corp: %d/9b exec/s: %d rss: 30Mb\\n' $((i * 100)) \
        $((10 + i)) $((20 + i)) $i $((i * 7))
    [ $i -eq 4 ] && printf boom > "${prefix}crash-slow"
    sleep 0.5
    i=$((i + 1))
done
exec sleep 300
"""


def test_report_while_running_and_after_sigint(build, tmp_path):
    """While the campaign runs the page is rewritten (whole: a reader never sees half of it)
    and reloads itself; SIGINT stops the campaign and the final page says so."""
    fuzzer = tmp_path / "fuzz_slow"
    fuzzer.write_text(SLOW_FUZZER)
    fuzzer.chmod(0o755)
    report = tmp_path / "report"
    with default_stop_signals():
        p = subprocess.Popen([str(build / "sockdrill"), "fuzz", str(fuzzer), "--time", "300",
                              "--out", str(tmp_path / "out"), "--report", str(report)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        series = None
        while time.monotonic() < deadline and p.poll() is None:
            if (report / "series.json").exists():
                series = json.loads((report / "series.json").read_text())
                if len(series["points"]) >= 10 and series["crashes"]:
                    break
            time.sleep(0.2)
        assert series and series["running"] and series["status"].startswith("running: ")
        page = Page((report / "index.html").read_text())  # (maybe a refresh later)
        assert page.refresh and len(page.charts) == 3 and page.rows
        assert series["crashes"][0]["kind"] is None  # replayed at the end only
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
        assert p.returncode == 130, (out, err)
    except BaseException:
        kill_if_alive(p.pid)
        p.communicate(timeout=30)
        raise
    page, series = check_page(report)
    assert not series["running"] and series["status"] == "stopped by SIGINT"
    assert not page.refresh
    assert [c["file"] for c in series["crashes"]] == [str(tmp_path / "out/artifacts/crash-slow")]
    # the replay is not started once the campaign was stopped
    assert series["crashes"][0]["kind"] == "(not replayed: the campaign was stopped)"
    points = series["points"]
    assert [q["coverage"] for q in points] == sorted(q["coverage"] for q in points)
    assert points[-1]["corpus"] >= 10 and points[-1]["execs_per_sec"] == 7 * points[-1]["corpus"]
    assert 1.0 <= series["crashes"][0]["t"] <= 4.0


@pytest.mark.parametrize("make, message", [
    (lambda d: d.write_text("x"), "exists and is not a directory"),
    (lambda d: None, "No such file or directory"),
])
def test_bad_report_path_exits_2(build, tmp_path, make, message):
    where = tmp_path / "file"
    make(where)
    path = where if where.exists() else tmp_path / "no/such/dir"
    r = sd(build, "fuzz", "fragile_server", "--report", path, timeout=60)
    assert r.returncode == 2
    assert r.stderr == f"sockdrill fuzz: --report: {path}: {message}\n", r.stderr
