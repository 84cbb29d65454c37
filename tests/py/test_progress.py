"""The progress line of the long commands (run, demo, wrap --run; fuzz's is in test_fuzz.py): on
a terminal one line on stderr redrawn in place, reaching done/total; elsewhere plain lines, only
every 10 s (SOCKDRILL_PROGRESS_PERIOD_MS shortens it for these tests), so a short run prints
none; with --quiet neither. stdout does not change. No test here asserts a time."""
import os
import pty
import re
import subprocess

from conftest import ROOT, kill_if_alive, read_terminal

# a line as drawn: what, done/total unit, then the rate and time left once known, the findings
LINE = r"{what}: (\d+)/{total} {unit}(?: · \d+\.\d/s)?(?: · [\dhmins ]+ left)? · (\d+) {finding}"
CLIENT = str(ROOT / "corpus" / "wrap" / "qa_client.sd")
PASS = "c: C = socket(inet) -> fd\nc: close(C) -> 0\n"
FAIL = "c: C = socket(inet) -> fd\nc: close(C) -> EBADF\n"


def on_a_terminal(argv, env=None, timeout=120):
    """argv run with stdout and stderr on one pseudo-terminal: (what it showed, exit status)."""
    master, slave = pty.openpty()
    p = subprocess.Popen([str(a) for a in argv], stdout=slave, stderr=slave, cwd=ROOT,
                         env=env)
    os.close(slave)
    shown = b""
    try:
        shown = read_terminal(master, timeout)
        p.wait(timeout=60)
    finally:
        os.close(master)
        if p.poll() is None:
            kill_if_alive(p.pid)
            p.wait(timeout=30)
    return shown.decode(), p.returncode


def in_a_log(argv, period_ms=None, timeout=120):
    """argv run on pipes (not a terminal), with the period shortened when given."""
    env = dict(os.environ)
    env.pop("SOCKDRILL_PROGRESS_PERIOD_MS", None)
    if period_ms is not None:
        env["SOCKDRILL_PROGRESS_PERIOD_MS"] = str(period_ms)
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=timeout)


def suite(tmp_path, failing=0, n=3):
    """n scenario files, the last `failing` of them failing."""
    d = tmp_path / "suite"
    d.mkdir()
    for i in range(n):
        (d / f"s{i}.sd").write_text(FAIL if i >= n - failing else PASS)
    return d


def untimed(text):
    """Output with its timings taken out, to compare two runs."""
    return re.sub(r"\d+\.\d+ s", "T s", text)


def test_run_on_a_terminal_draws_one_line_in_place(build, tmp_path):
    """Drawn from 0/3, redrawn in place up to 3/3, erased before every line the console prints
    (a failure's report reaches the terminal whole) and before the summary."""
    text, rc = on_a_terminal([build / "sockdrill", "run", suite(tmp_path, failing=1)])
    assert rc == 1, text
    line = LINE.format(what="run", total=3, unit="files", finding="failed")
    drawn = re.findall(r"\r" + line + r"\033\[K", text)
    assert drawn, text
    assert drawn[0] == ("0", "0") and drawn[-1] == ("3", "1"), drawn
    assert not re.search(line + r"[^\r]*\n", text), text  # never a line of its own
    # every line of the console starts on a clean line: the progress line erased first
    for printed in ("ok   ", "FAIL ", "run: 3 scenario files"):
        assert re.search(r"\r\033\[K" + re.escape(printed), text), (printed, text)
    assert "      reproduce: " in text
    assert text.endswith("scenarios: 2 passed, 1 failed\r\n"), text


def test_run_quiet_on_a_terminal_draws_nothing(build, tmp_path):
    text, rc = on_a_terminal([build / "sockdrill", "run", "--quiet", suite(tmp_path)])
    assert rc == 0, text
    assert "\033" not in text and "\r\n" in text
    assert not re.search(r"run: \d+/", text), text
    assert text.endswith("scenarios: 3 passed, 0 failed\r\n"), text


