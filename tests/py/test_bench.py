"""The benchmark runs and reports every figure; its numbers are not judged here."""
import os
import re
import subprocess

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

LIGHTTPD_SEEDS = ROOT / "servers" / "lighttpd" / "seeds"


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
