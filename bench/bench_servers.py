"""Issue 13's benchmark: each real server of servers/ on every route, the same inputs, one run.

Routes (bench/README.md says what each favours or omits):
  in-process, uninstrumented   build/real-servers/plain/bin/fuzz_NAME (ci/real-servers
                               --engine plain: clang -O2, no sanitizer, no coverage,
                               bench/run_inputs.c as main), fresh and persistent
  in-process under libFuzzer   build/real-servers/libfuzzer/bin/fuzz_NAME (ASan+UBSan, coverage)
                               with -runs=R over the input files, fresh and persistent
  in-process under AFL++       build/real-servers/afl/bin/fuzz_NAME (afl-clang-fast) under
                               afl-fuzz from the same inputs as seeds (its forkserver,
                               persistent loop, shared-memory input): its own execs_per_sec on
                               what it mutates from them, fresh and persistent
  native                       Debian's own binary of the server, a process per input forked
                               by an LD_PRELOAD forkserver, clients over real 127.0.0.1
                               (build/default/bench_native_NAME, bench/bench_native.c)
Fresh: a fresh server per input (the driver's default); persistent: SOCKDRILL_PERSISTENT=1.

The inputs are servers/NAME/seeds (its messages one by one, and its dialogs, plain and with
faults). Each route runs about --seconds on them, whole rounds over the inputs (AFL++: on its
mutations of them, for --seconds rounded, at least 1). Prints a
table of inputs/s (wall) and inputs per CPU-second (every process of the route), then the
ratios against the native route and issue 13's goals: persistent uninstrumented >= 10x the
native route and >= 20,000 inputs/s per core on the fastest server, fresh >= 3x. Never asserts
a figure.

Usage: /usr/bin/python3 bench/bench_servers.py [--seconds S] [--repeat N] [--servers a,b]
         [--routes plain,libfuzzer,afl,native] [--wait-scale X]
  --seconds S      per route and server, 0.1..600 (default 5)
  --repeat N       each route N times, 1..5, keeping its best (least disturbed) run (default 1)
  --servers        names of servers/ (default: every one with a `package` file)
  --routes         which routes (default all four; the in-process ones run fresh and persistent)
  --wait-scale X   the native route's real waits as a share of the sim's virtual ones,
                   0.01..1 (default 0.05; bench/bench_native.c)
Exit: 0 when every figure was measured, 1 when a route failed, 2 on bad usage or a missing
build or binary (one line on stderr naming it)."""
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
BUILD = ROOT / "build"
ROUTES = ("plain", "libfuzzer", "afl", "native")
# Debian's binaries (ci/deps bench installs them).
NATIVE = {"mosquitto": "/usr/sbin/mosquitto", "lighttpd": "/usr/sbin/lighttpd",
          "nginx": "/usr/sbin/nginx", "tinyproxy": "/usr/bin/tinyproxy"}
GOAL_PERSISTENT, GOAL_FRESH, GOAL_RATE = 10.0, 3.0, 20000.0


class RouteError(Exception):
    pass


def run(argv, env=None, timeout=600, cwd=None):
    """Runs argv; (exit status, stdout+stderr text, wall s, CPU s of it and its children)."""
    t0 = time.monotonic()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, env=env, cwd=cwd)
        deadline = t0 + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                proc.returncode = -9
                raise RouteError(f"{argv[0]}: still running after {timeout} s")
            time.sleep(0.01)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - t0
        out.seek(0)
        text = out.read().decode(errors="replace")
    return proc.returncode, text, wall, usage.ru_utime + usage.ru_stime


# Where the servers' files go (config, pid files, docroots; TMPDIR of every route): a tmpfs
# when there is one, so that no route waits on the disk's journal (nginx truncates its pid
# file at every start, which took milliseconds on the disk while other work wrote to it).
SCRATCH = {"dir": None}


def env_with(persistent, **extra):
    env = dict(os.environ, SOCKDRILL_PERSISTENT="1" if persistent else "0", **extra)
    if SCRATCH["dir"]:
        env["TMPDIR"] = SCRATCH["dir"]
    env.pop("SOCKDRILL_TRACE", None)
    env.pop("SOCKDRILL_TRANSCRIPT", None)
    return env


def starts_of(text):
    """The driver's persistent-mode summary: how many times the server started."""
    m = re.search(r"persistent mode: (\d+) inputs, the server started (\d+) time", text)
    return int(m.group(2)) if m else None


def plain_route(name, inputs, seconds, persistent, _scale):
    binary = BUILD / "real-servers" / "plain" / "bin" / f"fuzz_{name}"
    rc, text, _, cpu = run([str(binary), "--seconds", str(seconds), *map(str, inputs)],
                           env=env_with(persistent))
    m = re.search(r"^inputs: (\d+) in ([0-9.]+) s, [0-9.]+ inputs/s, cpu ([0-9.]+) s", text, re.M)
    if rc != 0 or not m:
        raise RouteError(f"{binary.name} (plain): exit {rc}: {last_line(text)}")
    n, wall, cpu = int(m.group(1)), float(m.group(2)), float(m.group(3))
    return n, wall, cpu, starts_of(text)


