"""Overhead of `sockdrill wrap` on a real server: redis-benchmark against redis-server run natively,
under `sockdrill wrap` with no faults (pure pass-through) and under wrap with every fault at
probability 0 (the decision path runs on each call but injects nothing), all measured in one run.
Each configuration is measured --runs times (interleaved, a fresh server each time) and the best
requests/s kept. Prints the figures and the ratios wrapped/native against the target >= 0.95;
it never asserts.

Usage: /usr/bin/python3 bench/bench_wrap.py [--sockdrill PATH] [--requests N] [--clients N]
                                             [--runs N]
Exit: 0 when every figure was measured, 1 when a run failed, 2 on bad usage or a missing program."""
import argparse
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
from sockdrill.core import free_port  # noqa: E402
HOST = "127.0.0.1"
TARGET = 0.95
TESTS = ("SET", "GET")
ZERO_FAULTS = "eintr=0,eagain=0,reset=0,accept-fail=0,connect-fail=0"


def start_server(prefix, tmp):
    """redis-server (under `prefix`, the wrap command or nothing); returns (proc, port)."""
    port = free_port(HOST)
    argv = prefix + [shutil.which("redis-server"), "--port", str(port), "--bind", HOST,
                     "--save", "", "--appendonly", "no", "--dir", tmp, "--daemonize", "no",
                     "--loglevel", "warning"]
    out = open(os.path.join(tmp, "redis.out"), "ab")
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                            cwd=tmp)
    out.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with status {proc.returncode} at start")
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    stop_server(proc)
    raise RuntimeError("redis-server did not accept connections within 10 s")


def stop_server(proc):
    """SIGTERM to the pid we started, a bounded wait, then SIGKILL."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def benchmark(port, requests, clients, timeout):
    """{"SET": rps, "GET": rps} from one redis-benchmark run."""
    r = subprocess.run([shutil.which("redis-benchmark"), "-h", HOST, "-p", str(port), "--csv",
                        "-t", ",".join(t.lower() for t in TESTS), "-n", str(requests), "-P", "1",
                        "-c", str(clients)],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    found = {m.group(1): float(m.group(2))
             for m in re.finditer(r'^"(SET|GET)","([0-9.]+)"', r.stdout, re.M)}
    if r.returncode != 0 or set(found) != set(TESTS):
        raise RuntimeError(f"redis-benchmark exited {r.returncode}: {(r.stderr or r.stdout)[-300:]}")
    return found


def main():
    ap = argparse.ArgumentParser(prog="bench_wrap.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sockdrill", default=str(ROOT / "build" / "default" / "sockdrill"),
                    help="the sockdrill binary (libsockdrill_preload.so beside it)")
    ap.add_argument("--requests", type=int, default=100000, help="requests per test (-n)")
    ap.add_argument("--clients", type=int, default=20, help="parallel connections (-c)")
    ap.add_argument("--runs", type=int, default=3, help="runs per configuration; best is kept")
    args = ap.parse_args()
    if args.requests < 1 or args.clients < 1 or not 1 <= args.runs <= 20:
        ap.error("--requests and --clients must be >= 1, --runs 1..20")
    missing = [p for p in ("redis-server", "redis-benchmark") if not shutil.which(p)]
    if missing:
        print(f"bench_wrap: {', '.join(missing)} not found (Debian packages redis-server, "
              f"redis-tools)", file=sys.stderr)
        return 2
    args.sockdrill = os.path.abspath(args.sockdrill)  # the servers run in a scratch directory
    if not os.access(args.sockdrill, os.X_OK):
        print(f"bench_wrap: {args.sockdrill} is not an executable sockdrill binary (--sockdrill)",
              file=sys.stderr)
        return 2

    wrap = [args.sockdrill, "wrap"]
    configs = [("native", []),
               ("wrap", wrap + ["--"]),
               ("wrap p=0", wrap + ["--faults", ZERO_FAULTS, "--"])]
    best = {name: dict.fromkeys(TESTS, 0.0) for name, _ in configs}
    # one redis-benchmark run: both tests, bounded as if they ran at only 2000 requests/s
    timeout = max(60.0, 2 * args.requests / 2000)
    print(f"workload: redis-benchmark --csv -t set,get -n {args.requests} -P 1 -c {args.clients} "
          f"against redis-server on {HOST}; best of {args.runs} runs per configuration")
    print(f"  native: redis-server alone; wrap: under `sockdrill wrap` without --faults; "
          f"wrap p=0: under `sockdrill wrap --faults {ZERO_FAULTS}`")
    failed = 0
    with tempfile.TemporaryDirectory(prefix="sockdrill-bench-wrap-") as tmp:
        for run in range(args.runs):  # interleaved, so drift hits every configuration alike
            for name, prefix in configs:
                try:
                    proc, port = start_server(prefix, tmp)
                except RuntimeError as e:
                    print(f"  run {run + 1} {name}: {e}")
                    failed += 1
                    continue
                try:
                    rps = benchmark(port, args.requests, args.clients, timeout)
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    print(f"  run {run + 1} {name}: {e}")
                    failed += 1
                    continue
                finally:
                    stop_server(proc)
                for t in TESTS:
                    best[name][t] = max(best[name][t], rps[t])
                print(f"  run {run + 1} {name + ':':<{max(len(n) for n, _ in configs) + 1}} "
                      + "  ".join(f"{t} {rps[t]:>10.0f} req/s" for t in TESTS))

    width = max(len(n) for n, _ in configs) + 1
    print("best requests/s:")
    for name, _ in configs:
        print(f"  {name + ':':<{width}} " + "  ".join(f"{t} {best[name][t]:>10.0f}" for t in TESTS))
    native = best["native"]
    for name, _ in configs[1:]:
        for t in TESTS:
            if native[t] > 0 and best[name][t] > 0:
                ratio = best[name][t] / native[t]
                verdict = "meets target" if ratio >= TARGET else "MISSES target"
                print(f"ratio {name}/native {t}: {ratio:.3f} (target >= {TARGET}: {verdict})")
            else:
                print(f"ratio {name}/native {t}: not measured")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
