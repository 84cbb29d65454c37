"""Executions per second of every fuzz target on both engines, measured in one run.

libFuzzer runs the `libfuzzer` preset's binaries (clang, ASan+UBSan, coverage); AFL++ runs the
`afl` preset's (afl-clang-fast, persistent mode, shared-memory input, no sanitizer). Each
target starts from its seed corpus in a scratch directory, one process, one core, for --seconds.
fragile_server has a bug the fuzzers find at once: libFuzzer stops there (its figure covers the
time until the crash), AFL++ keeps going. Prints a table, then example_server's rate on each
engine as a share of the engine's rate on scenario_parser, a target that does almost nothing per
input (the engine's own ceiling on this machine). The in-process target of 20,000 inputs/s per
core is judged by bench_fuzz_route, uninstrumented like its loopback comparator. It never
asserts.

With --real-servers, the same table for the real servers ci/real-servers built (servers/NAME;
build/real-servers/ENGINE/bin/fuzz_NAME, from servers/NAME/seeds): each whole server in-process
on the sim, a fresh process's globals per input.

Usage: /usr/bin/python3 bench/bench_fuzz.py [--seconds S] [--targets a,b] [--real-servers]
Exit: 0 when every figure was measured, 1 when a run failed, 2 on bad usage or a missing build."""
import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
# The built-in targets: the one list, fuzz/targets.txt (NAME KIND MAX_LEN EXPECT a line).
TARGETS = tuple(line.split()[0] for line in (ROOT / "fuzz" / "targets.txt").read_text().splitlines()
                if line.strip() and not line.startswith("#"))


def binary_of(target, engine):
    if target.startswith("real:"):
        name = target[5:]
        return ROOT / "build" / "real-servers" / engine / "bin" / f"fuzz_{name}"
    return ROOT / "build" / engine / f"fuzz_{target}"


def seeds_of(target):
    if target.startswith("real:"):
        return ROOT / "servers" / target[5:] / "seeds"
    return ROOT / "corpus" / target


def libfuzzer_rate(target, seconds, tmp):
    binary = binary_of(target, "libfuzzer")
    corpus = pathlib.Path(tmp) / f"lf-{target.replace(':', '-')}"
    corpus.mkdir()
    argv = [str(binary), f"-max_total_time={seconds}", "-print_final_stats=1",
            f"-artifact_prefix={tmp}/", str(corpus), str(seeds_of(target))]
    t0 = time.monotonic()
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=seconds + 120, check=False)
    wall = time.monotonic() - t0
    out = proc.stdout.decode(errors="replace")
    m = re.search(r"stat::number_of_executed_units:\s*(\d+)", out)
    if not m:
        raise RuntimeError(f"libFuzzer {target}: no final stats (exit {proc.returncode})")
    note = "stopped at a crash" if proc.returncode != 0 else ""
    return int(m.group(1)) / wall, note


def afl_rate(target, seconds, tmp):
    binary = binary_of(target, "afl")
    out = pathlib.Path(tmp) / f"afl-{target.replace(':', '-')}"
    env = dict(os.environ, AFL_SKIP_CPUFREQ="1", AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES="1",
               AFL_NO_UI="1", AFL_NO_AFFINITY="1")
    argv = ["afl-fuzz", "-V", str(seconds), "-i", str(seeds_of(target)), "-o", str(out),
            "--", str(binary)]
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, env=env, timeout=seconds + 180, check=False)
    stats = out / "default" / "fuzzer_stats"
    if not stats.exists():
        err = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
        raise RuntimeError(f"AFL++ {target}: no fuzzer_stats (exit {proc.returncode}): {err[0]}")
    fields = {}
    for line in stats.read_text().splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    # AFL++'s own figure: executions over the time since fuzzing started (after the dry run).
    rate = float(fields["execs_per_sec"])
    crashes = int(fields.get("saved_crashes", fields.get("unique_crashes", "0")))
    return rate, f"{crashes} crashes" if crashes else ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--targets", default=",".join(TARGETS))
    ap.add_argument("--real-servers", action="store_true")
    args = ap.parse_args()
    targets = [t for t in args.targets.split(",") if t]
    bad = [t for t in targets if t not in TARGETS]
    if args.real_servers:
        targets = [f"real:{p.parent.name}" for p in sorted((ROOT / "servers").glob("*/package"))]
    if bad or args.seconds < 1:
        print(f"bench_fuzz: unknown target {bad[0]}" if bad else "bench_fuzz: --seconds >= 1",
              file=sys.stderr)
        return 2
    for preset in ("libfuzzer", "afl"):
        for t in targets:
            if not binary_of(t, preset).exists():
                how = ("ci/real-servers --build-only" if t.startswith("real:") else
                       f"cmake --preset {preset} && cmake --build --preset {preset}")
                print(f"bench_fuzz: {binary_of(t, preset)} missing: {how}", file=sys.stderr)
                return 2
    if not shutil.which("afl-fuzz"):
        print("bench_fuzz: afl-fuzz not found (ci/deps installs it)", file=sys.stderr)
        return 2
    what = "real servers in-process" if args.real_servers else "fuzz targets"
    print(f"{what}, exec/s on one core, {args.seconds} s each from the seed corpus:")
    print(f"  {'target':<16} {'libFuzzer+ASan':>15} {'AFL++':>10}")
    failed = 0
    rates = {}
    with tempfile.TemporaryDirectory(prefix="sd-bench-fuzz-") as tmp:
        for t in targets:
            cells, notes = [], []
            for engine, fn in (("libfuzzer", libfuzzer_rate), ("afl", afl_rate)):
                try:
                    rate, note = fn(t, args.seconds, tmp)
                    rates[(t, engine)] = rate
                    cells.append(f"{rate:.0f}")
                    if note:
                        notes.append(f"{engine}: {note}")
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    failed = 1
                    cells.append("failed")
                    print(f"bench_fuzz: {e}", file=sys.stderr)
            extra = f"  ({'; '.join(notes)})" if notes else ""
            print(f"  {t.replace('real:', ''):<16} {cells[0]:>15} {cells[1]:>10}{extra}")
    # The engine's own ceiling here: its rate on a target that does almost nothing per input.
    for engine in ("libfuzzer", "afl"):
        r, top = rates.get(("example_server", engine)), rates.get(("scenario_parser", engine))
        if r is not None and top:
            print(f"  example_server on {engine}: {r:.0f} exec/s, {100 * r / top:.1f}% of the "
                  f"engine's rate on scenario_parser ({top:.0f})")
    return failed


if __name__ == "__main__":
    sys.exit(main())