def libfuzzer_route(name, inputs, seconds, persistent, _scale):
    binary = BUILD / "real-servers" / "libfuzzer" / "bin" / f"fuzz_{name}"

    # -detect_leaks=0: with it on, libFuzzer runs an input that ends with more mallocs than
    # frees a second time and then a full leak check, for its first 1000 such inputs; a
    # persistent server's inputs all do (the sim keeps every actor it spawned). A campaign
    # pays that at its start only; these runs would pay it throughout.
    def once(runs):
        rc, text, _, cpu = run([str(binary), "-detect_leaks=0", f"-runs={runs}",
                                *map(str, inputs)], env=env_with(persistent))
        ms = [int(x) for x in re.findall(r"^Executed .* in (\d+) ms$", text, re.M)]
        if rc != 0 or len(ms) != len(inputs):
            raise RouteError(f"{binary.name} (libFuzzer): exit {rc}: {last_line(text)}")
        return sum(ms) / 1000.0, cpu, text

    # One round to learn the pace, then as many runs of each input as fill the time.
    first, _, _ = once(1)
    runs = max(1, min(100000, int(seconds / max(first, 1e-3))))
    wall, cpu, text = once(runs)
    return runs * len(inputs), wall, cpu, starts_of(text)


def afl_route(name, inputs, seconds, persistent, _scale):
    """afl-fuzz for about `seconds` from the seeds: its own execs_per_sec (fuzzer_stats), on the
    inputs it mutates from them. AFL++ cannot run a fixed list of inputs at its own pace:
    afl-showmap -i can, but writes a map file per input, which measured its rate 2-4x lower."""
    binary = BUILD / "real-servers" / "afl" / "bin" / f"fuzz_{name}"
    env = env_with(persistent, AFL_SKIP_CPUFREQ="1", AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES="1",
                   AFL_NO_UI="1", AFL_NO_AFFINITY="1")
    secs = max(1, round(seconds))
    with tempfile.TemporaryDirectory(prefix="sd-bench-afl-") as tmp:
        seeds, out = pathlib.Path(tmp) / "seeds", pathlib.Path(tmp) / "out"
        seeds.mkdir()
        for f in inputs:
            shutil.copyfile(f, seeds / f.name)
        rc, text, _, _ = run(["afl-fuzz", "-V", str(secs), "-i", str(seeds), "-o", str(out),
                              "--", str(binary)], env=env, timeout=secs + 300)
        fields = {}
        stats = out / "default" / "fuzzer_stats"
        for line in (stats.read_text().splitlines() if stats.exists() else []):
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip()] = value.strip()
        if "execs_per_sec" not in fields or "execs_done" not in fields:
            raise RouteError(f"afl-fuzz {binary.name}: no fuzzer_stats (exit {rc}): "
                             f"{last_line(text)}")
    rate = float(fields["execs_per_sec"])
    n = int(fields["execs_done"])
    # The target's CPU time is not counted: afl-fuzz does not reap its forkserver's children
    # for us to see.
    return n, n / rate if rate > 0 else float("inf"), None, None


def native_route(name, inputs, seconds, _persistent, scale):
    binary = BUILD / "default" / f"bench_native_{name}"
    env = env_with(False, SD_BENCH_SERVER=NATIVE[name],
                   SD_BENCH_SHIM=str(BUILD / "default" / "libsd_bench_forkserver.so"),
                   SD_BENCH_WAIT_SCALE=str(scale))
    rc, text, _, cpu = run([str(binary), "--seconds", str(seconds), *map(str, inputs)], env=env)
    m = re.search(r"^inputs: (\d+) in ([0-9.]+) s", text, re.M)
    summary = re.search(r"^native: .*$", text, re.M)
    if rc != 0 or not m or not summary:
        raise RouteError(f"{binary.name}: exit {rc}: {last_line(text)}")
    # CPU: the client process, the forkserver and every server it forked (all reaped).
    return int(m.group(1)), float(m.group(2)), cpu, summary.group(0)