def test_run_in_a_log_prints_plain_periodic_lines(build, tmp_path):
    """Not on a terminal: plain lines on stderr once the period has passed (here 0: at every step), none
    in a run shorter than the period (10 s by default) or with --quiet; stdout the same in
    all three."""
    d = suite(tmp_path, failing=1)
    cmd = [build / "sockdrill", "run", "--backend", "both", d]
    fast = in_a_log(cmd, period_ms=0)
    assert fast.returncode == 1, fast.stdout + fast.stderr
    lines = fast.stderr.splitlines()
    assert lines, fast.stderr
    line = LINE.format(what="run", total=6, unit="runs", finding="failed")
    for shown in lines:
        assert re.fullmatch(line, shown), shown
    done = [int(re.fullmatch(line, s).group(1)) for s in lines]
    assert done == sorted(done) and done[-1] <= 6
    assert "\r" not in fast.stderr and "\033" not in fast.stderr
    plain = in_a_log(cmd)
    quiet = in_a_log(cmd[:2] + ["--quiet"] + cmd[2:], period_ms=0)
    assert plain.stderr == "" and quiet.stderr == ""
    assert untimed(plain.stdout) == untimed(fast.stdout) == untimed(quiet.stdout)


def test_run_help_says_what_quiet_drops(sockdrill):
    for cmd in ("run", "demo", "wrap", "fuzz"):
        r = sockdrill(cmd, "--help")
        assert re.search(r"^  --quiet +no (end-of-run summary and, with --run, no )?progress "
                         r"line", r.stdout, re.M), (cmd, r.stdout)


def test_demo_progress(build):
    """demo's clients: in place on a terminal up to 300/300, plain lines in a log, none with
    --quiet; the summary the same."""
    cmd = [build / "sockdrill", "demo", "--backend", "sim", "--clients", "300",
           "--concurrency", "10"]
    text, rc = on_a_terminal(cmd)
    assert rc == 0, text
    line = LINE.format(what="demo", total=300, unit="clients", finding="errors")
    drawn = re.findall(r"\r" + line + r"\033\[K", text)
    assert drawn and drawn[-1] == ("300", "0"), text
    assert re.search(r"\033\[K\r\033\[Kserved:  300/300 clients answered correctly", text)
    log = in_a_log(cmd, period_ms=0)
    assert log.returncode == 0, log.stderr
    assert log.stderr and all(re.fullmatch(line, s) for s in log.stderr.splitlines()), log.stderr
    quiet = in_a_log(cmd + ["--quiet"], period_ms=0)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    assert untimed(re.sub(r"[\d.]+ clients/s", "", quiet.stdout)) == \
        untimed(re.sub(r"[\d.]+ clients/s", "", log.stdout))


def test_wrap_run_progress(build):
    """wrap --run's scenarios: plain lines in a log, none with --quiet; in place on a
    terminal, erased before the scenario's line."""
    server = [build / "sd-fragile-server", "--port", "{port}", "--idle-seconds", "20"]
    cmd = [build / "sockdrill", "wrap", "--run", CLIENT, "--run", CLIENT, "--", *server]
    line = LINE.format(what="wrap", total=2, unit="scenarios", finding="findings")
    log = in_a_log(cmd, period_ms=0)
    assert log.returncode == 0, log.stdout + log.stderr
    shown = log.stderr.splitlines()
    assert shown and all(re.fullmatch(line, s) for s in shown), log.stderr
    quiet = in_a_log(cmd[:2] + ["--quiet"] + cmd[2:], period_ms=0)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    assert "wrap: 0 findings\n" in quiet.stdout
    text, rc = on_a_terminal(cmd)
    assert rc == 0, text
    drawn = re.findall(r"\r" + line + r"\033\[K", text)
    assert drawn and drawn[-1] == ("2", "0"), text
    assert re.search(r"\r\033\[Kok   .*qa_client\.sd", text), text
