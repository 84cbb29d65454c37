"""The benchmark runs and reports every figure; its numbers are not judged here."""
import os
import pathlib
import re
import subprocess
import time
import uuid

import pytest

import inproc_servers as srv
from conftest import ROOT


def test_bench_reports_all_figures(default_build):
    r = subprocess.run([str(default_build / "bench_sim"), "--quick", "--cycles", "300",
                        "--sockdrill", str(default_build / "sockdrill"),
                        "--scenarios", str(ROOT / "corpus" / "scenarios" / "qa")],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert re.search(r"^workload: 300 cycles .* \(3000 calls\)$", out, re.M)
    assert re.search(r"^  real: +[0-9.]+ s", out, re.M)
    assert re.search(r"^  sim: +[0-9.]+ s", out, re.M)
    assert re.search(r"^  ratio sim/real: [0-9.]+x \(target >= 20x: (meets|MISSES) target\)$", out, re.M)
    assert re.search(r"^sim call rate: .* M calls/s", out, re.M)
    for how in ("", r" as in a fuzz input \(segment=12, the client taking it whole\)"):
        assert re.search(rf"^1 MiB reply, server actor -> client actor through the sim{how}: "
                         r"[0-9.]+ us, memcpy of 1 MiB [0-9.]+ us \(medians of 70\); ratio "
                         r"[0-9.]+x \(target <= 3x: (meets|MISSES) target\)$", out, re.M), out
    assert re.search(r"^demo on sim, +10000 clients at once: exit 0, ", out, re.M)
    assert re.search(r"^scenario suite .*: real [0-9.]+ s \(exit 0\), sim [0-9.]+ s \(exit 0\), "
                     r"ratio sim/real [0-9.]+x$", out, re.M)


def test_layer_bench_reports_ratios(default_build):
    r = subprocess.run([str(default_build / "bench_layer"), "--quick"], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert re.search(r"^layer pass-through: write\(1 byte\) to /dev/null, medians of 201 rounds "
                     r"of 500 calls$", out, re.M)
    assert re.search(r"^  C library directly +[0-9.]+ ns/call$", out, re.M)
    for table in ("no socket", "1 socket"):
        assert re.search(rf"^  through the layer, {table} +[0-9.]+ ns/call  \(ratio [0-9.]+x\)$",
                         out, re.M), out


def test_bench_rejects_unknown_flag(default_build):
    r = subprocess.run([str(default_build / "bench_sim"), "--fast"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2
    assert "usage: bench_sim" in r.stderr


def test_ci_bench_script_is_executable():
    assert (ROOT / "ci" / "bench").stat().st_mode & 0o111


# ---- the real servers' routes (bench/bench_servers.py): they run, count and report; no figure
# is judged. lighttpd is the server here: ci/deps installs Debian's binary for the tests.

LIGHTTPD = "/usr/sbin/lighttpd"
LIGHTTPD_SEEDS = ROOT / "servers" / "lighttpd" / "seeds"


def native_env(build, tmp_path, **extra):
    env = dict(os.environ, SD_BENCH_SERVER=LIGHTTPD, TMPDIR=str(tmp_path),
               SD_BENCH_SHIM=str(build / "libsd_bench_forkserver.so"))
    env.update(extra)
    return env


def processes_with(marker):
    """The pids whose environment holds marker (a server left running by the route)."""
    pids = []
    for d in pathlib.Path("/proc").iterdir():
        try:
            if d.name.isdigit() and marker.encode() in (d / "environ").read_bytes():
                pids.append(int(d.name))
        except OSError:
            pass
    return pids


def test_native_route_runs_every_seed_and_reaps_its_servers(build, tmp_path):
    marker = f"SD_BENCH_TEST_{uuid.uuid4().hex}=1"
    key, value = marker.split("=")
    env = native_env(build, tmp_path, **{key: value})
    seeds = sorted(LIGHTTPD_SEEDS.iterdir())
    r = subprocess.run([str(build / "bench_native_lighttpd"), "--rounds", "2", str(LIGHTTPD_SEEDS)],
                       capture_output=True, text=True, timeout=300, env=env,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    n = 2 * len(seeds)
    assert re.search(rf"^inputs: {n} in [0-9.]+ s, [0-9.]+ inputs/s, cpu [0-9.]+ s "
                     rf"\({len(seeds)} files, 2 rounds\)$", r.stdout, re.M), r.stdout
    # Every input had its own lighttpd, which answered HTTP on every connection.
    m = re.search(rf"^native: {n} inputs, 0 failed starts, 0 sessions refused by the oracle, "
                  r"0 connections without a reply \((\d+) reply bytes in all\), 0 connection "
                  r"errors, \d+ half-closes unanswered within the end wait; per input [0-9.]+ ms "
                  r"to fork and listen, [0-9.]+ ms of clients, [0-9.]+ ms to kill and reap; cpu "
                  r"[0-9.]+ s \(all processes\); wait scale 0.05$", r.stdout, re.M)
    assert m, r.stdout
    # both rounds got lighttpd's whole replies (its 25 seeds' replies are 10238 bytes)
    assert int(m.group(1)) == 2 * 10238, r.stdout
    assert processes_with(marker) == []


@pytest.mark.parametrize("var,value,says", [
    ("SD_BENCH_SERVER", "/nonexistent/lighttpd",
     "SD_BENCH_SERVER: '/nonexistent/lighttpd' is not an executable (the server's binary)"),
    ("SD_BENCH_SHIM", "/nonexistent.so",
     "SD_BENCH_SHIM: '/nonexistent.so' is not readable (libsd_bench_forkserver.so)"),
    ("SD_BENCH_WAIT_SCALE", "5", "SD_BENCH_WAIT_SCALE: '5': a number 0.01..1"),
    ("SD_BENCH_WAIT_SCALE", "x", "SD_BENCH_WAIT_SCALE: 'x': a number 0.01..1"),
])
def test_native_route_rejects_bad_settings(build, tmp_path, var, value, says):
    env = native_env(build, tmp_path, **{var: value})
    r = subprocess.run([str(build / "bench_native_lighttpd"), str(LIGHTTPD_SEEDS / "msg-00")],
                       capture_output=True, text=True, timeout=60, env=env,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [f"bench_native: {says}"], r.stderr


@pytest.mark.parametrize("args,says", [
    (["--rounds", "0"], "--rounds: a whole number, 1..1000000"),
    (["--rounds", "1000001"], "--rounds: a whole number, 1..1000000"),
    (["--rounds", "2x"], "--rounds: a whole number, 1..1000000"),
    (["--seconds", "0"], "--seconds: a number of seconds, 0.001..3600"),
    (["--seconds", "3601"], "--seconds: a number of seconds, 0.001..3600"),
    (["--rounds"], "an option without its value"),
    ([], "no input named"),
])
def test_input_runner_rejects_bad_usage(build, args, says):
    prog = str(build / "bench_native_lighttpd")
    r = subprocess.run([prog, *args], capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 2
    assert r.stderr.splitlines()[0] == f"{prog}: {says}", r.stderr
    assert r.stdout == ""


def test_input_runner_names_an_unreadable_input(build, tmp_path):
    prog = str(build / "bench_native_lighttpd")
    big = tmp_path / "big"
    big.write_bytes(b"x" * ((1 << 20) + 1))
    for path, says in ((tmp_path / "missing", "No such file or directory"),
                       (big, "larger than 1048576 bytes")):
        r = subprocess.run([prog, str(path)], capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        assert r.returncode == 2
        assert r.stderr.strip().splitlines() == [f"{prog}: {path}: {says}"], r.stderr


def test_plain_engine_runs_inputs_fresh_and_persistent(tmp_path):
    exe = srv.build("lighttpd", engine="plain")
    env = dict(os.environ, TMPDIR=str(tmp_path))
    n = len(list(LIGHTTPD_SEEDS.iterdir()))
    for persistent, rounds in (("0", 1), ("1", 3)):
        r = subprocess.run([str(exe), "--rounds", str(rounds), str(LIGHTTPD_SEEDS)],
                           capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
                           env=dict(env, SOCKDRILL_PERSISTENT=persistent))
        assert r.returncode == 0, r.stderr[-3000:]
        assert re.search(rf"^inputs: {n * rounds} in [0-9.]+ s, [0-9.]+ inputs/s, cpu [0-9.]+ s "
                         rf"\({n} files, {rounds} rounds\)$", r.stdout, re.M), r.stdout
        if persistent == "1":  # one server for every input
            assert f"persistent mode: {n * rounds} inputs, the server started 1 time\n" in r.stderr


def test_native_route_leaves_no_server_when_killed(build, tmp_path):
    """The route's client killed mid-run (a time-out does that) takes its forkserver and the
    server of the input with it: nothing it started keeps running."""
    marker = f"SD_BENCH_TEST_{uuid.uuid4().hex}=1"
    key, value = marker.split("=")
    # One input that lasts: a GET, then 8 pauses of 640 ms (real ms at wait scale 1).
    slow = tmp_path / "slow"
    slow.write_bytes(srv.session({"msgs": [{"which": 1, "after": "sleep", "ms": 640}] * 8}))
    env = native_env(build, tmp_path, SD_BENCH_WAIT_SCALE="1", **{key: value})
    p = subprocess.Popen([str(build / "bench_native_lighttpd"), "--seconds", "60", str(slow)],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         stdin=subprocess.DEVNULL)
    try:
        deadline, seen = time.monotonic() + 30, 0
        while seen < 3 and time.monotonic() < deadline:
            seen = len(processes_with(marker))  # the client, its forkserver, an input's server
        assert seen >= 3
    finally:
        p.kill()
        p.wait(timeout=30)
    deadline = time.monotonic() + 10
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = processes_with(marker)
    for pid in left:  # what this test started, ended by pid
        os.kill(pid, 9)
    assert left == []


def test_bench_servers_prints_its_table(default_build, tmp_path):
    srv.build("lighttpd", engine="plain")
    srv.build("lighttpd", engine="libfuzzer")
    r = subprocess.run(["/usr/bin/python3", str(ROOT / "bench" / "bench_servers.py"),
                        "--seconds", "0.2", "--servers", "lighttpd",
                        "--routes", "plain,libfuzzer,native"],
                       capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL,
                       env=dict(os.environ, TMPDIR=str(tmp_path)))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    head = re.search(r"^  server +plain fresh +plain pers\. +libFuzzer fresh +libFuzzer pers\. "
                     r"+native$", out, re.M)
    assert head, out
    assert re.search(r"^  lighttpd \(25\)( +[0-9]+){5}$", out, re.M), out
    assert re.search(r"^ {12}( +[0-9]+/cpu-s){5}$", out, re.M), out
    assert re.search(r"^  lighttpd: native: \d+ inputs, 0 failed starts", out, re.M), out
    assert re.search(r"^  lighttpd: plain pers\. [0-9.]+x \((meets|MISSES) 10x\), plain fresh "
                     r"[0-9.]+x \((meets|MISSES) 3x\), libFuzzer pers\. [0-9.]+x, libFuzzer "
                     r"fresh [0-9.]+x$", out, re.M), out
    assert re.search(r"^fastest server persistent uninstrumented: lighttpd, \d+ inputs/s, \d+ per "
                     r"CPU-second \(goal >= 20000/core: (meets goal|MISSES goal, [0-9.]+x short)"
                     r"\)$", out, re.M), out


@pytest.mark.parametrize("args,says", [
    (["--seconds", "0"], "--seconds: 0.1..600"),
    (["--repeat", "6"], "--repeat: 1..5"),
    (["--servers", "apache"], "unknown server apache"),
    (["--routes", "qemu"], "unknown route qemu"),
    (["--wait-scale", "2"], "--wait-scale: 0.01..1"),
])
def test_bench_servers_rejects_bad_usage(args, says):
    r = subprocess.run(["/usr/bin/python3", str(ROOT / "bench" / "bench_servers.py"), *args],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [f"bench_servers: {says}"], r.stderr


# ---- sockdrill wrap's overhead on real servers (bench/bench_wrap_servers.py): it runs and
# reports every ratio; no figure is judged

def test_bench_wrap_servers_reports_every_ratio(default_build):
    r = subprocess.run(["/usr/bin/python3", str(ROOT / "bench" / "bench_wrap_servers.py"),
                        "--sockdrill", str(default_build / "sockdrill"), "--rounds", "1",
                        "--seconds", "1"],
                       capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    for server, tests in (("nginx", ("GET", "req/cpu-s")), ("redis", ("SET", "GET", "req/cpu-s"))):
        for config in ("wrap", "wrap p=0"):
            for t in tests:
                assert re.search(rf"^ratio {server} {re.escape(config)}/native {re.escape(t)}: "
                                 rf"[0-9.]+ \(median of 1 rounds, .*target >= 0\.95: "
                                 rf"(meets|MISSES) target\)$", r.stdout, re.M), r.stdout


@pytest.mark.parametrize("args,says", [
    (["--rounds", "0"], "--rounds must be 1..20"),
    (["--seconds", "0.1"], "--seconds must be 0.5..60"),
    (["--servers", "apache"], "--servers: unknown server apache (nginx, redis)"),
    (["--sockdrill", "/nonexistent"], "/nonexistent is not an executable sockdrill binary "
                                      "(--sockdrill)"),
])
def test_bench_wrap_servers_rejects_bad_usage(args, says):
    r = subprocess.run(["/usr/bin/python3", str(ROOT / "bench" / "bench_wrap_servers.py"), *args],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [f"bench_wrap_servers: {says}"], r.stderr