def last_line(text):
    lines = [x for x in text.strip().splitlines() if x.strip()]
    return lines[-1] if lines else "(no output)"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--servers", default="")
    ap.add_argument("--routes", default=",".join(ROUTES))
    ap.add_argument("--wait-scale", type=float, default=0.05)
    args = ap.parse_args()
    known = sorted(p.parent.name for p in (ROOT / "servers").glob("*/package"))
    servers = [s for s in args.servers.split(",") if s] or known
    routes = [r for r in args.routes.split(",") if r]
    bad = ([f"unknown server {s}" for s in servers if s not in known] +
           [f"unknown route {r}" for r in routes if r not in ROUTES])
    if not 0.1 <= args.seconds <= 600:
        bad.append("--seconds: 0.1..600")
    if not 1 <= args.repeat <= 5:
        bad.append("--repeat: 1..5")
    if not 0.01 <= args.wait_scale <= 1:
        bad.append("--wait-scale: 0.01..1")
    if bad:
        print(f"bench_servers: {bad[0]}", file=sys.stderr)
        return 2
    need = []
    for s in servers:
        for r in routes:
            if r == "native":
                need += [(BUILD / "default" / f"bench_native_{s}", "cmake --build build/default"),
                         (pathlib.Path(NATIVE[s]), "ci/deps bench")]
            else:
                need.append((BUILD / "real-servers" / r / "bin" / f"fuzz_{s}",
                             f"ci/real-servers --build-only --engine {r}"))
    if "afl" in routes and not shutil.which("afl-fuzz"):
        need.append((pathlib.Path("afl-fuzz"), "ci/deps fuzz"))
    for path, how in need:
        if not path.exists():
            print(f"bench_servers: {path} missing: {how}", file=sys.stderr)
            return 2

    columns = []
    for r in routes:
        if r == "native":
            columns.append(("native", False, native_route))
        else:
            fn = {"plain": plain_route, "libfuzzer": libfuzzer_route, "afl": afl_route}[r]
            columns += [(f"{r} fresh", False, fn), (f"{r} persistent", True, fn)]
    titles = {"plain fresh": "plain fresh", "plain persistent": "plain pers.",
              "libfuzzer fresh": "libFuzzer fresh", "libfuzzer persistent": "libFuzzer pers.",
              "afl fresh": "AFL++ fresh", "afl persistent": "AFL++ pers.", "native": "native"}
    runs = "one run" if args.repeat == 1 else f"the best of {args.repeat} runs"
    print(f"real servers, each route about {args.seconds:g} s on the server's seeds "
          f"({runs}; inputs/s wall, and per CPU-second of all the route's processes):")
    print("  " + f"{'server':<10}" + "".join(f"{titles[c[0]]:>17}" for c in columns))
    results = {}
    notes = []
    shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix="sd-bench-servers-", dir=shm) as scratch:
        SCRATCH["dir"] = scratch
        failed = measure(servers, columns, args, results, notes)
    SCRATCH["dir"] = None
    report(servers, results, notes, titles)
    return failed


def measure(servers, columns, args, results, notes):
    failed = 0
    for s in servers:
        inputs = sorted(p for p in (ROOT / "servers" / s / "seeds").iterdir() if p.is_file())
        walls, cpus = [], []
        for col, persistent, fn in columns:
            try:
                n, wall, cpu, extra = max(
                    (fn(s, inputs, args.seconds, persistent, args.wait_scale)
                     for _ in range(args.repeat)), key=lambda m: m[0] / m[1])
                results[(s, col)] = (n / wall, n / cpu if cpu else None)
                walls.append(f"{n / wall:.0f}")
                cpus.append(f"{n / cpu:.0f}/cpu-s" if cpu else "-")
                if isinstance(extra, str):
                    notes.append(f"  {s}: {extra}")
                elif persistent and extra is not None and extra > 1:
                    notes.append(f"  {s}, {col}: the server started {extra} times in {n} inputs")
            except RouteError as e:
                failed = 1
                walls.append("failed")
                cpus.append("")
                print(f"bench_servers: {s}, {col}: {e}", file=sys.stderr)
        print("  " + f"{s + f' ({len(inputs)})':<10}" + "".join(f"{w:>17}" for w in walls))
        print("  " + f"{'':<10}" + "".join(f"{c:>17}" for c in cpus), flush=True)
    return failed


def report(servers, results, notes, titles):
    for line in notes:
        print(line)
    print(f"ratios to the native route (goals: persistent uninstrumented >= {GOAL_PERSISTENT:g}x, "
          f"fresh >= {GOAL_FRESH:g}x):")
    best = None
    for s in servers:
        nat = results.get((s, "native"))
        parts = []
        for col, goal in (("plain persistent", GOAL_PERSISTENT), ("plain fresh", GOAL_FRESH),
                          ("libfuzzer persistent", None), ("libfuzzer fresh", None),
                          ("afl persistent", None), ("afl fresh", None)):
            r = results.get((s, col))
            if not r or not nat:
                continue
            ratio = r[0] / nat[0]
            verdict = "" if goal is None else \
                f" ({'meets' if ratio >= goal else 'MISSES'} {goal:g}x)"
            parts.append(f"{titles[col]} {ratio:.1f}x{verdict}")
        if parts:
            print(f"  {s}: " + ", ".join(parts))
        r = results.get((s, "plain persistent"))
        if r and r[1] and (best is None or r[1] > best[1][1]):
            best = (s, r)
    if best:
        s, (wall, per_cpu) = best
        print(f"fastest server persistent uninstrumented: {s}, {wall:.0f} inputs/s, "
              f"{per_cpu:.0f} per CPU-second (goal >= {GOAL_RATE:.0f}/core: "
              f"{'meets' if per_cpu >= GOAL_RATE else 'MISSES'} goal"
              f"{'' if per_cpu >= GOAL_RATE else f', {GOAL_RATE / per_cpu:.1f}x short'})")


if __name__ == "__main__":
    sys.exit(main())
