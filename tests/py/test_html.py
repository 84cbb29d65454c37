"""The timeline pages (--html, issue 17): written by sockdrill, loaded in a real browser
(Debian's chromium, headless), and checked in the DOM its script built: the lanes, the marks,
the failing step and the steps where sim and real differ highlighted. Screenshots of each page
land in the test's tmp dir."""
import json
import re
import shutil
import subprocess

import pytest

from conftest import SERVER_PRELUDE

BROWSER_TIMEOUT = 90

# A client and a server, a background recv, bytes that would end a <script> block, and a last
# step that fails.
FAILING = SERVER_PRELUDE.replace("s:", "server:").replace("c:", "client:") + """\
server: start R = recv(S, 100)
client: send(C, "hello </script>") -> 15
server: wait R -> "hello </script>"
server: send(S, "bye") -> 3
client: recv(C, 10) -> "nope"
"""
PASSING = FAILING.replace('-> "nope"', '-> "bye"')
# Nobody reads and the send buffer is small: how much the send takes differs between the
# stacks; "*" takes any count, so both pass and the step still differs.
DIFFERING = SERVER_PRELUDE + """\
c: setsockopt(C, SO_SNDBUF, 4096) -> 0
c: nonblock(C) -> 0
c: send(C, pattern(2000000)) -> *
"""


def chromium():
    exe = shutil.which("chromium")
    if not exe:
        pytest.fail("chromium is needed (ci/deps installs it)")
    return exe


