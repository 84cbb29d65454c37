"""Overhead of `sockdrill wrap` on real servers (issue 14, "Benchmark"): nginx under wrk and
redis-server under redis-benchmark, each run natively, under `sockdrill wrap` with no faults
(pure pass-through) and under wrap with every kind that has a probability at 0 (each call of a
TCP socket goes through the fault wrapper, which numbers, counts and reports it and injects
nothing), in alternating rounds: every round starts a fresh server for each
configuration in turn (the order rotated from round to round) and loads it the same way, and
the ratio wrapped/native is taken within the round. The median of the rounds' ratios is
compared with the target (>= 0.95); it is printed, never asserted. Two figures: requests/s
(wall clock, what the issue's target is about) and requests per CPU-second of the server's
processes (from /proc, before and after the load), which other work on a shared machine
disturbs far less.

Usage: /usr/bin/python3 bench/bench_wrap_servers.py [--sockdrill PATH] [--rounds N]
           [--seconds S] [--servers nginx,redis]
  N: 1..20 rounds (default 5); S: 0.5..60 s of load per configuration and round (default 3;
  wrk takes whole seconds, at least 1)
Exit: 0 when every figure was measured, 1 when a run failed, 2 on bad usage or a missing
program (the Debian packages: nginx, wrk, redis-server, redis-tools; ci/deps installs them)."""
import argparse
import os
import pathlib
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
from sockdrill.core import free_port  # noqa: E402

HOST = "127.0.0.1"
TARGET = 0.95
START_TIMEOUT = 10.0
# every fault kind that has a probability (include/sockdrill/fault.h), at 0: each call goes
# through the decisions of every kind that can touch it, and none injects
ZERO_FAULTS = ",".join(f"{k}=0" for k in (
    "eintr", "eagain", "reset", "accept-fail", "connect-fail", "epipe", "etimedout", "enobufs",
    "enomem", "emfile", "enfile", "eai-again", "eai-noname"))
SEARCH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


def which(prog):
    return shutil.which(prog, path=SEARCH)


