"""sockdrill fuzz / repro: the fragile bug is found on both engines and replays; clean corpus
inputs replay clean; bad input is refused. (ci/fuzz also smokes every target.)"""
import os
import re
import shlex
import signal
import subprocess
import time

import pytest

from conftest import (ROOT, default_stop_signals, fuzz_targets, kill_if_alive, pid_gone,
                      read_terminal)

TARGETS = [row[0] for row in fuzz_targets()]
CLEAN = [row[0] for row in fuzz_targets() if row[3] == "clean"]


def sd(build, *args, timeout=900):
    return subprocess.run([str(build / "sockdrill"), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


@pytest.mark.parametrize("args, message", [
    (["fuzz", "nosuchtarget"], "unknown target 'nosuchtarget'"),
    (["fuzz", "sim_ops", "--engine", "honggfuzz"], "--engine must be libfuzzer or afl, not 'honggfuzz'"),
    (["fuzz", "sim_ops", "--time", "0"], "--time expects a whole number from 1"),
    (["fuzz"], "no target given"),
    (["repro", "sim_ops"], "expected TARGET FILE"),
    (["repro", "nosuchtarget", "/etc/hostname"], "unknown target 'nosuchtarget'"),
    (["repro", "sim_ops", "/no/such/input"], "/no/such/input: No such file or directory"),
    (["fuzz", "./no/such/fuzzer"], "./no/such/fuzzer: not an executable fuzzer"),
    (["fuzz", "/etc/passwd"], "/etc/passwd: not an executable fuzzer"),
    (["fuzz", "/tmp"], "/tmp: not an executable fuzzer"),
    (["fuzz", "sim_ops", "--seeds", "/no/such/dir"], "--seeds: /no/such/dir: No such file"),
    (["fuzz", "sim_ops", "--dict", "/no/such/dict"], "--dict: /no/such/dict: No such file"),
    (["repro", "./no/such/fuzzer", "/etc/hostname"], "./no/such/fuzzer: not an executable fuzzer"),
    # an engine given a file for seeds ran it once and stopped, "no crash"
    (["fuzz", "sim_ops", "--seeds", "/etc/hostname"], "--seeds: /etc/hostname: not a directory"),
    (["fuzz", "sim_ops", "--dict", "fuzz"], "--dict: fuzz: not a regular file"),
    (["fuzz", "sim_ops", "--"] + ["-runs=1"] * 33,
     "at most 32 engine arguments after '--', not 33"),
])
def test_bad_input_exits_2(build, args, message):
    r = sd(build, *args, timeout=60)
    assert r.returncode == 2
    assert message in r.stderr
    assert r.stderr.count("\n") == 1


def test_target_list_agrees_with_the_cli_and_the_build(build, tmp_path):
    """fuzz/targets.txt is the one list: `sockdrill list --targets` prints it, the help and the
    unknown-target message name its targets, and a fuzzing build defines fuzz_NAME for each
    of them and for no other (CMake is only configured here, nothing is compiled)."""
    rows = fuzz_targets()
    names = [row[0] for row in rows]
    assert names and len(set(names)) == len(names)
    r = sd(build, "list", "--targets", timeout=60)
    assert r.returncode == 0, r.stderr
    assert [tuple(line.split()) for line in r.stdout.splitlines()] == rows
    assert f"Targets: {', '.join(names)}, or\n" in sd(build, "fuzz", "--help", timeout=60).stdout
    r = sd(build, "fuzz", "no_such_target", timeout=60)
    assert f"unknown target 'no_such_target' ({', '.join(names)})" in r.stderr
    for name, kind, max_len, expect in rows:
        assert (ROOT / "fuzz" / f"{name}.c").is_file(), name
        assert (ROOT / "corpus" / name).is_dir(), name
    tree = tmp_path / "tree"
    r = subprocess.run(["cmake", "-S", str(ROOT), "-B", str(tree), "-G", "Unix Makefiles",
                        "-DSD_FUZZ=ON", "-DSD_BUILD_TESTS=OFF"], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    r = subprocess.run(["cmake", "--build", str(tree), "--target", "help"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert sorted(re.findall(r"^\.\.\. fuzz_(\w+)$", r.stdout, re.M)) == sorted(names)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_the_engine(build, tmp_path, sig):
    """SIGTERM/SIGINT to `sockdrill fuzz` reaches the engine and what it started, and sockdrill
    exits 128+signal once they have ended (not when --time is up)."""
    engine = tmp_path / "fuzz_standin"
    # Stands in for a fuzzer (any arguments): runs until stopped, with a helper process of its
    # own, as libFuzzer -fork and AFL++ have. (The shell starts the helper with SIGINT ignored.)
    engine.write_text(f"#!/bin/sh\nsleep 300 &\necho $! > {tmp_path}/helper.pid\n"
                      f"echo $$ > {tmp_path}/engine.pid\nwait\n")
    engine.chmod(0o755)
    with default_stop_signals():
        p = subprocess.Popen([str(build / "sockdrill"), "fuzz", str(engine), "--time", "300",
                              "--out", str(tmp_path / "out")], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    pids = []
    try:
        deadline = time.monotonic() + 30
        pidfile = tmp_path / "engine.pid"
        while time.monotonic() < deadline and p.poll() is None and not (
                pidfile.exists() and pidfile.read_text().endswith("\n")):
            time.sleep(0.05)
        pids = [int((tmp_path / f).read_text()) for f in ("engine.pid", "helper.pid")]
        p.send_signal(sig)
        _, err = p.communicate(timeout=60)
        assert p.returncode == 128 + sig, (p.returncode, err)
        assert all(pid_gone(pid) for pid in pids), "the engine or its helper is still running"
        assert err.endswith(f"sockdrill fuzz: stopped by {sig.name}\n"), err
    except BaseException:  # what this test started must not outlive it
        for pid in [*pids, p.pid]:
            kill_if_alive(pid)
        p.communicate(timeout=30)
        raise


@pytest.mark.parametrize("engine", ["libfuzzer", "afl"])
def test_fragile_bug_found_and_reproduced(build, engine):
    r = sd(build, "fuzz", "fragile_server", "--engine", engine, "--time", "60")
    assert r.returncode == 1, r.stdout + r.stderr[-3000:]
    assert re.search(rf"^fuzz: fragile_server on {engine}: [1-9]\d* new crash", r.stdout, re.M)
    crash = re.search(r"^reproduce: \./sockdrill repro fragile_server (\S+) --engine", r.stdout, re.M)
    assert crash, r.stdout
    again = sd(build, "repro", "fragile_server", crash.group(1), "--engine", engine)
    assert again.returncode == 1
    assert "repro: fragile_server on" in again.stdout and "the finding reproduces" in again.stdout
    # the trace of socket calls that led to it, then the oracle's verdict
    # (which crash a run finds first varies: any of the server's ways to get it wrong)
    assert re.search(r"^\d+\.\d{9} server listen\(\d+, 64\) = 0$", again.stderr, re.M)
    assert re.search(r"^\d+\.\d{9} client connect\(\d+, 127\.0\.0\.1:7777\) = ", again.stderr, re.M)
    assert "sockdrill finding: " in again.stderr
    if engine == "libfuzzer":  # llvm-symbolizer (ci/deps fuzz) names the frames' source lines
        assert "invalid path to external symbolizer" not in again.stderr
        assert re.search(r"#\d+ 0x[0-9a-f]+ in sd_fuzz_server_run \S*src/driver/fuzz/fuzz_server\.c:\d+",
                         again.stderr), again.stderr[-3000:]


@pytest.mark.parametrize("target", CLEAN)
def test_clean_target_replays_its_corpus_clean(build, target):
    seeds = sorted((ROOT / "corpus" / target).glob("*"))
    assert seeds, f"corpus/{target} has no seed inputs"
    for seed in seeds[:3]:
        r = sd(build, "repro", target, seed)
        assert r.returncode == 0, r.stdout + r.stderr[-2000:]
        assert "runs clean" in r.stdout


def test_example_server_ending_when_idle_is_no_finding(build, tmp_path):
    """The example server ends itself after 2 idle virtual seconds, by design. A client coming
    after pauses that add up to more was refused, and every campaign on example_server found
    that "connection refused" within a few hundred runs."""
    header = bytes(8) + bytes([0]) + bytes(8) + bytes([1, 0])  # 2 clients, one at a time
    pause = bytes([0xFF, 0, 0, 0, 3 + 4 * 63])  # an empty raw message, then 640 virtual ms
    first = bytes([0, 0, 3]) + pause * 4  # 4 of them: 2.56 s without a byte
    second = bytes([0, 0, 0]) + bytes([0, 0, 0])  # the question, then its reply
    late = tmp_path / "late_client"
    late.write_bytes(header + first + second)
    r = sd(build, "repro", "example_server", late)
    assert r.returncode == 0, r.stdout + r.stderr[-2000:]
    assert "runs clean" in r.stdout
    assert "connection refused" not in r.stderr


def test_own_server_through_the_cmake_helper(tmp_path):
    """README's "Fuzzing your own server": a project adds sockdrill with add_subdirectory and
    builds an accept-forever server, source unchanged, with sockdrill_add_server_fuzzer. The
    fuzzer finds its short-write bug; the fixed build runs clean."""
    src = ROOT / "tests" / "fuzz_own_server"
    bdir = tmp_path / "b"
    env = dict(os.environ, CC="clang")
    conf = subprocess.run(["cmake", "-S", src, "-B", bdir, f"-DSOCKDRILL_DIR={ROOT}",
                           "-DCMAKE_C_FLAGS=-fsanitize=address,undefined -g -O1"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert conf.returncode == 0, conf.stdout + conf.stderr
    build = subprocess.run(["cmake", "--build", bdir, "-j", str(os.cpu_count() or 2), "--target",
                            "fuzz_buggy", "fuzz_fixed"], capture_output=True, text=True,
                           timeout=900)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    buggy = subprocess.run([bdir / "fuzz_buggy", "-seed=1", "-runs=200000",
                            f"-artifact_prefix={tmp_path}/"],
                           capture_output=True, text=True, timeout=600)
    assert buggy.returncode != 0
    # a short write: the client got a strict prefix of the answer (the finding on one line)
    m = re.search(r'^sockdrill finding: client \d sent "GET / HTTP/1.0\\r\\n\\r\\n" and got "(.*)"$',
                  buggy.stderr, re.M)
    assert m, buggy.stderr[-3000:]
    assert "HTTP/1.0 200 OK\\r\\n\\r\\n".startswith(m.group(1)) and m.group(1), m.group(1)
    assert len(m.group(1)) < len("HTTP/1.0 200 OK\\r\\n\\r\\n")
    fixed = subprocess.run([bdir / "fuzz_fixed", "-seed=1", "-runs=3000"],
                           capture_output=True, text=True, timeout=600)
    assert fixed.returncode == 0, fixed.stderr[-3000:]
    assert "Done 3000 runs" in fixed.stderr
    # The same through `sockdrill fuzz PATH` and `sockdrill repro PATH`, as README shows for CI.
    sockdrill = ROOT / "sockdrill"
    out = tmp_path / "out"
    r = subprocess.run([sockdrill, "fuzz", bdir / "fuzz_buggy", "--time", "120", "--out", out],
                       capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr[-3000:]
    assert re.search(r"^fuzz: buggy on libfuzzer: [1-9]\d* new crash", r.stdout, re.M), r.stdout
    crash = re.search(rf"^reproduce: \./sockdrill repro {re.escape(str(bdir))}/fuzz_buggy "
                      rf"({re.escape(str(out))}/artifacts/\S+) --engine libfuzzer$", r.stdout, re.M)
    assert crash, r.stdout
    again = subprocess.run([sockdrill, "repro", bdir / "fuzz_buggy", crash.group(1)],
                           capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert again.returncode == 1 and "the finding reproduces" in again.stdout
    assert "sockdrill finding: client " in again.stderr
    clean = subprocess.run([sockdrill, "fuzz", bdir / "fuzz_fixed", "--time", "5", "--out", out],
                           capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert clean.returncode == 0, clean.stdout + clean.stderr[-3000:]
    assert re.search(r"^fuzz: fixed on libfuzzer: 0 new crashes; corpus ", clean.stdout, re.M)


def build_own_server(bdir, cc, cflags, *targets):
    """tests/fuzz_own_server built as its README user would, with compiler cc."""
    conf = subprocess.run(["cmake", "-S", ROOT / "tests" / "fuzz_own_server", "-B", bdir,
                           f"-DSOCKDRILL_DIR={ROOT}", f"-DCMAKE_C_FLAGS={cflags}"],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ, CC=cc))
    assert conf.returncode == 0, conf.stdout + conf.stderr
    build = subprocess.run(["cmake", "--build", bdir, "-j", str(os.cpu_count() or 2), "--target",
                            *targets], capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]


NEVER_LISTENED = ("sockdrill: the server never listened on 127.0.0.1:7000: nothing listened there "
                  "32 virtual seconds after it started (is that its port?) (harness error); the "
                  "server's last output:\n  quiet: listening is switched off\n")


@pytest.mark.parametrize("engine", ["libfuzzer", "afl"])
def test_server_that_never_listens_is_a_harness_error(tmp_path, engine):
    """A server exiting or never listening at start-up was "0 crashes, exit 0" on AFL++ (which
    takes the harness error's exit status 2 for a clean run): both engines now end in exit 2
    with the harness error's line and the server's last output; so does its repro."""
    bdir = tmp_path / "b"
    if engine == "libfuzzer":
        build_own_server(bdir, "clang", "-fsanitize=address,undefined -g -O1", "fuzz_quiet")
    else:
        build_own_server(bdir, "afl-clang-fast", "-g -O1", "fuzz_quiet")
    sockdrill, out = ROOT / "sockdrill", tmp_path / "out"
    r = subprocess.run([sockdrill, "fuzz", bdir / "fuzz_quiet", "--engine", engine, "--time", "5",
                        "--out", out], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr[-3000:]
    assert NEVER_LISTENED in r.stderr, r.stderr[-3000:]
    assert re.search(rf"^sockdrill fuzz: quiet on {engine}: [1-9]\d* inputs? ended in a harness "
                     rf"error \(the first above; all in {re.escape(str(out))}/harness-errors\), "
                     rf"not a finding: fix the target and fuzz again$", r.stderr, re.M), r.stderr
    assert "new crash" not in r.stdout, r.stdout
    if engine == "afl":  # one input replayed first: AFL++ never starts on a broken target
        assert "fuzz: quiet on afl: its first input ended in a harness error; not fuzzing\n" \
            in r.stdout, r.stdout
        assert not (out / "afl-out").exists()
    one = tmp_path / "input"
    one.write_bytes(b"\0" * 16)
    again = subprocess.run([sockdrill, "repro", bdir / "fuzz_quiet", one, "--engine", engine],
                           capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert again.returncode == 2, again.stdout + again.stderr[-3000:]
    assert NEVER_LISTENED in again.stderr
    assert again.stdout.endswith(f"repro: {bdir}/fuzz_quiet on {one}: a harness error (above), "
                                 f"not a finding\n"), again.stdout


@pytest.mark.parametrize("what", ["directory", "device"])
def test_repro_needs_a_regular_file(build, tmp_path, what):
    # Given a directory, libFuzzer fuzzed it forever (writing into it); /dev/null "reproduced".
    path = tmp_path if what == "directory" else "/dev/null"
    r = sd(build, "repro", "scenario_parser", path, timeout=60)
    assert r.returncode == 2
    assert r.stderr == f"sockdrill repro: {path}: not a regular file\n"  # before any build
    assert list(tmp_path.iterdir()) == []


def script(path, text):
    path.write_text(text)
    path.chmod(0o755)
    return path


# Stands in for a libFuzzer binary: a campaign (-artifact_prefix=) writes one crash at once; a
# replay (the input as its one argument) crashes when the input says so.
FAKE_CRASHING_FUZZER = """#!/bin/sh
for a in "$@"; do
    case "$a" in -artifact_prefix=*) prefix="${a#-artifact_prefix=}" ;; esac
    last="$a"
done
if [ -n "$prefix" ]; then
    printf boom > "${prefix}crash-fake"
    echo "==1==ERROR: fake crash" >&2
    exit 1
fi
if grep -q boom "$last"; then echo "==1==ERROR: fake crash" >&2; exit 1; fi
"""


def test_reproduce_command_quotes_paths_for_the_shell(build, tmp_path):
    d = tmp_path / "it's a dir"
    d.mkdir()
    fuzzer = script(d / "fuzz_fake", FAKE_CRASHING_FUZZER)
    out = tmp_path / "out $HOME"
    r = sd(build, "fuzz", fuzzer, "--time", "5", "--out", out, timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    commands = re.findall(r"^reproduce: (.*)$", r.stdout, re.M)
    assert len(commands) == 1
    assert shlex.split(commands[0]) == ["./sockdrill", "repro", str(fuzzer),
                                        f"{out}/artifacts/crash-fake", "--engine", "libfuzzer"]
    again = subprocess.run(["sh", "-c", commands[0]], cwd=ROOT, capture_output=True, text=True,
                           timeout=900)
    assert again.returncode == 1, again.stdout + again.stderr
    assert "the finding reproduces" in again.stdout


def test_slow_unit_is_no_crash(build, tmp_path):
    """libFuzzer keeps an input it found slow as slow-unit-*: a clean campaign still (the
    first 10-minute lighttpd dialog campaign counted one as a crash)."""
    fuzzer = script(tmp_path / "fuzz_slow", """#!/bin/sh
for a in "$@"; do
    case "$a" in -artifact_prefix=*) prefix="${a#-artifact_prefix=}" ;; esac
done
printf slow > "${prefix}slow-unit-fake"
echo "#5	DONE   cov: 3 ft: 3 corp: 1/1b lim: 4 exec/s: 5 rss: 30Mb" >&2
echo "Done 5 runs in 1 second(s)" >&2
""")
    r = sd(build, "fuzz", fuzzer, "--time", "2", "--out", tmp_path / "out", timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "reproduce:" not in r.stdout
    assert "crashes 0" in r.stderr
    assert (tmp_path / "out" / "artifacts" / "slow-unit-fake").is_file()


@pytest.mark.parametrize("engine, status", [("libfuzzer", 1), ("libfuzzer", 0), ("afl", 1)])
def test_engine_that_did_not_fuzz_is_an_error(build, tmp_path, engine, status):
    # A "fuzzer" that stops at once: libFuzzer's exit status and output say it never ran;
    # AFL++ refuses a script outright.
    fuzzer = script(tmp_path / "fuzz_quits", f"#!/bin/sh\necho 'quits: cannot start' >&2\n"
                                             f"exit {status}\n")
    r = sd(build, "fuzz", fuzzer, "--engine", engine, "--time", "2", "--out", tmp_path / "out",
           timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"sockdrill fuzz: {engine} did not fuzz quits: " in r.stderr
    assert "new crash" not in r.stdout  # no summary that reads like a clean campaign
    # the engine's own last lines (afl-fuzz's message without its colours)
    assert ("quits: cannot start" if engine == "libfuzzer" else "PROGRAM ABORT") in r.stderr
    assert "\033[" not in r.stderr


def test_dictionary_the_engine_refuses_is_an_error(build, tmp_path):
    bad = tmp_path / "bad.dict"
    bad.write_text('"unterminated\n')
    r = sd(build, "fuzz", "scenario_parser", "--time", "2", "--dict", bad)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "ParseDictionaryFile: error in line 1" in r.stderr
    assert "libfuzzer did not fuzz scenario_parser: it exited with status 1" in r.stderr


@pytest.mark.parametrize("jobs", [1, 2])
def test_campaign_without_crash_exits_0(build, jobs):
    r = sd(build, "fuzz", "scenario_parser", "--time", "2", "--jobs", jobs)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    assert re.search(r"^fuzz: scenario_parser on libfuzzer: 0 new crashes", r.stdout, re.M)
    assert re.search(r"^fuzz: scenario_parser on libfuzzer: ran \d+ s, [1-9]\d* execs ", r.stdout,
                     re.M), r.stdout


OWN_FUZZER = """#include <stddef.h>
#include <stdint.h>
static volatile int seen;
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1 && data[0] == 'x')
		seen = data[1];
	return 0;
}
"""


def test_afl_fuzzes_a_user_fuzzer_given_no_seeds(build, tmp_path):
    # With no seeds AFL++ was handed an empty input, refused it, and the run said "0 new crashes".
    (tmp_path / "own.c").write_text(OWN_FUZZER)
    exe = tmp_path / "fuzz_own"
    cc = subprocess.run(["afl-clang-fast", "-fsanitize=fuzzer", "-o", exe, tmp_path / "own.c"],
                        capture_output=True, text=True, timeout=300)
    assert cc.returncode == 0, cc.stderr
    out = tmp_path / "out"
    r = sd(build, "fuzz", exe, "--engine", "afl", "--time", "2", "--out", out, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^fuzz: own on afl: 0 new crashes", r.stdout, re.M)
    stats = (out / "afl-out" / "main" / "fuzzer_stats").read_text()
    assert int(re.search(r"^execs_done\s*:\s*(\d+)$", stats, re.M).group(1)) > 0


def test_engine_arguments_after_double_dash(build, tmp_path):
    """What follows "--" reaches the engine as it is, after sockdrill's own arguments:
    libFuzzer's -runs ends the campaign long before --time; afl-fuzz's -s fixes its seed (its
    fuzzer_stats keep the command line)."""
    (tmp_path / "own.c").write_text(OWN_FUZZER)
    lf = tmp_path / "fuzz_own_lf"  # no seeds, an empty corpus: every run is one of the 37
    cc = subprocess.run(["clang", "-fsanitize=fuzzer", "-o", lf, tmp_path / "own.c"],
                        capture_output=True, text=True, timeout=300)
    assert cc.returncode == 0, cc.stderr
    r = sd(build, "fuzz", lf, "--time", "600", "--out", tmp_path / "lf", "--", "-runs=37",
           timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    assert re.search(r"^fuzz: own_lf on libfuzzer: ran \d+ s, 37 execs ", r.stdout, re.M), r.stdout
    assert "Done 37 runs in" in (tmp_path / "lf" / "libfuzzer.log").read_text()
    exe = tmp_path / "fuzz_own"
    cc = subprocess.run(["afl-clang-fast", "-fsanitize=fuzzer", "-o", exe, tmp_path / "own.c"],
                        capture_output=True, text=True, timeout=300)
    assert cc.returncode == 0, cc.stderr
    out = tmp_path / "out"
    r = sd(build, "fuzz", exe, "--engine", "afl", "--time", "2", "--out", out, "--", "-s", "4242",
           timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    stats = (out / "afl-out" / "main" / "fuzzer_stats").read_text()
    line = re.search(r"^command_line\s*:\s*(.*)$", stats, re.M).group(1)
    assert " -s 4242 -- " in line, line


def build_sh(tmp_path, **env):
    """fuzz/build.sh run as fuzz/README.md and OSS-Fuzz run it (`bash fuzz/build.sh`: the
    shebang's flags do not apply), outside any $SRC checkout."""
    e = {k: v for k, v in os.environ.items() if k not in ("CXX", "CXXFLAGS", "SRC", "WORK")}
    e.update(OUT=str(tmp_path / "out"), WORK=str(tmp_path / "work"), **env)
    (tmp_path / "work").mkdir()
    return subprocess.run(["bash", str(ROOT / "fuzz" / "build.sh")], env=e, capture_output=True,
                          text=True, timeout=900, cwd=tmp_path)


def test_oss_fuzz_build_script_builds_every_target(tmp_path):
    """Every target links from CMakeLists.txt's own source lists (a file added there, such as
    src/util/kports.c, was missing here and no target linked), and the in-process ones run a seed."""
    r = build_sh(tmp_path, CC="clang", CFLAGS="-fsanitize=fuzzer-no-link -O1",
                 LIB_FUZZING_ENGINE="-fsanitize=fuzzer")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    out = tmp_path / "out"
    for t in TARGETS:
        assert os.access(out / t, os.X_OK), f"{t} not built"
    for t in ["example_server", "fragile_server"]:
        seed = ROOT / "corpus" / t / "one_question"
        run = subprocess.run([str(out / t), "-runs=0", str(seed)], capture_output=True,
                             text=True, timeout=120, cwd=tmp_path)
        assert run.returncode == 0, run.stderr[-2000:]


def test_oss_fuzz_build_script_stops_at_the_first_failure(tmp_path):
    """A compile that fails ends the build with its status (it went on and said "built:",
    exit 0, with no target built)."""
    r = build_sh(tmp_path, CC="false", CFLAGS="", LIB_FUZZING_ENGINE="-fsanitize=fuzzer")
    assert r.returncode != 0
    assert "built:" not in r.stdout
    assert r.stdout.count("  CC ") == 1


# ---- the progress line, the summary, crash reports ------------------------------------------

def own_fuzzer(tmp_path, engine, name="fuzz_own"):
    """OWN_FUZZER built for the engine, as a user would build theirs."""
    (tmp_path / "own.c").write_text(OWN_FUZZER)
    exe = tmp_path / name
    cc = "clang" if engine == "libfuzzer" else "afl-clang-fast"
    r = subprocess.run([cc, "-fsanitize=fuzzer", "-o", exe, tmp_path / "own.c"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return exe


PROGRESS = re.compile(r"^fuzz: \d+/(\d+) s, (\d+|-) execs \((\d+|-)/s\), (.*), corpus (\d+|-), "
                      r"crashes (\d+), stability (\S+)$", re.M)


@pytest.mark.parametrize("engine", ["libfuzzer", "afl"])
def test_progress_line_and_summary(build, tmp_path, engine):
    """A short campaign on a pipe: the engine's first statistics as one plain progress line on
    stderr (no more than one per 10 s after it), then the summary on stdout. AFL++'s own lines,
    one per queue entry, go to its log instead."""
    exe = own_fuzzer(tmp_path, engine)
    out = tmp_path / "out"
    start = time.monotonic()
    r = sd(build, "fuzz", exe, "--engine", engine, "--time", "3", "--out", out, timeout=300)
    took = time.monotonic() - start
    assert r.returncode == 0, r.stdout + r.stderr
    lines = PROGRESS.findall(r.stderr)
    assert lines, r.stderr
    assert len(lines) <= 2 + took // 10, r.stderr  # the first at once, then every 10 s at most
    assert "\r" not in r.stderr and "\033" not in r.stderr  # plain lines: not a terminal
    total, execs, rate, cov, corpus, crashes, stability = lines[0]
    assert total == "3" and int(execs) > 0 and int(corpus) >= 1 and crashes == "0", lines[0]
    if engine == "libfuzzer":
        assert re.fullmatch(r"cov \d+ ft \d+", cov) and stability == "-", lines[0]
    else:
        assert re.fullmatch(r"edges \d+(/\d+ \(\d+\.\d\d%\))?", cov), lines[0]
    summary = re.search(rf"^fuzz: own on {engine}: ran \d+ s, ([1-9]\d*) execs \((\d+)/s\), "
                        rf"(.*), corpus ([1-9]\d*), stability (\S+)$", r.stdout, re.M)
    assert summary, r.stdout
    assert int(summary.group(1)) >= int(execs)
    if engine == "libfuzzer":
        assert re.fullmatch(r"cov [1-9]\d* ft [1-9]\d*", summary.group(3))
        assert summary.group(5) == "-"
        assert "Done " in (out / "libfuzzer.log").read_text()
    else:
        assert re.fullmatch(r"edges [1-9]\d*/[1-9]\d* \(\d+\.\d\d%\)", summary.group(3))
        assert re.fullmatch(r"\d+\.\d\d%", summary.group(5))
        assert "Fuzzing test case" not in r.stdout + r.stderr
        assert "Fuzzing test case" in (out / "afl.log").read_text()
    assert r.stdout.endswith("fuzz: own on {}: 0 new crashes; corpus {}: {} inputs\n".format(
        engine, out / f"corpus-{engine}", len(list((out / f"corpus-{engine}").iterdir()))))


def test_progress_line_on_a_terminal(build, tmp_path):
    """On a terminal the progress line is drawn in place (carriage return, erase to the end of
    the line), shown from the start, and erased before the summary."""
    import pty
    fuzzer = script(tmp_path / "fuzz_tty", FAKE_LIBFUZZER.format(crash=""))
    master, slave = pty.openpty()
    p = subprocess.Popen([str(build / "sockdrill"), "fuzz", str(fuzzer), "--time", "5", "--out",
                          str(tmp_path / "out")], stdout=subprocess.PIPE, stderr=slave,
                         cwd=tmp_path)
    os.close(slave)
    err = b""
    try:
        err = read_terminal(master, 120)
        out, _ = p.communicate(timeout=60)
    finally:
        os.close(master)
        if p.poll() is None:
            kill_if_alive(p.pid)
            p.communicate(timeout=30)
    assert p.returncode == 0, (out, err)
    text = err.decode()
    # drawn from the start, and with the engine's figures once it has told them
    assert re.search(r"\rfuzz: \d+/5 s, [1-9]\d* execs \(\d+/s\), cov [57] ft [68], corpus [12], "
                     r"crashes 0, stability -\033\[K", text), text
    assert not re.search(r"fuzz: \d+/5 s, [^\r]*\n", text)  # never a line of its own
    assert text.endswith("\r\033[K"), text  # erased: the summary follows on stdout
    assert b"fuzz: tty on libfuzzer: ran " in out


def test_quiet_drops_the_progress_line(build, tmp_path):
    """--quiet: no progress line (the engine's first figures would give one at once), the
    summary and the verdict on stdout all the same."""
    fuzzer = script(tmp_path / "fuzz_hush", FAKE_LIBFUZZER.format(crash=""))
    r = sd(build, "fuzz", fuzzer, "--time", "5", "--out", tmp_path / "out", "--quiet",
           timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not PROGRESS.search(r.stderr) and "fuzz: " not in r.stderr, r.stderr
    assert re.search(r"^fuzz: hush on libfuzzer: ran \d+ s, 9 execs \(\d+/s\), cov 7 ft 8, "
                     r"corpus 2, stability -$", r.stdout, re.M), r.stdout
    assert "fuzz: hush on libfuzzer: 0 new crashes;" in r.stdout


# Stands in for a libFuzzer campaign: status lines, a target's chatter, then (with {crash}) a
# finding: what the target printed on that input, the report, the crash file's name.
FAKE_LIBFUZZER = """#!/bin/sh
for a in "$@"; do
    case "$a" in -artifact_prefix=*) prefix="${{a#-artifact_prefix=}}" ;; esac
done
echo "INFO: Seed: 1"
printf '#2\\tINITED cov: 5 ft: 6 corp: 1/1b exec/s: 0 rss: 30Mb\\n'
i=0; while [ $i -lt 100 ]; do echo "chatter $i"; i=$((i+1)); done
printf '#4\\tNEW    cov: 7 ft: 8 corp: 2/2b lim: 4 exec/s: 0 rss: 30Mb L: 1/1 MS: 1 ChangeBit-\\n'
{crash}
echo "Done 9 runs in 0 second(s)"
echo "stat::number_of_executed_units: 9"
"""

CRASH = """echo "  #   call   real   sim"
echo ">> 0   listen  0      -22"
echo "sockdrill finding: sim and kernel differ (step 0)"
echo "==4242== ERROR: libFuzzer: deadly signal"
i=0; while [ $i -lt 40 ]; do echo "    #$i 0x4242 in frame_$i"; i=$((i+1)); done
echo "SUMMARY: libFuzzer: deadly signal"
echo "MS: 1 ChangeBit-; base unit: 0"
echo "0x62,0x6f,0x6f,0x6d,"
printf boom > "${prefix}crash-fake"
echo "artifact_prefix='$prefix'; Test unit written to ${prefix}crash-fake"
echo "Base64: Ym9vbQ=="
echo "stat::number_of_executed_units: 9"
echo "stat::peak_rss_mb: 30"
exit 1
"""


def test_crash_report_shown_whole(build, tmp_path):
    """A crash report reaches stderr whole, as the engine wrote it: from what the target printed
    on that input (after libFuzzer's last status line) to the crash file's Base64; the chatter
    before, the status lines and libFuzzer's statistics do not. All of it is in the log. (Only
    the log's last 12 lines were shown: the finding's own line was not among them.)"""
    fuzzer = script(tmp_path / "fuzz_crashes", FAKE_LIBFUZZER.format(crash=CRASH))
    out = tmp_path / "out"
    r = sd(build, "fuzz", fuzzer, "--time", "5", "--out", out, timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    report = subprocess.run(["sh", "-c", f"prefix={out}/artifacts/\n" + CRASH],
                            capture_output=True, text=True, cwd=tmp_path).stdout
    report = report[:report.index("stat::")]
    assert report.startswith("  #   call") and report.endswith("Base64: Ym9vbQ==\n")
    assert report in r.stderr, r.stderr
    for hidden in ("chatter", "INITED", "NEW ", "stat::", "INFO: Seed"):
        assert hidden not in r.stderr, hidden
    log = (out / "libfuzzer.log").read_text()
    assert report in log and "chatter 99\n" in log and "stat::peak_rss_mb: 30" in log
    assert re.search(r"^fuzz: crashes on libfuzzer: ran \d+ s, 9 execs \(\d+/s\), cov 7 ft 8, "
                     r"corpus 2, stability -$", r.stdout, re.M), r.stdout
    assert re.search(r"^reproduce: .*crash-fake --engine libfuzzer$", r.stdout, re.M)


def test_libfuzzer_warnings_and_a_target_without_coverage(build, tmp_path):
    """libFuzzer's own warnings reach stderr (a target built without coverage instrumentation
    is told once, and fuzzed blind: its log was shown only if the engine failed); its status
    lines without cov: still give the figures."""
    fuzzer = script(tmp_path / "fuzz_plain", """#!/bin/sh
printf '#2\\tINITED exec/s: 0 rss: 30Mb\\n'
echo "WARNING: no interesting inputs were found so far. Is the code instrumented for coverage?"
printf '#64\\tpulse  exec/s: 32 rss: 30Mb\\n'
echo "Done 64 runs in 2 second(s)"
""")
    r = sd(build, "fuzz", fuzzer, "--time", "5", "--out", tmp_path / "out", timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "WARNING: no interesting inputs were found so far. Is the code instrumented for " \
        "coverage?\n" in r.stderr, r.stderr
    assert re.search(r"^fuzz: \d+/5 s, (2|64) execs \((0|32)/s\), cov - ft -, corpus -, crashes 0, "
                     r"stability -$", r.stderr, re.M), r.stderr
    assert re.search(r"^fuzz: plain on libfuzzer: ran \d+ s, 64 execs \(\d+/s\), cov - ft -, "
                     r"corpus -, stability -$", r.stdout, re.M), r.stdout


FAKE_FORK_DRIVER = """#!/bin/sh
echo "INFO: -fork=2: fuzzing in separate process(s)"
echo "#100: cov: 10 ft: 20 corp: 3 exec/s 50 oom/timeout/crash: 0/0/0 time: 2s job: 1 dft_time: 0"
echo "  NEW_FUNC: 0x1 in f x.c:1"
echo "#250: cov: 12 ft: 22 corp: 4 exec/s 60 oom/timeout/crash: 0/0/0 time: 4s job: 2 dft_time: 0"
echo "INFO: log from the inner process:"
printf '#7\\tINITED cov: 1 ft: 1 corp: 1/1b exec/s: 0 rss: 1Mb\\n'
echo "Done 7 runs in 0 second(s)"
echo "stat::number_of_executed_units: 7"
echo "INFO: exiting: 0 time: 4s"
"""


def test_summary_of_a_fork_campaign(build, tmp_path):
    """With -fork (--jobs N) the driver's "#N:" lines are the campaign's; a job's own counts, in
    the log of a job it shows, are not."""
    fuzzer = script(tmp_path / "fuzz_forks", FAKE_FORK_DRIVER)
    r = sd(build, "fuzz", fuzzer, "--time", "5", "--jobs", "2", "--out", tmp_path / "out",
           timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^fuzz: forks on libfuzzer: ran \d+ s, 250 execs \(\d+/s\), cov 12 ft 22, "
                     r"corpus 4, stability -$", r.stdout, re.M), r.stdout
    first = PROGRESS.search(r.stderr)
    assert first and first.group(2) in ("100", "250"), r.stderr


# ---- a user's fuzzer gets what a built-in target gets ----------------------------------------

# Stands in for a libFuzzer binary: keeps its arguments in PATH.args, fuzzes one input.
FAKE_RECORDING = """#!/bin/sh
printf '%s\\n' "$@" > "$0.args"
printf '#1\\tINITED cov: 1 ft: 1 corp: 1/1b exec/s: 0 rss: 1Mb\\n'
echo "Done 1 runs in 0 second(s)"
"""


def test_user_fuzzer_takes_its_seeds_and_dictionary_from_beside_it(build, tmp_path):
    """A built-in target starts from corpus/TARGET with fuzz/TARGET.dict; a user's fuzzer given
    by its path got neither unless --seeds and --dict were given (and the pytest fixture has no
    way to give them): PATH.seeds/ and PATH.dict beside it are now taken, as OSS-Fuzz keeps a
    fuzzer's dictionary beside it. --seeds and --dict still win."""
    d = tmp_path / "bin"
    d.mkdir()
    fuzzer = script(d / "fuzz_rec", FAKE_RECORDING)
    out = tmp_path / "out"
    r = sd(build, "fuzz", fuzzer, "--time", "5", "--out", out, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    args = (d / "fuzz_rec.args").read_text().splitlines()
    assert not [a for a in args if a.startswith("-dict=")], args
    assert args[-1] == str(out / "corpus-libfuzzer"), args

    (d / "fuzz_rec.dict").write_text('kw="GET"\n')
    (d / "fuzz_rec.seeds").mkdir()
    (d / "fuzz_rec.seeds" / "one").write_text("GET /\n")
    r = sd(build, "fuzz", fuzzer, "--time", "5", "--out", out, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    args = (d / "fuzz_rec.args").read_text().splitlines()
    assert f"-dict={d}/fuzz_rec.dict" in args, args
    assert args[-2:] == [str(out / "corpus-libfuzzer"), f"{d}/fuzz_rec.seeds"], args
    assert f"fuzz: seeds {d}/fuzz_rec.seeds, dictionary {d}/fuzz_rec.dict, output {out}\n" \
        in r.stdout, r.stdout

    other = tmp_path / "other.dict"
    other.write_text('kw="PUT"\n')
    (tmp_path / "seeds").mkdir()
    r = sd(build, "fuzz", fuzzer, "--time", "5", "--out", out, "--dict", other, "--seeds",
           tmp_path / "seeds", timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    args = (d / "fuzz_rec.args").read_text().splitlines()
    assert f"-dict={other}" in args and args[-1] == str(tmp_path / "seeds"), args


def test_afl_takes_a_user_fuzzers_seeds_and_dictionary(build, tmp_path):
    exe = own_fuzzer(tmp_path, "afl")
    (tmp_path / "fuzz_own.dict").write_text('kw="xyz"\n')
    (tmp_path / "fuzz_own.seeds").mkdir()
    (tmp_path / "fuzz_own.seeds" / "one").write_bytes(b"x-seed")
    out = tmp_path / "out"
    r = sd(build, "fuzz", exe, "--engine", "afl", "--time", "2", "--out", out, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    stats = (out / "afl-out" / "main" / "fuzzer_stats").read_text()
    line = re.search(r"^command_line\s*:\s*(.*)$", stats, re.M).group(1)
    assert f" -x {tmp_path}/fuzz_own.dict " in line, line
    assert (out / "afl-in" / "seed-0").read_bytes() == b"x-seed"


def test_out_applies_to_a_built_in_target(build, tmp_path):
    """--out was taken only for a fuzzer's path; a built-in target's corpus, crashes and log
    went to build/fuzz/TARGET whatever it said."""
    out = tmp_path / "o"
    r = sd(build, "fuzz", "scenario_parser", "--time", "5", "--out", out, "--", "-runs=20")
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    assert (out / "corpus-libfuzzer").is_dir() and (out / "artifacts").is_dir()
    assert re.search(r"^Done [1-9]\d* runs in ", (out / "libfuzzer.log").read_text(), re.M)
    assert f", output {out}\n" in r.stdout
    assert re.search(rf"^fuzz: scenario_parser on libfuzzer: 0 new crashes; corpus "
                     rf"{re.escape(str(out))}/corpus-libfuzzer: ", r.stdout, re.M), r.stdout