def browse(page, tmp_path, shot=None):
    """The page's DOM after its scripts ran; with shot, also a 1400x900 screenshot there."""
    base = [chromium(), "--headless=new", "--no-sandbox", "--disable-gpu",
            "--virtual-time-budget=5000", f"--user-data-dir={tmp_path / 'chromium-profile'}"]
    dom = subprocess.run(base + ["--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=BROWSER_TIMEOUT)
    assert dom.returncode == 0, dom.stderr[-2000:]
    if shot:
        r = subprocess.run(base + [f"--screenshot={shot}", "--window-size=1400,900",
                                   page.as_uri()], capture_output=True, text=True,
                           timeout=BROWSER_TIMEOUT)
        assert r.returncode == 0 and shot.stat().st_size > 10000, r.stderr[-2000:]
    return dom.stdout


def page_data(page):
    text = page.read_text()
    # one file: nothing fetched, no link out
    assert not re.search(r"<(link|img|iframe)\b|\bsrc=|\bhref=|@import|url\(", text)
    m = re.search(r'<script type="application/json" id="sd-data">\n(.*?)\n</script>', text, re.S)
    assert m, "no data block"
    return json.loads(m.group(1))


def lanes(dom):
    return re.findall(r'<g class="lane[^"]*" data-actor="([^"]*)" data-backend="([^"]*)"', dom)


def marks(dom, cls):
    """The marks whose class list holds every class of cls, as their attributes."""
    out = []
    for m in re.finditer(r'<(?:rect|path) ([^>]*class="mark [^"]*"[^>]*)>', dom):
        attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', m.group(1)))
        if set(cls.split()) <= set(attrs["class"].split()):
            out.append(attrs)
    return out


def test_failing_run_page(sockdrill, tmp_path):
    sd = tmp_path / "fail.sd"
    sd.write_text(FAILING)
    page = tmp_path / "fail.html"
    r = sockdrill("run", "--html", str(page), str(sd), timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    data = page_data(page)
    run = data["runs"][0]
    sim = run["backends"][0]
    assert (sim["name"], sim["status"], sim["failed_at"]) == ("sim", "failed", 11)
    sends = [e for e in sim["events"] if e["c"] == "send"]
    assert bytes.fromhex(sends[0]["d"]) == b"hello </script>"
    assert all(e["s"] <= e["e"] for e in sim["events"])
    dom = browse(page, tmp_path, tmp_path / "fail.png")
    assert {a for a, _ in lanes(dom)} == {"steps", "server", "client"}
    assert 'id="sd-repro"' in dom and f"./sockdrill run --backend sim --seed 1 {sd}" in dom
    failed = marks(dom, "mark failed")
    assert failed and {m["data-step"] for m in failed} == {"11"}
    assert marks(dom, "mark step failed")[0]["data-step"] == "11"
    assert len(marks(dom, "mark step")) == 12
    assert re.search(r'<tr class="step failed" data-step="11"', dom)
    assert 'class="conn"' in dom  # the client's connect drawn to the server's accept
    assert "sd-status" in dom and ">failed<" in dom


def test_passing_run_page(sockdrill, tmp_path):
    sd = tmp_path / "pass.sd"
    sd.write_text(PASSING)
    page = tmp_path / "pass.html"
    r = sockdrill("run", "--html", str(page), str(sd), timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    dom = browse(page, tmp_path, tmp_path / "pass.png")
    assert not marks(dom, "mark failed") and ">passed<" in dom
    assert len(marks(dom, "mark step ok")) == 12
    # the background recv is a span from its start to its completion, on the server's lane
    calls = marks(dom, "mark c-data")
    assert {m["data-call"] for m in calls} == {"send", "recv"}


def test_side_by_side_page_aligns_steps_and_marks_the_difference(sockdrill, tmp_path):
    sd = tmp_path / "differ.sd"
    sd.write_text(DIFFERING)
    page = tmp_path / "differ.html"
    r = sockdrill("run", "--backend", "both", "--html", str(page), str(sd), timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    run = page_data(page)["runs"][0]
    assert [b["name"] for b in run["backends"]] == ["sim", "real"]
    assert run["compared"] and run["differs"] == [9], run["differs"]
    dom = browse(page, tmp_path, tmp_path / "differ.png")
    got = lanes(dom)
    assert {("steps", "sim"), ("s", "sim"), ("c", "sim"), ("steps", "real"), ("c", "real")} <= set(got)
    # both backends' step 9 highlighted; steps aligned: the same step index in both lanes
    differs = marks(dom, "mark step differs")
    assert {(m["data-backend"], m["data-step"]) for m in differs} == {("sim", "9"), ("real", "9")}
    sim_x = {m["data-step"]: m["x"] for m in marks(dom, "mark step") if m["data-backend"] == "sim"}
    real_x = {m["data-step"]: m["x"] for m in marks(dom, "mark step") if m["data-backend"] == "real"}
    assert sim_x == real_x
    assert marks(dom, "mark c-data differs")


def test_run_html_with_several_files_and_a_trace_unchanged(sockdrill, tmp_path):
    (tmp_path / "a.sd").write_text(PASSING)
    (tmp_path / "b.sd").write_text(FAILING)
    page, trace, plain = tmp_path / "t.html", tmp_path / "with.trace", tmp_path / "without.trace"
    r = sockdrill("run", "--html", str(page), "--trace", str(trace), str(tmp_path), timeout=60)
    assert r.returncode == 1
    sockdrill("run", "--trace", str(plain), str(tmp_path), timeout=60)
    assert trace.read_text() == plain.read_text()  # the page changes no call and no line
    data = page_data(page)
    assert [x["file"].rsplit("/", 1)[-1] for x in data["runs"]] == ["a.sd", "b.sd"]
    assert (data["passed"], data["failed"]) == (1, 1)
    dom = browse(page, tmp_path)
    assert 'id="sd-run"' in dom  # a run picker; the failing file is shown first
    assert re.search(r'<option value="1" selected="">', dom) or "b.sd</h1>" in dom or \
        re.search(r"b\.sd<span", dom)


def test_five_thousand_calls_page_stays_usable(sockdrill, tmp_path):
    sd = tmp_path / "many.sd"
    sd.write_text(SERVER_PRELUDE + "repeat 2500 {\n  c: send(C, \"x\") -> 1\n"
                  "  s: recv(S, 1) -> \"x\"\n}\n")
    page = tmp_path / "many.html"
    r = sockdrill("run", "--html", str(page), str(sd), timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    run = page_data(page)["runs"][0]
    assert len(run["backends"][0]["events"]) >= 5000
    dom = browse(page, tmp_path, tmp_path / "many.png")
    assert {a for a, _ in lanes(dom)} == {"steps", "s", "c"}
    # only the visible window is drawn: far fewer marks than calls, and some are there
    drawn = marks(dom, "mark")
    assert 0 < len(drawn) < 5000


def test_readme_picture_and_its_scenario(sockdrill, tmp_path):
    from conftest import ROOT
    readme = (ROOT / "README.md").read_text()
    assert "](docs/img/timeline.png)" in readme
    assert (ROOT / "docs" / "img" / "timeline.png").stat().st_size > 20000
    page = tmp_path / "timeline.html"
    r = sockdrill("run", "--backend", "both", "--html", str(page),
                  str(ROOT / "docs" / "img" / "timeline.sd"), timeout=120)
    assert r.returncode == 1  # its last step is wrong on purpose
    dom = browse(page, tmp_path, tmp_path / "timeline.png")
    assert {(m["data-backend"], m["data-step"]) for m in marks(dom, "mark step failed")} == \
        {("sim", "14"), ("real", "14")}


def test_fuzz_finding_page(dialog, tmp_path):
    """repro --html of the dialog server's planted bug (tests/fuzz_own_server): the in-process
    run's calls by actor, the connection, the sanitizer's report and the repro command."""
    from conftest import ROOT
    from test_scenario_replay import LOGIN, STAT, HALF_CLOSE, plan
    crash = tmp_path / "crash"
    crash.write_bytes(plan([(-1, HALF_CLOSE, [LOGIN, STAT])]))
    page = tmp_path / "crash.html"
    r = subprocess.run([str(ROOT / "sockdrill"), "repro", str(dialog / "fuzz_dialog"), "crash",
                        "--html", str(page)], capture_output=True, text=True, timeout=300,
                       cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert r.returncode == 1, r.stdout + r.stderr[-3000:]
    assert f"repro: timeline: {page}" in r.stdout
    data = page_data(page)
    assert data["command"] == f"./sockdrill repro {dialog / 'fuzz_dialog'} crash"
    assert "AddressSanitizer: heap-buffer-overflow" in data["finding"]
    events = data["runs"][0]["backends"][0]["events"]
    assert {"server", "client"} <= {e["a"] for e in events}
    assert any(e["c"] == "accept" and e["e"] > e["s"] for e in events)  # it blocked: a span
    dom = browse(page, tmp_path, tmp_path / "crash.png")
    assert {"server", "client"} <= {a for a, _ in lanes(dom)}
    assert 'class="conn"' in dom and "heap-buffer-overflow" in dom
    assert marks(dom, "mark c-data")


def test_wrap_run_page(build, tmp_path):
    """wrap --run --html: the fragile server, a short write, the client's failing recv."""
    from conftest import ROOT
    page = tmp_path / "wrap.html"
    client = ROOT / "corpus" / "wrap" / "qa_client.sd"
    r = subprocess.run([str(build / "sockdrill"), "wrap", "--faults", "short-write=1", "--html",
                        str(page), "--run", str(client), "--", str(build / "sd-fragile-server"),
                        "--port", "{port}", "--idle-seconds", "20"],
                       capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    run = page_data(page)["runs"][0]
    (real,) = run["backends"]
    assert (real["name"], real["status"]) == ("real", "failed")
    assert real["reproduce"].startswith("./sockdrill wrap --faults short-write=1 --html ")  # as printed
    dom = browse(page, tmp_path, tmp_path / "wrap.png")
    assert {a for a, _ in lanes(dom)} == {"steps", "client"}
    failed = marks(dom, "mark step failed")
    assert [m["data-step"] for m in failed] == [str(real["failed_at"])]
    # without --run there is nothing to draw
    r = subprocess.run([str(build / "sockdrill"), "wrap", "--html", str(page), "--", "true"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--html needs --run" in r.stderr


def test_pytest_plugin_links_a_page_per_failing_file(tmp_path):
    from test_plugin import pytest_run
    (tmp_path / "good.sd").write_text(PASSING)
    (tmp_path / "bad.sd").write_text(FAILING)
    pages = tmp_path / "pages"
    r = pytest_run("-q", "--sockdrill-backend", "sim", "--sockdrill-html", pages, tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    made = sorted(p.name for p in pages.iterdir())
    assert len(made) == 1 and made[0].endswith("bad.sd.html"), made  # none for the passing file
    page = pages / made[0]
    assert f"timeline: {page}" in r.stdout
    dom = browse(page, tmp_path)
    assert marks(dom, "mark step failed")[0]["data-step"] == "11"