def nginx_argv(port, tmp):
    www = os.path.join(tmp, "www")
    os.makedirs(www, exist_ok=True)
    with open(os.path.join(www, "index.html"), "wb") as f:
        f.write(b"x" * 612)  # the size of nginx's own welcome page
    temps = " ".join(f"{k}_temp_path {tmp}/{k};" for k in
                     ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        # one worker: wrk takes the machine's other core
        f.write(f"daemon off;\nuser root;\nworker_processes 1;\npid {tmp}/nginx.pid;\n"
                f"error_log stderr error;\nevents {{ worker_connections 256; }}\n"
                f"http {{ access_log off; {temps}\n"
                f"  server {{ listen {HOST}:{port}; root {www}; }} }}\n")
    return [which("nginx"), "-p", f"{tmp}/", "-c", conf, "-e", "stderr"]


def redis_argv(port, tmp):
    return [which("redis-server"), "--port", str(port), "--bind", HOST, "--save", "",
            "--appendonly", "no", "--dir", tmp, "--daemonize", "no", "--loglevel", "warning"]


def wrk_load(port, seconds):
    """{"GET": requests/s} of wrk, 1 thread and 16 connections, on a small static page."""
    r = subprocess.run([which("wrk"), "-t1", "-c16", f"-d{max(1, round(seconds))}s",
                        f"http://{HOST}:{port}/index.html"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=seconds + 30)
    m = re.search(r"^Requests/sec:\s+([0-9.]+)", r.stdout, re.M)
    n = re.search(r"^\s*(\d+) requests in", r.stdout, re.M)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: .*", r.stdout)
    if r.returncode != 0 or not m or not n or errors:
        raise RuntimeError(f"wrk exited {r.returncode}: {(r.stdout + r.stderr)[-300:]}")
    return {"GET": float(m.group(1))}, int(n.group(1))


def redis_load(port, seconds):
    """{"SET": rps, "GET": rps} of redis-benchmark, 20 connections, sized to about `seconds`
    in all (at ~50,000 requests/s natively on this kind of machine)."""
    n = max(2000, int(seconds * 25000))
    r = subprocess.run([which("redis-benchmark"), "-h", HOST, "-p", str(port), "--csv",
                        "-t", "set,get", "-n", str(n), "-P", "1", "-c", "20"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=seconds * 20 + 60)
    found = {m.group(1): float(m.group(2))
             for m in re.finditer(r'^"(SET|GET)","([0-9.]+)"', r.stdout, re.M)}
    if r.returncode != 0 or set(found) != {"SET", "GET"}:
        raise RuntimeError(f"redis-benchmark exited {r.returncode}: "
                           f"{(r.stderr or r.stdout)[-300:]}")
    return found, 2 * n


SERVERS = {"nginx": (nginx_argv, wrk_load, ("nginx", "wrk")),
           "redis": (redis_argv, redis_load, ("redis-server", "redis-benchmark"))}


def start(prefix, argv_for, tmp):
    port = free_port(HOST)
    argv = prefix + argv_for(port, tmp)
    out = open(os.path.join(tmp, "server.out"), "ab")
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                            cwd=tmp)
    out.close()
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{argv[len(prefix)]} exited with status {proc.returncode} at start")
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    stop(proc)
    raise RuntimeError(f"{argv[len(prefix)]} did not accept connections within {START_TIMEOUT:g} s")


TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu(pid):
    """CPU seconds (user + system) of `pid` and its living descendants (nginx's worker), from
    /proc: what the server spent, whatever else runs on the machine."""
    stats = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                stats[int(d)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
            except (OSError, IndexError, ValueError):
                continue
    tree, grew = {pid}, True
    while grew:
        grew = False
        for p, (ppid, _) in stats.items():
            if ppid in tree and p not in tree:
                tree.add(p)
                grew = True
    return sum(stats[p][1] for p in tree if p in stats) / TICK


def stop(proc):
    """SIGTERM to the pid we started, a bounded wait, then SIGKILL."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def main():
    ap = argparse.ArgumentParser(prog="bench_wrap_servers.py",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--sockdrill", default=str(ROOT / "build" / "default" / "sockdrill"),
                    help="the sockdrill binary (libsockdrill_preload.so beside it)")
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds, 1..20")
    ap.add_argument("--seconds", type=float, default=3.0,
                    help="load per configuration and round, 0.5..60 s")
    ap.add_argument("--servers", default="nginx,redis", help="a comma list of nginx, redis")
    def usage(message):  # one line, exit 2
        print(f"bench_wrap_servers: {message}", file=sys.stderr)
        sys.exit(2)
    ap.error = usage
    args = ap.parse_args()
    if not 1 <= args.rounds <= 20:
        ap.error("--rounds must be 1..20")
    if not 0.5 <= args.seconds <= 60:
        ap.error("--seconds must be 0.5..60")
    names = [n for n in args.servers.split(",") if n]
    bad = [n for n in names if n not in SERVERS]
    if bad or not names:
        ap.error(f"--servers: unknown server {','.join(bad) or '(none)'} (nginx, redis)")
    missing = sorted({p for n in names for p in SERVERS[n][2] if not which(p)})
    if missing:
        print(f"bench_wrap_servers: {', '.join(missing)} not found (Debian packages nginx, wrk, "
              f"redis-server, redis-tools: ci/deps bench installs them)", file=sys.stderr)
        return 2
    args.sockdrill = os.path.abspath(args.sockdrill)
    if not os.access(args.sockdrill, os.X_OK):
        print(f"bench_wrap_servers: {args.sockdrill} is not an executable sockdrill binary "
              f"(--sockdrill)", file=sys.stderr)
        return 2

    wrap = [args.sockdrill, "wrap"]
    configs = [("native", []), ("wrap", wrap + ["--"]),
               ("wrap p=0", wrap + ["--faults", ZERO_FAULTS, "--"])]
    width = max(len(c) for c, _ in configs) + 1
    print(f"sockdrill wrap overhead: {args.rounds} alternating rounds, {args.seconds:g} s of load "
          f"per configuration and round")
    print("  native: the server alone; wrap: under `sockdrill wrap` without --faults;")
    print(f"  wrap p=0: under `sockdrill wrap --faults {ZERO_FAULTS}`")
    print("  nginx: wrk -t1 -c16 on a 612-byte page, one worker; redis: redis-benchmark "
          "-t set,get -P 1 -c 20")
    failed = 0
    summary = []
    with tempfile.TemporaryDirectory(prefix="sockdrill-bench-wrap-") as tmp:
        for name in names:
            argv_for, load, _ = SERVERS[name]
            ratios = {}  # (config, test) -> [ratio of each round]
            for rnd in range(args.rounds):
                order = configs[rnd % len(configs):] + configs[:rnd % len(configs)]
                got = {}
                for cname, prefix in order:
                    d = tempfile.mkdtemp(dir=tmp)
                    try:
                        proc, port = start(prefix, argv_for, d)
                    except RuntimeError as e:
                        print(f"  {name} round {rnd + 1} {cname}: {e}")
                        failed += 1
                        continue
                    try:
                        cpu0 = tree_cpu(proc.pid)
                        got[cname], requests = load(port, args.seconds)
                        cpu = tree_cpu(proc.pid) - cpu0
                        # requests per CPU-second of the server: what wrap costs the server
                        # itself, far less sensitive to other load than the wall-clock rate
                        got[cname]["req/cpu-s"] = requests / cpu if cpu > 0 else 0.0
                    except (RuntimeError, subprocess.TimeoutExpired) as e:
                        print(f"  {name} round {rnd + 1} {cname}: {e}")
                        failed += 1
                    finally:
                        stop(proc)
                for cname, _ in configs:
                    if cname in got:
                        print(f"  {name} round {rnd + 1} {cname + ':':<{width}} " +
                              "  ".join(f"{t} {v:>9.0f}" + (" req/s" if t != "req/cpu-s" else "")
                                  for t, v in got[cname].items()))
                if "native" not in got:
                    continue
                for cname, _ in configs[1:]:
                    for t, v in got.get(cname, {}).items():
                        if got["native"][t] > 0 and v > 0:
                            ratios.setdefault((cname, t), []).append(v / got["native"][t])
            for (cname, t), rs in ratios.items():
                med = statistics.median(rs)
                verdict = "meets target" if med >= TARGET else "MISSES target"
                summary.append(f"ratio {name} {cname}/native {t}: {med:.3f} (median of "
                               f"{len(rs)} rounds, {min(rs):.3f}..{max(rs):.3f}; target >= "
                               f"{TARGET}: {verdict})")
    for line in summary:
        print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
