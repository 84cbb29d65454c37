"""sockdrill wrap and run --faults: the fragile server found out, replays, bad input."""
import errno
import json
import os
import pathlib
import re
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import (CRASH_AFTER_RECV, ROOT, children_of, default_stop_signals, host_one_role,
                      kill_if_alive, pid_gone, start_qa_server, stop_process)

CLIENT = str(ROOT / "corpus" / "wrap" / "qa_client.sd")


def wrap(build, *args, timeout=120, cwd=ROOT):
    return subprocess.run([str(build / "sockdrill"), "wrap", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd)


def fragile(build):
    return [str(build / "sd-fragile-server"), "--port", "{port}", "--idle-seconds", "20"]


def log_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_fragile_server_passes_without_faults(build, tmp_path):
    log = tmp_path / "faults.jsonl"
    r = wrap(build, "--log", log, "--run", CLIENT, "--", *fragile(build))
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^ok   .*qa_client\.sd", r.stdout, re.M)
    assert "wrap: 0 findings" in r.stdout
    assert not log.exists() or log.read_text() == ""


def test_file_for_another_kernel_variant_is_not_a_finding(build, tmp_path):
    """--run of a file that requires the kernel variant this kernel does not have: n/a with
    the reason, the other files still run, and no finding."""
    other = "no-one-role" if host_one_role() else "one-role"
    sc = tmp_path / "other.sd"
    sc.write_text(f"requires {other}\nc: C = socket(inet) -> fd\n"
                  "c: connect(C, 127.0.0.1:$TARGET_PORT) -> 0\nc: close(C) -> 0\n")
    r = wrap(build, "--run", sc, "--run", CLIENT, "--", *fragile(build))
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(rf"^n/a  {re.escape(str(sc))}  ", r.stdout, re.M), r.stdout
    assert f"{sc}:1: not applicable: the file requires {other}" in r.stdout
    assert re.search(r"^ok   .*qa_client\.sd", r.stdout, re.M)
    assert "wrap: 0 findings" in r.stdout


def test_fragile_server_fails_under_short_reads_and_the_command_reproduces(build, tmp_path):
    log = tmp_path / "faults.jsonl"
    r = wrap(build, "--faults", "short-read=1", "--seed", "3", "--log", log, "--run", CLIENT,
             "--", *fragile(build))
    assert r.returncode == 1, r.stdout + r.stderr
    assert 'expected "Charles\' birthday is on 14 November.\\n", got "I do not know.\\n"' in r.stdout
    assert "wrap: 1 finding" in r.stdout
    lines = log_lines(log)
    assert lines and all(e["fault"] == "short-read" and e["bytes"] == 1 for e in lines)
    assert {"t", "conn", "call", "op", "fault", "bytes", "asked"} <= set(lines[0])
    command = re.search(r"^reproduce: \./sockdrill (.*)$", r.stdout, re.M).group(1)
    assert "{port}" in command  # the port is chosen afresh on each run
    argv = shlex.split(command)
    again_log = tmp_path / "again.jsonl"
    argv[argv.index("--log") + 1] = str(again_log)
    again = subprocess.run([str(build / "sockdrill"), *argv], capture_output=True, text=True,
                           timeout=120, cwd=ROOT)
    assert again.returncode == 1
    assert "wrap: 1 finding" in again.stdout
    # Same seed, same decisions, connection by connection (timestamps and pids aside).
    strip = lambda entries: [{k: v.split("/")[-1] if k == "conn" else v for k, v in e.items()
                              if k not in ("t", "pid")} for e in entries]
    assert strip(log_lines(again_log)) == strip(lines)


@pytest.mark.parametrize("spec,kinds", [
    ("short-read=1,short-write=1,level-triggered", {"short-read", "short-write"}),
    # Its sockets are non-blocking and the kernel's epoll cannot be told that a cut-short call
    # left bytes queued: without level-triggered, no such fault (docs/faults.md).
    ("short-read=1,short-write=1", set()),
], ids=["level-triggered", "edge-safe"])
def test_robust_server_passes_under_short_reads_and_writes(build, tmp_path, spec, kinds):
    log = tmp_path / "faults.jsonl"
    r = wrap(build, "--faults", spec, "--log", log, "--run", CLIENT, "--",
             build / "sd-qa-server", "--port", "{port}", "--idle-seconds", "20")
    assert r.returncode == 0, r.stdout + r.stderr
    faults = {e["fault"] for e in log_lines(log)} if log.exists() else set()
    assert faults == kinds


def test_without_run_the_exit_status_is_the_programs(build):
    r = wrap(build, "--faults", "eintr=0.5", "--", "/bin/sh", "-c", "exit 7")
    assert r.returncode == 7


def test_plain_program_untouched_by_the_preload(build, tmp_path):
    # Files and pipes are not sockets: a shell pipeline through the preload is unchanged.
    out = tmp_path / "out.txt"
    r = wrap(build, "--faults", "short-read=1,short-write=1,eintr=1,reset=1", "--", "/bin/sh",
             "-c", f"seq 1 20000 | sort -n | tail -1 > {out}")
    assert r.returncode == 0, r.stderr
    assert out.read_text() == "20000\n"


def test_duplicated_descriptors_follow_what_they_refer_to(build, tmp_path):
    # Under short-write=1: a dup of a connected socket is still that socket (short writes);
    # a file dup2'd over a socket's number is a file again (whole writes).
    prog = tmp_path / "dups.py"
    prog.write_text(
        "import os, socket, sys\n"
        "l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(1)\n"
        "c = socket.create_connection(l.getsockname()); s, _ = l.accept()\n"
        "d = os.dup2(c.fileno(), 50)\n"  # dup3 underneath (os.dup would use fcntl F_DUPFD)

        "print('dup', os.write(d, b'x' * 100))\n"
        "f = open(sys.argv[1], 'wb')\n"
        "os.dup2(f.fileno(), c.fileno())\n"
        "print('file', os.write(c.fileno(), b'y' * 100))\n")
    r = wrap(build, "--faults", "short-write=1", "--", "/usr/bin/python3", prog, tmp_path / "f.bin")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["dup 1", "file 100"]


def test_statically_linked_program_gets_a_warning(build, tmp_path):
    src = tmp_path / "hello.c"
    src.write_text('#include <stdio.h>\nint main(void){puts("static hello");return 3;}\n')
    exe = tmp_path / "hello"
    subprocess.run(["cc", "-static", "-o", str(exe), str(src)], check=True, timeout=120)
    r = wrap(build, "--faults", "short-read=1", "--", exe)
    assert r.returncode == 3
    assert r.stdout == "static hello\n"
    assert f"{exe} is statically linked: nothing can be interposed" in r.stderr


def test_server_that_never_listens_is_a_finding(build):
    r = wrap(build, "--timeout", "3", "--run", CLIENT, "--", "/bin/sh", "-c", "exit 0", "{port}")
    assert r.returncode == 1
    assert "FINDING: the server exited with status 0 before listening on 127.0.0.1:" in r.stdout


def test_server_crash_before_listening_names_its_signal(build):
    r = wrap(build, "--timeout", "3", "--run", CLIENT, "--", "/bin/sh", "-c", "kill -SEGV $$",
             "{port}")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FINDING: the server died of signal 11 (Segmentation fault) before listening on " \
        "127.0.0.1:" in r.stdout
    assert r.stdout.count("FINDING") == 1


def test_server_crash_is_a_finding(build, tmp_path):
    crasher = tmp_path / "crash.py"
    crasher.write_text(CRASH_AFTER_RECV)
    r = wrap(build, "--run", CLIENT, "--", sys.executable if os.path.exists("/usr/bin/python3") else "python3",
             crasher, "{port}")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FINDING: the server died of signal 11" in r.stdout
    assert r.stdout.count("FINDING") == 1  # one crash, one finding, however the timing falls


@pytest.mark.parametrize("args, message", [
    (["--log", "/nonexistent/d/f.jsonl", "--", "true"],
     "--log /nonexistent/d/f.jsonl: No such file or directory"),
    (["--log", "/", "--", "true"], "--log /: Is a directory"),
    (["--run", "missing.sd", "--", "true", "{port}"], "--run missing.sd: No such file or directory"),
    (["--run", "/tmp", "--", "true", "{port}"], "--run /tmp: not a regular file"),
    (["--faults", "frobnicate", "--", "true"], "faults: unknown fault 'frobnicate'"),
    (["--faults", "eintr=1.5", "--", "true"], "faults: bad value '1.5' for eintr"),
    (["--faults", "short-read=0", "--", "true"], "faults: bad value '0' for short-read"),
    (["--faults", "reset=0.5@conn=x2", "--", "true"], "faults: bad target '@conn=x2' for reset"),
    (["--faults", "epipe@op=read", "--", "true"], "faults: epipe never applies to read"),
    (["--faults", "eintr@after=1@after=2", "--", "true"], "target '@after' given twice"),
    ([], "no command given"),
    (["--", "no-such-command-sockdrill"], "no-such-command-sockdrill: command not found"),
    (["--run", CLIENT, "--", "true"], "--run needs {port} in the command"),
    (["--seed", "x", "--", "true"], "--seed expects a whole number"),
    (["--log-max", "-1", "--", "true"], "--log-max expects a whole number"),
    (["--pidfile", "p.pid", "--", "true"], "--pidfile needs --run"),
])
def test_bad_input_exits_2(build, args, message):
    r = wrap(build, *args, timeout=30)
    assert r.returncode == 2
    assert r.stderr.startswith("sockdrill wrap: ") and message in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1
    assert r.stdout == ""


def test_bad_run_file_stops_before_the_server_starts(build, tmp_path):
    # A FIFO is refused without being opened (opening it would block), a malformed file names
    # file:line:col; neither starts the command (which would leave a mark).
    fifo, bad, mark = tmp_path / "fifo.sd", tmp_path / "bad.sd", tmp_path / "started"
    os.mkfifo(fifo)
    bad.write_text("client: C = socket(inet) -> fd\nclient: frobnicate(C) -> 0\n")
    for sc, message in [(fifo, f"--run {fifo}: not a regular file"), (bad, f"{bad}:2:")]:
        r = wrap(build, "--run", sc, "--", "/bin/sh", "-c", f"touch {mark}", "{port}", timeout=30)
        assert r.returncode == 2, r.stdout + r.stderr
        assert r.stderr.startswith(f"sockdrill wrap: ") and message in r.stderr, r.stderr
        assert r.stderr.count("\n") == 1
        assert not mark.exists()


def test_server_gets_only_the_callers_descriptors(build, tmp_path):
    # The server under --run starts with the descriptors sockdrill was given, as when run
    # directly: whatever sockdrill opens itself is closed on exec.
    listing = tmp_path / "fds"
    cmd = ["/usr/bin/python3", "-c",
           "import os, sys; open(sys.argv[1], 'w').write(' '.join(sorted(os.listdir('/proc/self/fd'))))",
           str(listing)]
    direct = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert direct.returncode == 0, direct.stderr
    want = listing.read_text()
    listing.unlink()
    # The command never listens: a finding, but what matters here is what it saw.
    r = wrap(build, "--timeout", "5", "--run", CLIENT, "--", *cmd, "{port}", timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    assert listing.read_text() == want


def test_output_order_on_a_pipe(build):
    # stdout is a pipe: sockdrill's lines and the server's must come in the order they happened.
    r = wrap(build, "--run", CLIENT, "--", build / "sd-qa-server", "--port", "{port}",
             "--idle-seconds", "20")
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    order = [next((i for i, line in enumerate(lines) if line.startswith(p)), None)
             for p in ("wrap: ", "listening on ", "ok   ", "served ", "wrap: 0 findings")]
    assert None not in order and order == sorted(order), r.stdout


def test_run_with_faults_on_both_backends(build, tmp_path):
    sc = tmp_path / "f.sd"
    sc.write_text(
        "s: L = socket(inet) -> fd\ns: bind(L, 127.0.0.1:0) -> 0\ns: listen(L, 4) -> 0\n"
        "s: P = port(L)\nc: C = socket(inet) -> fd\nc: connect(C, 127.0.0.1:$P) -> 0\n"
        "s: S = accept(L) -> fd\n"
        "c: send(C, \"hello world\") -> 1..3\n"       # short writes of at most 3 bytes
        "s: recv(S, 100) -> 1..2\n")                 # short reads of at most 2
    log = tmp_path / "log.jsonl"
    r = subprocess.run([str(build / "sockdrill"), "run", "--backend", "both", "--faults",
                        "short-read=2,short-write=3", "--fault-log", str(log), str(sc)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    kinds = [e["fault"] for e in log_lines(log)]
    assert kinds.count("short-write") == 2 and kinds.count("short-read") == 2  # sim and real
    # 'set faults' in the file does the same; a failure names the faults to reproduce it.
    sc.write_text("set faults \"short-write=3\"\n" + sc.read_text().replace("-> 1..3", "-> 11"))
    r = subprocess.run([str(build / "sockdrill"), "run", str(sc)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1
    assert re.search(r"expected 11, got [123]$", r.stdout, re.M)
    r = subprocess.run([str(build / "sockdrill"), "run", "--faults", "short-write=3", str(sc)],
                       capture_output=True, text=True, timeout=60)
    assert "reproduce: ./sockdrill run --backend sim --seed 1 --faults 'short-write=3'" in r.stdout


def test_run_against_an_external_server_with_target(build):
    server, where = start_qa_server(build, "--idle-seconds", "20")
    try:
        r = subprocess.run([str(build / "sockdrill"), "run", "--backend", "real", "--target", where,
                            CLIENT], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        bad = subprocess.run([str(build / "sockdrill"), "run", "--target", "192.0.2.1:80", CLIENT],
                             capture_output=True, text=True, timeout=60)
        assert bad.returncode == 2 and "--target expects a loopback ADDR:PORT" in bad.stderr
    finally:
        stop_process(server)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("phase", ["starting", "scenarios"])
def test_signal_stops_the_server_and_cleans_up(build, tmp_path, sig, phase):
    """SIGTERM/SIGINT to `sockdrill wrap --run` reaches the server too, and sockdrill exits
    128+signal once it has ended, leaving none of its files in $TMPDIR."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    if phase == "starting":  # a command that never listens: sockdrill is waiting for it
        sc, server = CLIENT, ["/bin/sh", "-c", "exec sleep 120", "{port}"]
    else:  # a scenario blocked in recv on the server, which answers only whole lines
        sc = tmp_path / "hang.sd"
        sc.write_text("set timeout 60000\nclient: C = socket(inet) -> fd\n"
                      "client: connect(C, 127.0.0.1:$TARGET_PORT) -> 0\n"
                      "client: recv(C, 10) -> *\n")
        server = [build / "sd-qa-server", "--port", "{port}", "--idle-seconds", "120"]
    with default_stop_signals():
        p = subprocess.Popen([str(build / "sockdrill"), "wrap", "--timeout", "120", "--run", str(sc),
                              "--", *map(str, server)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=dict(os.environ, TMPDIR=str(tmp)))
    kids = []
    try:
        deadline = time.monotonic() + 30
        while not kids and time.monotonic() < deadline and p.poll() is None:
            kids = children_of(p.pid)
            time.sleep(0.05)
        assert len(kids) == 1, (kids, p.poll())
        if phase == "scenarios":  # wait (bounded) until the server listens
            out = b""  # raw reads: select() cannot see what a text wrapper has buffered
            while b"listening on" not in out and time.monotonic() < deadline:
                if select.select([p.stdout], [], [], 1)[0]:
                    chunk = os.read(p.stdout.fileno(), 4096)
                    if not chunk:
                        break
                    out += chunk
            assert b"listening on" in out, out
        assert [f.name for f in tmp.iterdir() if f.name.startswith("sockdrill-wrap-")]
        p.send_signal(sig)
        _, err = p.communicate(timeout=60)
        assert p.returncode == 128 + sig, (p.returncode, err)
        assert pid_gone(kids[0]), "the server is still running"
        assert list(tmp.iterdir()) == []
        assert err.endswith(f"sockdrill wrap: stopped by {sig.name}; {server[0]} was stopped too\n"), err
    except BaseException:  # what this test started must not outlive it
        for pid in [*kids, p.pid]:
            kill_if_alive(pid)
        p.communicate(timeout=30)
        raise


PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "python3"
# A connected pair on loopback, blocking: l listens, c the client, s the accepted end.
PAIR = ("import os, signal, socket, sys\n"
        "l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(4)\n"
        "c = socket.create_connection(l.getsockname()); s, _ = l.accept()\n")


def transfer(n):
    """Program text: c sends n bytes, s reads them back (blocking), EINTR retried by Python."""
    return (f"c.sendall(b'x' * {n})\n"
            f"got = b''\n"
            f"while len(got) < {n}:\n"
            f"    got += s.recv({n})\n"
            f"print('got', len(got))\n")


def summary_pids(stderr):
    """{pid: 'the rest of its summary line'} from wrap's end-of-run summary."""
    return {int(m.group(1)): m.group(2) for m in re.finditer(r"^  pid (\d+)[^:]*: (.*)$", stderr,
                                                               re.M)}


def test_log_lines_carry_the_pid_and_forked_workers_ids_differ(build, tmp_path):
    # Two forked workers accept one connection each (each numbers it a1 in its own process):
    # with the pid in the id, the (connection, call) pairs in the shared log are all distinct,
    # a socket that never connected is "s1", not "?0", and the same seed replays the same
    # decisions whatever the pids.
    prog = tmp_path / "workers.py"
    prog.write_text(
        "import os, socket\n"
        "l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(4)\n"
        "kids = []\n"
        "for w in range(2):\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        a, _ = l.accept(); got = b''\n"
        "        while len(got) < 20:\n"
        "            got += a.recv(20 - len(got))\n"
        "        os._exit(0 if got == b'y' * 20 else 1)\n"
        "    kids.append(pid)\n"
        "for w in range(2):\n"
        "    socket.create_connection(l.getsockname()).sendall(b'y' * 20)\n"
        "u = socket.socket()\n"
        "try:\n    u.recv(10)\nexcept OSError:\n    pass\n"
        "print(sorted(os.waitpid(k, 0)[1] for k in kids), os.getpid(), *kids)\n")
    runs = []
    for i in range(2):
        log = tmp_path / f"run{i}.jsonl"
        r = wrap(build, "--faults", "short-read=1", "--seed", "5", "--log", log, "--", PY, prog)
        assert r.returncode == 0, (r.stdout, r.stderr)
        statuses, parent, *kids = r.stdout.split("] ")[1].split(), None, None
        assert r.stdout.startswith("[0, 0] "), r.stdout
        parent, kids = int(statuses[0]), [int(k) for k in statuses[1:]]
        lines = log_lines(log)
        assert all(isinstance(x["pid"], int) for x in lines)
        pairs = [(x["conn"], x["call"]) for x in lines]
        assert len(pairs) == len(set(pairs)), pairs
        assert {x["conn"] for x in lines if x["pid"] in kids} == {f"{k}/a1" for k in kids}
        assert f"{parent}/s1" in {x["conn"] for x in lines}
        assert not any("?" in x["conn"] for x in lines)
        # the summary has each process, the workers with their parent
        pids = summary_pids(r.stderr)
        assert set(kids) <= set(pids) and parent in pids, r.stderr
        runs.append(sorted((x["conn"].split("/")[1], x["call"], x["op"], x["fault"], x["bytes"],
                            x["asked"]) for x in lines))
    assert runs[0] == runs[1]


def test_without_run_a_summary_then_the_programs_status(build, tmp_path):
    # wrap waits for the program, prints faults by pid, kind and op on stderr, and exits with
    # its status; the totals agree with the log; --quiet prints nothing of it.
    prog, log = tmp_path / "p.py", tmp_path / "faults.jsonl"
    prog.write_text(PAIR + transfer(300) + "sys.exit(3)\n")
    r = wrap(build, "--faults", "short-read=1,eintr=0.3", "--log", log, "--", PY, prog)
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert r.stdout == "got 300\n"
    lines = log_lines(log)
    (pid, mine), = summary_pids(r.stderr).items()
    assert all(x["pid"] == pid for x in lines)
    counts = {(k, o): int(n) for k, o, n in re.findall(r"([a-z-]+) (read|write|accept|connect) "
                                                        r"(\d+)", mine.split(";")[0])}
    want = {}
    for x in lines:
        key = (x["fault"], {"recv": "read", "send": "write"}.get(x["op"], x["op"]))
        want[key] = want.get(key, 0) + 1
    assert counts == want, (mine, want)
    assert f"sockdrill wrap: {len(lines)} faults in 1 process\n" in r.stderr
    assert "warning" not in r.stderr, r.stderr
    q = wrap(build, "--quiet", "--faults", "short-read=1", "--", PY, prog)
    assert q.returncode == 3 and q.stderr == "", q.stderr


def test_without_run_a_signal_ends_wrap_as_it_ended_the_program(build, tmp_path):
    prog = tmp_path / "p.py"
    prog.write_text("import os, signal\nos.kill(os.getpid(), signal.SIGUSR1)\n")
    r = wrap(build, "--faults", "short-read=1", "--", PY, prog)
    assert r.returncode == 128 + signal.SIGUSR1, (r.returncode, r.stderr)


def test_summary_warns_when_a_fault_could_never_fire(build, tmp_path):
    # Only a non-blocking accept: eintr (blocking calls only) could never fire, nor eagain on
    # the kernel's sockets without level-triggered; and no fault fired at all.
    prog = tmp_path / "p.py"
    prog.write_text("import socket\n"
                    "l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(1)\n"
                    "l.setblocking(False)\n"
                    "try:\n    l.accept()\nexcept BlockingIOError:\n    print('none yet')\n")
    r = wrap(build, "--faults", "eintr=1,eagain=1", "--", PY, prog)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "none yet\n"
    warnings = [x for x in r.stderr.splitlines() if "warning" in x]
    assert len(warnings) == 3, r.stderr
    assert "eintr could never fire: the program made no blocking socket call" in warnings[0]
    assert "eagain could never fire: on the kernel's sockets it is injected only with " \
        "level-triggered" in warnings[1]
    assert "no fault was injected although faults were asked" in warnings[2]
    # a program with no TCP socket at all says so
    r = wrap(build, "--faults", "short-read=1", "--", "/bin/true")
    assert r.returncode == 0
    assert "the preload saw no TCP socket of the program's own" in r.stderr, r.stderr


def test_summary_counts_an_image_execd_as_another_user(build):
    # setpriv drops to nobody, then execs the program: the new image maps the counts file
    # again, as nobody, by the name in its environment. wrap makes it so that it can (a file
    # of mode 0666 in a directory of its own, 0711), or the summary said "0 faults" and
    # warned that short-read could never fire, whatever was injected.
    if os.geteuid() != 0:
        pytest.skip("changing user needs root")
    tmp = tempfile.mkdtemp(prefix="sd-stats-")  # wrap's $TMPDIR, which nobody can reach
    # The preload as nobody loads it: a copy it can read (the checkout may sit below /root,
    # mode 0700, where the loader would skip it without a word: no fault at all).
    lib_dir = tempfile.mkdtemp(prefix="sd-preload-")
    try:
        os.chmod(tmp, 0o755)
        os.chmod(lib_dir, 0o755)
        lib = pathlib.Path(lib_dir) / "libsockdrill_preload.so"
        shutil.copyfile(build / "libsockdrill_preload.so", lib)
        os.chmod(lib, 0o755)
        r = subprocess.run([str(build / "sockdrill"), "wrap", "--faults", "short-read=1", "--",
                            "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--",
                            PY, "-c", PAIR + transfer(300)], capture_output=True, text=True,
                           timeout=120, cwd="/",
                           env=dict(os.environ, TMPDIR=tmp, SOCKDRILL_PRELOAD=str(lib)))
        left = os.listdir(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(lib_dir, ignore_errors=True)
    assert r.returncode == 0 and r.stdout == "got 300\n", (r.stdout, r.stderr)
    (pid, mine), = summary_pids(r.stderr).items()
    assert re.match(r"short-read read \d+; calls read \d+", mine), r.stderr
    assert re.search(r"^sockdrill wrap: [1-9]\d* faults? in 1 process$", r.stderr, re.M), r.stderr
    assert "warning" not in r.stderr, r.stderr
    assert left == [], left  # the counts file and its directory are gone


def warnings_of(stderr):
    """{kind: why} from the summary's "could never fire" warnings."""
    return dict(re.findall(r"^sockdrill wrap: warning: ([a-z-]+) could never fire: (.*)$", stderr,
                           re.M))


def test_summary_warns_for_every_kind_of_the_spec_by_its_ops(build, tmp_path):
    # A program that never writes to a socket nor resolves a name: epipe, reset aimed at
    # writes and eai-noname could never fire; latency (reads) and slow-close (close) did, and
    # are not warned about.
    prog = tmp_path / "p.py"
    prog.write_text("import socket\n"
                    "l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(1)\n"
                    "c = socket.socket(); c.connect(l.getsockname()); s, _ = l.accept()\n"
                    "c.close()\n"
                    "print(s.recv(10))\n")
    r = wrap(build, "--faults", "epipe=1,reset=1@op=write,eai-noname=1,latency=1,slow-close=1",
             "--", PY, "-S", prog)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "b''\n"
    (pid, mine), = summary_pids(r.stderr).items()
    assert "latency read 1" in mine and "slow-close close" in mine, r.stderr
    assert warnings_of(r.stderr) == {
        "reset": "the program made no write call (what @op= aims it at)",
        "epipe": "the program made no write call",
        "eai-noname": "the program made no getaddrinfo call",
    }, r.stderr
    # in the fault core's order of kinds, and nothing more
    assert [x.split(":")[2].split()[0] for x in r.stderr.splitlines() if "warning" in x] == \
        ["reset", "epipe", "eai-noname"], r.stderr


def test_summary_warns_when_op_aims_a_kind_at_calls_never_made(build):
    # The fragile server makes no epoll: emfile aimed at epoll_create could never fire, though
    # its socket and accept calls could have had it; latency fired, so no warning for it.
    r = wrap(build, "--faults", "emfile=1@op=epoll,latency=1", "--run", CLIENT, "--",
             *fragile(build))
    assert r.returncode == 0, r.stdout + r.stderr
    (pid, mine), = summary_pids(r.stderr).items()
    assert re.search(r"accept [1-9]", mine) and "epoll_create" not in mine, r.stderr
    assert warnings_of(r.stderr) == {
        "emfile": "the program made no epoll_create call (what @op= aims it at)"}, r.stderr
    # not aimed: its accept calls qualify, and it fires there
    r = wrap(build, "--faults", "emfile=1@op=accept@for=1", "--run", CLIENT, "--",
             *fragile(build))
    assert "emfile accept 1" in r.stderr and not warnings_of(r.stderr), r.stdout + r.stderr


# Targets that keep a kind from ever firing against the fragile server and its three clients
# (corpus/wrap/qa_client.sd: a listener l1 accepting a1..a3, each read and answered): the
# warning names the target and what the run had instead (N: a count the run's calls set).
TARGET_NEVER = [
    ("delay=1@conn=a9", "delay", r"@conn=a9 names a connection the program never had \(its "
     r"processes accepted 3 at most\)"),
    ("delay=1@conn=c1", "delay", r"@conn=c1 names a connection the program never had \(it "
     r"connected none\)"),
    ("latency=1@after=1000", "latency", r"@after=1000: no connection had more than 1000 calls "
     r"\(the most was (\d+)\)"),
    ("delay=1@conn=a2@after=500", "delay", r"@after=500: a2 never had more than 500 calls \(it "
     r"had (\d+)\)"),
    ("emfile=1@op=socket@after=5", "emfile", r"@after=5: no process made more than 5 socket "
     r"calls \(the most was (\d+)\)"),
    ("delay=1@window=600s-700s", "delay", r"@window= begins 600 s after the start, and the run "
     r"lasted [0-9.e+-]+ s"),
    ("delay=1@op=connect", "delay", r"the program made no connect call \(what @op= aims it "
     r"at\)"),
]


@pytest.mark.parametrize("spec,kind,why", TARGET_NEVER, ids=[t[0] for t in TARGET_NEVER])
def test_summary_warns_when_a_target_keeps_a_kind_from_firing(build, spec, kind, why):
    r = wrap(build, "--faults", spec, "--run", CLIENT, "--", *fragile(build))
    assert r.returncode == 0, r.stdout + r.stderr
    warned = warnings_of(r.stderr)
    assert list(warned) == [kind], r.stderr
    m = re.fullmatch(why, warned[kind])
    assert m, r.stderr
    # the count it gives is the run's: some calls, not past the target
    assert not m.groups() or 1 <= int(m.group(1)) <= int(re.search(r"@after=(\d+)",
                                                                  spec).group(1)), r.stderr
    assert "no fault was injected although faults were asked" in r.stderr


@pytest.mark.parametrize("spec,kind", [
    ("delay=1@conn=a2@after=1@for=1", "delay"), ("delay=1@conn=l1@op=accept@after=2", "delay"),
    ("latency=1@after=1@window=0ms-60s", "latency"), ("emfile=1@op=socket@for=1", "emfile")])
def test_summary_is_quiet_when_a_target_matched(build, spec, kind):
    # the same kinds of targets, met by the run: the kind fires, and no warning is given
    r = wrap(build, "--faults", spec, "--run", CLIENT, "--", *fragile(build))
    assert not warnings_of(r.stderr) and "warning" not in r.stderr, r.stderr
    (pid, mine), = summary_pids(r.stderr).items()
    assert re.search(rf"(^| ){kind} [a-z_]+ [1-9]", mine), r.stderr


# A non-blocking reader that waits (select) before reading `per_wait` bytes one recv at a time.
WAITING_READER = """\
import select, socket, sys
l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(1)
c = socket.socket(); c.connect(l.getsockname()); s, _ = l.accept()
s.setblocking(False)
per_wait = int(sys.argv[1])
for i in range(3):
    c.sendall(b'x' * per_wait)
    if not select.select([s], [], [], 30)[0]:
        sys.exit('not readable')
    for j in range(per_wait):
        try:
            print(len(s.recv(1)), end=' ')
        except BlockingIOError:
            print('EAGAIN', end=' ')
print()
"""


def test_summary_says_eagain_comes_only_mid_loop(build, tmp_path):
    # One read per wait: a kernel refuses none of them (docs/faults.md, "What a kernel could
    # do"), so eagain could never fire, and the warning says why. Two reads per wait: the
    # second is mid-loop, gets it, and there is no warning.
    prog = tmp_path / "p.py"
    prog.write_text(WAITING_READER)
    r = wrap(build, "--faults", "eagain=1,level-triggered", "--", PY, "-S", prog, "1")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "1 1 1 \n"
    (pid, mine), = summary_pids(r.stderr).items()
    assert "read 0+3" in mine, r.stderr
    assert warnings_of(r.stderr) == {
        "eagain": "it comes only in the middle of a read, write or accept loop once the "
                  "program's waits are seen, and the program makes one call per wait: a "
                  "kernel refuses none of them (docs/faults.md)"}, r.stderr
    r = wrap(build, "--faults", "eagain=1,level-triggered", "--", PY, "-S", prog, "2")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "1 EAGAIN 1 EAGAIN 1 EAGAIN \n"
    assert "eagain read 3" in r.stderr and not warnings_of(r.stderr), r.stderr


def test_run_prints_the_summary_after_the_scenarios(build):
    r = wrap(build, "--faults", "short-read=1", "--seed", "3", "--run", CLIENT, "--",
             *fragile(build))
    assert r.returncode == 1, r.stdout + r.stderr
    pids = summary_pids(r.stderr)
    assert len(pids) == 1 and "short-read read" in list(pids.values())[0], r.stderr


def test_log_is_capped_and_its_last_line_counts_what_followed(build, tmp_path):
    # --log-max 4096: the fault lines stop below it, one last line says how many faults were
    # not logged, and the summary still counts them all.
    prog, log = tmp_path / "p.py", tmp_path / "faults.jsonl"
    prog.write_text(PAIR + transfer(400))
    r = wrap(build, "--faults", "short-read=1", "--log", log, "--log-max", "4096", "--", PY,
             prog)
    assert r.returncode == 0, (r.stdout, r.stderr)
    text = log.read_text()
    *faults, last = [json.loads(x) for x in text.splitlines()]
    assert len(text) - len(text.splitlines()[-1]) - 1 <= 4096
    assert all("fault" in x for x in faults) and len(faults) >= 20
    assert last["truncated"] is True and last["log_max"] == 4096
    total = int(re.search(r"sockdrill wrap: (\d+) faults in", r.stderr).group(1))
    assert total == 400  # every recv(400) is cut to one byte
    assert last["faults_not_logged"] == total - len(faults)
    assert "the log reached --log-max 4096 bytes" in r.stderr
    # 0: no cap
    log.unlink()
    r = wrap(build, "--faults", "short-read=1", "--log", log, "--log-max", "0", "--", PY, prog)
    assert r.returncode == 0 and len(log_lines(log)) == 400


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_without_run_a_stop_signal_reaches_the_program(build, tmp_path, sig):
    # The program runs in a process group of its own: SIGINT or SIGTERM to wrap is passed on
    # to it, and wrap exits with the status that signal gave the program.
    mark = tmp_path / "pid"
    prog = tmp_path / "p.py"
    prog.write_text("import os, sys, time\n"
                    "open(sys.argv[1], 'w').write(str(os.getpid()))\n"
                    "time.sleep(120)\n")
    with default_stop_signals():  # as under a terminal, however the suite was started
        p = subprocess.Popen([str(build / "sockdrill"), "wrap", "--faults", "short-read=1", "--",
                              PY, str(prog), str(mark)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    child = None
    try:
        for _ in range(600):  # 30 s at most for the program to start
            if mark.exists() and mark.read_text():
                child = int(mark.read_text())
                break
            time.sleep(0.05)
        assert child and child != p.pid
        assert os.getpgid(child) == child  # a group of its own
        p.send_signal(sig)
        out, err = p.communicate(timeout=60)
        assert p.returncode == 128 + sig, (p.returncode, err)
        assert pid_gone(child)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=30)
        if child:
            kill_if_alive(child)


def test_without_run_wrap_killed_outright_takes_the_program_along(build, tmp_path):
    # SIGKILL cannot be passed on: the program must not outlive wrap, as it did not when wrap
    # exec'd it.
    mark = tmp_path / "pid"
    prog = tmp_path / "p.py"
    prog.write_text("import os, sys, time\n"
                    "open(sys.argv[1], 'w').write(str(os.getpid()))\n"
                    "time.sleep(120)\n")
    p = subprocess.Popen([str(build / "sockdrill"), "wrap", "--faults", "short-read=1", "--",
                          PY, str(prog), str(mark)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    child = None
    try:
        for _ in range(600):
            if mark.exists() and mark.read_text():
                child = int(mark.read_text())
                break
            time.sleep(0.05)
        assert child
        p.kill()
        p.wait(timeout=30)
        assert pid_gone(child)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=30)
        if child:
            kill_if_alive(child)

# A server that counts the connections it accepts and answers each with "conn N\n".
COUNTER = (
    "import socket, sys\n"
    "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(8)\n"
    "n = 0\n"
    "while True:\n"
    "    c, _ = s.accept(); n += 1\n"
    "    c.sendall(b'conn %d\\n' % n); c.close()\n")


def conn_scenario(path, *numbers):
    """A scenario whose clients, one after the other, must be the server's connection N."""
    steps = []
    for n in numbers:
        want = f"conn {n}\\n"
        steps += ["client: C = socket(inet) -> fd",
                  "client: connect(C, 127.0.0.1:$TARGET_PORT) -> 0",
                  f'client: recv(C, {len(want) - 1}, MSG_WAITALL) -> "{want}"',
                  "client: close(C) -> 0"]
    path.write_text("\n".join(steps) + "\n")
    return path


def test_readiness_is_seen_without_a_connection(build, tmp_path):
    """wrap finds the listener in /proc/net/tcp: the server's first connection is the
    scenario's (no probe it would accept and fault), numbered a1 in the log."""
    server, log = tmp_path / "counter.py", tmp_path / "faults.jsonl"
    server.write_text(COUNTER)
    sc = conn_scenario(tmp_path / "two.sd", 1, 2)
    r = wrap(build, "--faults", "short-write=1", "--log", log, "--run", sc, "--", PY, server,
             "{port}")
    assert r.returncode == 0, r.stdout + r.stderr
    conns = [e["conn"] for e in log_lines(log)]
    # the id may carry the process ("1234/a1"): the role and ordinal are what count
    roles = [re.sub(r"^.*/", "", c) for c in conns]
    assert roles[0] == "a1" and set(roles) == {"a1", "a2"}, conns


DAEMON = (
    "import os, signal, socket, sys, time\n"
    "port, pidfile, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]\n"
    "if os.fork():\n"
    "    os._exit(3 if mode == 'fail' else 0)\n"
    "os.setsid()\n"
    "if os.fork():\n"
    "    os._exit(0)\n"
    "if mode == 'helper':  # a second process of the daemon's, not listening\n"
    "    helper = os.fork()\n"
    "    if helper == 0:\n"
    "        while True: time.sleep(1)\n"
    "    # named before listening, so the test knows it however soon the run ends\n"
    "    open(pidfile + '.helper', 'w').write(str(helper))\n"
    "if mode == 'early':  # it crashes before listening\n"
    "    open(pidfile, 'w').write(str(os.getpid())); os.kill(os.getpid(), signal.SIGSEGV)\n"
    "if mode == 'fail':  # its parent failed: it never listens\n"
    "    open(pidfile, 'w').write(str(os.getpid()))\n"
    "    while True: time.sleep(1)\n"
    "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('127.0.0.1', port)); s.listen(8)\n"
    "open(pidfile + '.tmp', 'w').write(f'{os.getpid()}\\n'); os.rename(pidfile + '.tmp', pidfile)\n"
    "n = 0\n"
    "while True:\n"
    "    c, _ = s.accept(); n += 1\n"
    "    if mode == 'crash':\n"
    "        c.recv(100); os.kill(os.getpid(), signal.SIGSEGV)\n"
    "    if mode == 'hang':\n"
    "        time.sleep(120)\n"
    "    c.sendall(b'conn %d\\n' % n); c.close()\n")


def daemon_pids(pidfile):
    """The pids the daemon wrote (the server's, and its helper's when there is one)."""
    return [int(p.read_text()) for p in (pidfile, pidfile.with_name(pidfile.name + ".helper"))
            if p.exists()]


def end_daemon(pidfile):
    """What a test's daemon left alive when the test failed: stopped by the pids it wrote."""
    for pid in daemon_pids(pidfile):
        if os.path.exists(f"/proc/{pid}"):
            kill_if_alive(pid)


@pytest.mark.parametrize("with_pidfile", [False, True], ids=["found", "pidfile"])
def test_daemonizing_server_is_followed_and_stopped(build, tmp_path, with_pidfile):
    """A server that double-forks and setsid()s is run against, not reported, and gone
    (every process of it) when wrap returns; with --pidfile, the process named is the one
    followed."""
    server, pidfile = tmp_path / "daemon.py", tmp_path / "server.pid"
    server.write_text(DAEMON)
    sc = conn_scenario(tmp_path / "two.sd", 1, 2)
    extra = ["--pidfile", pidfile] if with_pidfile else []
    try:
        r = wrap(build, *extra, "--run", sc, "--", PY, server, "{port}", pidfile, "helper")
        assert r.returncode == 0, r.stdout + r.stderr
        pids = daemon_pids(pidfile)
        assert len(pids) == 2, pids
        assert f"wrap: the server daemonized: following pid {pids[0]}\n" in r.stdout
        assert "wrap: 0 findings" in r.stdout and "FINDING" not in r.stdout
        for pid in pids:  # reaped by wrap: no process, not even a zombie
            assert not os.path.exists(f"/proc/{pid}"), (pid, r.stdout)
    finally:
        end_daemon(pidfile)


def test_daemon_crash_after_listening_is_one_finding(build, tmp_path):
    server, pidfile = tmp_path / "daemon.py", tmp_path / "server.pid"
    server.write_text(DAEMON)
    sc = tmp_path / "crash.sd"
    sc.write_text("client: C = socket(inet) -> fd\n"
                  "client: connect(C, 127.0.0.1:$TARGET_PORT) -> 0\n"
                  "client: send(C, \"hi\\n\") -> 3\n"
                  "client: recv(C, 10) -> *\n"  # its end: EOF or a reset
                  "client: close(C) -> 0\n")
    try:
        r = wrap(build, "--run", sc, "--", PY, server, "{port}", pidfile, "crash")
        assert r.returncode == 1, r.stdout + r.stderr
        assert "FINDING: the server died of signal 11 (Segmentation fault)\n" in r.stdout
        assert r.stdout.count("FINDING") == 1 and "wrap: 1 finding\n" in r.stdout
        assert not os.path.exists(f"/proc/{daemon_pids(pidfile)[0]}")
    finally:
        end_daemon(pidfile)


def test_daemon_whose_parent_fails_is_a_finding_and_stopped(build, tmp_path):
    """Exiting non-zero before listening stays a finding, even with a child left running,
    and that child does not outlive wrap."""
    server, pidfile = tmp_path / "daemon.py", tmp_path / "server.pid"
    server.write_text(DAEMON)
    try:
        r = wrap(build, "--timeout", "20", "--run", CLIENT, "--", PY, server, "{port}", pidfile,
                 "fail")
        assert r.returncode == 1, r.stdout + r.stderr
        assert "FINDING: the server exited with status 3 before listening on 127.0.0.1:" \
            in r.stdout
        for pid in daemon_pids(pidfile):  # it may not have got as far as writing it
            assert not os.path.exists(f"/proc/{pid}"), pid
    finally:
        end_daemon(pidfile)


def test_stale_pidfile_is_not_followed(build, tmp_path):
    """A --pidfile naming a process that is not the server's (left from another run) is never
    taken for it: once the timeout has passed, a finding that says so."""
    pidfile = tmp_path / "stale.pid"
    pidfile.write_text(f"{os.getpid()}\n")  # this test's own process: not wrap's descendant
    server = tmp_path / "counter.py"
    server.write_text(COUNTER)
    r = wrap(build, "--timeout", "2", "--pidfile", pidfile, "--run", CLIENT, "--", PY, server,
             "{port}")
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(r"^FINDING: the server listened on 127\.0\.0\.1:\d+, but after 2 s "
                     rf"--pidfile {re.escape(str(pidfile))} still named none of its processes$",
                     r.stdout, re.M), r.stdout
    assert os.path.exists(f"/proc/{os.getpid()}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_reaches_a_followed_daemon(build, tmp_path, sig):
    """SIGTERM/SIGINT to wrap goes on to a daemon, which left wrap's process group: wrap exits
    128+signal once it has ended."""
    server, pidfile = tmp_path / "daemon.py", tmp_path / "server.pid"
    server.write_text(DAEMON)
    sc = conn_scenario(tmp_path / "one.sd", 1)
    sc.write_text("set timeout 60000\n" + sc.read_text())
    with default_stop_signals():
        p = subprocess.Popen([str(build / "sockdrill"), "wrap", "--timeout", "60", "--run", str(sc),
                              "--", PY, str(server), "{port}", str(pidfile), "hang"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, deadline = b"", time.monotonic() + 60
        while b"following pid" not in out and time.monotonic() < deadline:
            if select.select([p.stdout], [], [], 1)[0]:
                chunk = os.read(p.stdout.fileno(), 4096)
                if not chunk:
                    break
                out += chunk
        assert b"following pid" in out, out
        daemon = daemon_pids(pidfile)[0]
        p.send_signal(sig)
        _, err = p.communicate(timeout=60)
        assert p.returncode == 128 + sig, (p.returncode, err)
        assert not os.path.exists(f"/proc/{daemon}"), "the daemon is still there"
    except BaseException:
        for pid in [*daemon_pids(pidfile), p.pid]:
            kill_if_alive(pid)
        p.communicate(timeout=30)
        raise


# A parent that listens (or accepts one connection) and execs a server handed the socket.
INHERIT_PARENT = (
    "import os, socket, sys\n"
    "port, mode, child = int(sys.argv[1]), sys.argv[2], sys.argv[3]\n"
    "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('127.0.0.1', port)); s.listen(8)\n"
    "if mode != 'listener':  # inetd, sshd's re-exec: the child gets the accepted socket\n"
    "    s, _ = s.accept()\n"
    "if mode == 'inetd':  # as descriptors 0 and 1\n"
    "    os.dup2(s.fileno(), 0); os.dup2(s.fileno(), 1)\n"
    "os.set_inheritable(s.fileno(), True)\n"
    "os.execv(sys.executable, [sys.executable, child, mode, str(s.fileno())])\n")
INHERIT_CHILD = (
    "import os, socket, sys, time\n"
    "def echo(c):\n"
    "    data = b''\n"
    "    while not data.endswith(b'\\n'):\n"
    "        got = c.recv(1024)\n"
    "        if not got: break\n"
    "        data += got\n"
    "    c.sendall(data)\n"
    "if sys.argv[1] == 'inetd':\n"
    "    data = b''\n"
    "    while not data.endswith(b'\\n'):\n"
    "        got = os.read(0, 1024)\n"
    "        if not got: break\n"
    "        data += got\n"
    "    while data: data = data[os.write(1, data):]\n"
    "    os.close(0); os.close(1); os.close(int(sys.argv[2])); time.sleep(120)\n"
    "s = socket.socket(fileno=int(sys.argv[2]))\n"
    "if sys.argv[1] == 'connected':\n"
    "    echo(s); s.close(); time.sleep(120)\n"
    "while True:\n"
    "    c, _ = s.accept(); echo(c); c.close()\n")


@pytest.mark.parametrize("mode", ["listener", "connected", "inetd"])
@pytest.mark.parametrize("inherited", [True, False], ids=["inherited", "default"])
def test_inherited_sockets_get_faults_only_when_asked(build, tmp_path, mode, inherited):
    parent, child, log = tmp_path / "parent.py", tmp_path / "child.py", tmp_path / "f.jsonl"
    parent.write_text(INHERIT_PARENT)
    child.write_text(INHERIT_CHILD)
    sc = tmp_path / "echo.sd"
    sc.write_text("client: C = socket(inet) -> fd\n"
                  "client: connect(C, 127.0.0.1:$TARGET_PORT) -> 0\n"
                  "client: send(C, \"hello\\n\") -> 6\n"
                  "client: recv(C, 6, MSG_WAITALL) -> \"hello\\n\"\n"
                  "client: close(C) -> 0\n")
    flag = ["--inherited"] if inherited else []
    r = wrap(build, *flag, "--faults", "short-read=1,short-write=1", "--log", log, "--run", sc,
             "--", PY, parent, "{port}", mode, child)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = log_lines(log) if log.exists() else []
    if inherited:  # the accepted socket: a1 whether the child accepted it or was handed it,
        # and inetd's two copies of it are one connection
        assert {re.sub(r"^.*/", "", e["conn"]) for e in lines} == {"a1"}, lines
        # 1 byte at a time each way (the last byte written is a whole write, no fault)
        for kind, n in (("short-read", 6), ("short-write", 5)):
            assert [e["bytes"] for e in lines if e["fault"] == kind] == [1] * n, lines
    else:
        assert lines == []


REEXEC = str(ROOT / "tests" / "wrap" / "reexec_server.py")


def reexec_run(build, tmp_path, how, seed, run, n=6):
    """tests/wrap/reexec_server.py under wrap --inherited, reset faults: n connections in turn,
    each served by an image the listener execs (or spawns) with the accepted socket. Returns
    (what each client got, the log's lines, the listener's pid)."""
    log = tmp_path / f"{how}-{seed}-{run}.jsonl"
    p = subprocess.Popen([str(build / "sockdrill"), "wrap", "--inherited", "--seed", str(seed),
                          "--faults", "reset=0.5,delay=1", "--log", str(log), "--", PY, "-S",
                          REEXEC, str(n), how], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        ready = select.select([p.stdout], [], [], 60)[0]
        first = p.stdout.readline() if ready else ""
        assert first.startswith("listening "), (first, p.poll())
        port, got = int(first.split()[1]), []
        for i in range(n):
            with socket.create_connection(("127.0.0.1", port), timeout=30) as c:
                try:
                    c.sendall(b"hello %d\n" % i)
                    data = b""
                    while chunk := c.recv(100):
                        data += chunk
                    got.append(data.decode())
                except ConnectionResetError:
                    got.append("reset")
        _, err = p.communicate(timeout=60)
    except BaseException:
        kill_if_alive(p.pid)
        p.communicate(timeout=30)
        raise
    assert p.returncode == 0, err
    return got, log_lines(log), summary_pids(err)


@pytest.mark.parametrize("how", ["execv", "execve", "spawn"])
def test_a_connection_keeps_its_id_across_exec(build, tmp_path, how):
    """A server that re-execs itself for each connection (as sshd does): each new image goes
    on with the connection the listener numbered, its id ("LISTENER/aN") and so its decisions,
    rather than numbering it a1 afresh (when every connection got the same faults). The same
    seed and the same connections give the same ids and faults again; posix_spawn's file
    action moving the socket to another descriptor keeps it too (found by its inode)."""
    runs = []
    for run in range(2):
        got, lines, pids = reexec_run(build, tmp_path, how, 1, run)
        listener = int(next(x["conn"] for x in lines if x["op"] == "accept").split("/")[0])
        served = [x for x in lines if x["op"] in ("recv", "send")]
        by_pid = {}
        for x in served:
            by_pid.setdefault(x["pid"], set()).add(x["conn"])
        # one connection per image, each its own, all numbered by the listener in turn
        assert all(len(ids) == 1 for ids in by_pid.values()), by_pid
        ids = [next(iter(v)) for v in by_pid.values()]
        assert len(set(ids)) == len(ids) == 6 and listener not in by_pid, by_pid
        assert sorted(ids) == [f"{listener}/a{i}" for i in range(1, 7)], ids
        # so some connections are reset and others served, whole, by the same program
        assert "reset" in got and any(g.startswith("echo") for g in got), got
        assert all(g in ("reset", f"echo hello {i} conns=0\n") for i, g in enumerate(got)), got
        assert set(pids) >= {listener, *by_pid}, pids
        runs.append((got, [(x["conn"].split("/")[1], x["call"], x["op"], x["fault"])
                           for x in served]))
    assert runs[0] == runs[1]


def test_what_a_program_leaves_without_listening_is_stopped(build, tmp_path):
    """A program that exits 0 leaving a process in a session of its own that never listens:
    a finding once the timeout has passed, and that process is stopped (by pid: it left the
    program's process group) and reaped."""
    mark = tmp_path / "left.pid"
    r = wrap(build, "--timeout", "2", "--run", CLIENT, "--", "/bin/sh", "-c",
             f"setsid sleep 120 & echo $! > {mark}; exit 0", "{port}")
    left = int(mark.read_text())
    try:
        assert r.returncode == 1, r.stdout + r.stderr
        assert re.search(r"^FINDING: the server exited 0, and what it left was not listening "
                         r"after 2 s before listening on 127\.0\.0\.1:\d+$", r.stdout, re.M), r.stdout
        assert not os.path.exists(f"/proc/{left}")
    finally:
        if os.path.exists(f"/proc/{left}"):
            kill_if_alive(left)


def test_daemon_that_ignores_sigterm_is_killed_after_the_grace(build, tmp_path):
    """The end of the run stops a daemon by pid: SIGTERM, and SIGKILL once the grace (10 s)
    has passed without it ending."""
    server, pidfile = tmp_path / "daemon.py", tmp_path / "server.pid"
    server.write_text(DAEMON.replace("import os, signal, socket, sys, time\n",
                                     "import os, signal, socket, sys, time\n"
                                     "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"))
    assert "SIG_IGN" in server.read_text()
    sc = conn_scenario(tmp_path / "one.sd", 1)
    try:
        r = wrap(build, "--pidfile", pidfile, "--run", sc, "--", PY, server, "{port}", pidfile,
                 "serve")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "wrap: 0 findings" in r.stdout  # killed by us: not the server's fault
        assert not os.path.exists(f"/proc/{daemon_pids(pidfile)[0]}")
    finally:
        end_daemon(pidfile)


def test_daemon_crash_before_listening_names_its_signal(build, tmp_path):
    server, pidfile = tmp_path / "daemon.py", tmp_path / "server.pid"
    server.write_text(DAEMON)
    r = wrap(build, "--timeout", "30", "--run", CLIENT, "--", PY, server, "{port}", pidfile,
             "early")
    daemon = daemon_pids(pidfile)[0]
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"FINDING: the server exited 0, and process {daemon} it left died of signal 11 " \
        "(Segmentation fault) before listening on 127.0.0.1:" in r.stdout, r.stdout
    assert r.stdout.count("FINDING") == 1
    assert not os.path.exists(f"/proc/{daemon}")
# A program making its own connections over loopback under the preload: each line it prints
# is what one call gave (a count, or the errno's name), so a test sees which call a fault hit.
PAIRS = """\
import errno, os, signal, socket, sys
def say(what, f):
    try:
        print(what, f(), flush=True)
    except OSError as e:
        print(what, errno.errorcode[e.errno], flush=True)
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(4)
conns = []
for i in range(2):
    c = socket.create_connection(l.getsockname()); s, _ = l.accept()
    conns.append((c, s))
for i, (c, s) in enumerate(conns):
    c.sendall(b"hello")
    say(f"a{i + 1} recv", lambda: s.recv(100))
    say(f"a{i + 1} send", lambda: s.send(b"x", socket.MSG_NOSIGNAL))
say("socket", lambda: socket.socket().fileno() > 0)
say("socket", lambda: socket.socket().fileno() > 0)
if sys.argv[1:] == ["write"]:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # Python ignores it: the C default again
    os.write(conns[0][1].fileno(), b"y")
    print("still alive", flush=True)
"""


@pytest.mark.parametrize("spec, args, want, status", [
    # only the second accepted connection, its first call: a read
    ("etimedout=1@conn=a2@for=1", [],
     ["a1 recv b'hello'", "a1 send 1", "a2 recv ETIMEDOUT", "a2 send EPIPE",
      "socket True", "socket True"], 0),
    # writes only, after the first call: a1's send; under MSG_NOSIGNAL no signal
    ("epipe=1@conn=a1@op=write", [],
     ["a1 recv b'hello'", "a1 send EPIPE", "a2 recv b'hello'", "a2 send 1",
      "socket True", "socket True"], 0),
    # a plain write() gets SIGPIPE from the layer, as from the kernel
    ("epipe=1@conn=a1@op=write@after=2", ["write"],
     ["a1 recv b'hello'", "a1 send 1", "a2 recv b'hello'", "a2 send 1",
      "socket True", "socket True"], 128 + signal.SIGPIPE),
    # the 4th socket() of the program (l, two clients, then this one), transient
    ("emfile=1@op=socket@after=3@for=1", [],
     ["a1 recv b'hello'", "a1 send 1", "a2 recv b'hello'", "a2 send 1",
      "socket EMFILE", "socket True"], 0),
    ("enobufs=1@conn=a2", [],
     ["a1 recv b'hello'", "a1 send 1", "a2 recv b'hello'", "a2 send ENOBUFS",
      "socket True", "socket True"], 0),
], ids=["etimedout-conn", "epipe-nosignal", "epipe-sigpipe", "emfile-countdown", "enobufs"])
def test_targeted_error_kinds_under_the_preload(build, tmp_path, spec, args, want, status):
    prog = tmp_path / "pairs.py"
    prog.write_text(PAIRS)
    log = tmp_path / "faults.jsonl"
    r = wrap(build, "--faults", spec, "--log", log, "--", "/usr/bin/python3", prog, *args)
    assert r.stdout.splitlines() == want, r.stdout + r.stderr
    assert r.returncode == status, r.stderr  # 128 + N for a program ended by signal N
    faults = {e["fault"] for e in log_lines(log)}
    assert faults == {spec.split("=")[0]}


def test_sliced_writes_arrive_whole_under_the_preload(build, tmp_path):
    """slice under the preload on the kernel's sockets: the program's write is whole, the peer
    reads the exact bytes, and only the aimed connection's writes are sliced."""
    prog = tmp_path / "slice.py"
    prog.write_text(
        "import socket\n"
        "l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(1)\n"
        "c = socket.create_connection(l.getsockname()); s, _ = l.accept()\n"
        "data = bytes(range(256)) * 12\n"
        "print('sent', s.send(data), flush=True)\n"
        "got = b''\n"
        "while len(got) < len(data):\n"
        "    got += c.recv(65536)\n"
        "print('exact', got == data, flush=True)\n"
        "print('back', c.send(data[:1000]), len(s.recv(1000, socket.MSG_WAITALL)), flush=True)\n")
    log = tmp_path / "faults.jsonl"
    r = wrap(build, "--faults", "slice=256~64@conn=a1,bandwidth=1000@conn=a1@op=read", "--log",
             log, "--", "/usr/bin/python3", prog)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["sent 3072", "exact True", "back 1000 1000"]
    got = [(e["conn"][-2:], e["op"], e["fault"], e["bytes"]) for e in log_lines(log)]
    assert got[0] == ("a1", "send", "slice", 3072)
    assert {g[:3] for g in got[1:]} == {("a1", "recv", "bandwidth")}


def test_limit_data_under_the_preload(build, tmp_path):
    """limit-data on the kernel's sockets: after the budget the peer reads a FIN, the program
    reads the end of the stream at once even with bytes queued, and a write is EPIPE."""
    prog = tmp_path / "limit.py"
    prog.write_text(
        "import socket\n"
        "l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(1)\n"
        "c = socket.create_connection(l.getsockname()); s, _ = l.accept()\n"
        "print('sent', s.send(b'0123456789'), flush=True)\n"
        "print('peer', c.recv(100, socket.MSG_WAITALL), flush=True)\n"
        "c.sendall(b'queued')\n"
        "print('eof', s.recv(100), flush=True)\n"
        "try:\n"
        "    s.send(b'x')\n"
        "except BrokenPipeError:\n"
        "    print('EPIPE', flush=True)\n")
    log = tmp_path / "faults.jsonl"
    r = wrap(build, "--faults", "limit-data=4@conn=a1", "--log", log, "--",
             "/usr/bin/python3", prog)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["sent 4", "peer b'0123'", "eof b''", "EPIPE"]
    got = [(e["op"], e["fault"], e["bytes"]) for e in log_lines(log)]
    assert got == [("send", "limit-data", 4), ("recv", "limit-data", 0),
                   ("send", "limit-data", 0)]


def test_epoll_create_and_getaddrinfo_fail_under_the_preload(build, tmp_path):
    """emfile on epoll_create and eai-noname / eai-again on getaddrinfo reach an unmodified
    program through the preload, by the ordinal of the call, and only the calls aimed at."""
    prog = tmp_path / "calls.py"
    prog.write_text(
        "import select\n"
        "def say(what, f, errs):\n"
        "    try:\n"
        "        f(); print(what, 'ok', flush=True)\n"
        "    except errs as e:\n"
        "        print(what, e.errno, flush=True)\n"
        "for i in range(2):\n"
        "    say('epoll', select.epoll, OSError)\n"
        "import socket\n"  # after: importing it may make an epoll of its own
        "for i in range(3):\n"
        "    say('resolve', lambda: socket.getaddrinfo('127.0.0.1', 80), socket.gaierror)\n")
    log = tmp_path / "faults.jsonl"
    r = wrap(build, "--faults", "eai-noname=1@for=1,eai-again=1@after=2,emfile=1@op=epoll@after=1@for=1",
             "--log", log, "--", "/usr/bin/python3", "-S", prog)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["epoll ok", f"epoll {errno.EMFILE}",
                                     f"resolve {socket.EAI_NONAME}", "resolve ok",
                                     f"resolve {socket.EAI_AGAIN}"]
    # (epolls are counted from the program's start: -S keeps site from making one, and the
    # C library's resolver may make its own after ours, which @for=1 leaves alone)
    got = [(e["call"], e["op"], e["fault"], e["errno"]) for e in log_lines(log)]
    assert got == [(2, "epoll_create", "emfile", "EMFILE"),
                   (1, "getaddrinfo", "eai-noname", "EAI_NONAME"),
                   (3, "getaddrinfo", "eai-again", "EAI_AGAIN")]
    # the end-of-run summary counts them under their own ops
    summary = re.search(r"^  pid \d+: (.*)$", r.stderr, re.M).group(1)
    assert "emfile epoll_create 1" in summary and "eai-noname getaddrinfo 1" in summary
    assert "eai-again getaddrinfo 1" in summary and "3 faults in 1 process" in r.stderr


# ---- sanitizer reports: one list of marks (sockdrill list --sanitizer-marks) -----------------

LEAKY_SERVER = r"""
/* Listens, accepts its clients and, on SIGTERM, leaves through exit() having lost a block it
 * allocated: a LeakSanitizer report at exit, and nothing else wrong. */
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_term}; /* no SA_RESTART: accept gets EINTR */
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int one = 1, s = socket(AF_INET, SOCK_STREAM, 0);
	if (argc != 2)
		return 2;
	sigaction(SIGTERM, &sa, NULL);
	a.sin_port = htons((unsigned short)atoi(argv[1]));
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 8) < 0)
		return 2;
	char *volatile lost = malloc(4096);
	memset(lost, 1, 4096);
	lost = NULL; /* its only pointer, gone */
	while (!stop) {
		int c = accept(s, NULL, NULL);
		if (c >= 0)
			close(c);
	}
	exit(0);
}
"""

# Listens, and prints the line it is given on stderr as a sanitizer would; leaves with exit
# status 0 on SIGTERM.
MARK_SERVER = """
import signal, socket, sys
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
sys.stderr.write("==4242==" + sys.argv[2] + "\\n")
sys.stderr.flush()
while True:
    s.accept()[0].close()
"""

CONNECT_ONLY = ("c: C = socket(inet) -> fd\nc: connect(C, 127.0.0.1:$TARGET_PORT) -> 0\n"
                "c: close(C) -> 0\n")


def sanitizer_marks(build):
    r = subprocess.run([str(build / "sockdrill"), "list", "--sanitizer-marks"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def test_sanitizer_marks_name_every_sanitizer(build):
    marks = sanitizer_marks(build)
    for name in ("AddressSanitizer", "LeakSanitizer", "ThreadSanitizer", "MemorySanitizer"):
        assert any(name in m for m in marks), (name, marks)
    assert "runtime error:" in marks  # UBSan's
    assert len(set(marks)) == len(marks)


def test_leak_only_report_is_a_finding_of_wrap_run(build, tmp_path):
    """A server built with LeakSanitizer alone, which ends cleanly when stopped but leaks: the
    report at its exit is the only thing wrong, and wrap --run counts it."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if not cc:
        pytest.skip("no C compiler")
    src, exe = tmp_path / "leaky.c", tmp_path / "leaky"
    src.write_text(LEAKY_SERVER)
    subprocess.run([cc, "-fsanitize=leak", "-g", "-O0", "-o", str(exe), str(src)], check=True,
                   timeout=120)
    sc = tmp_path / "connect.sd"
    sc.write_text(CONNECT_ONLY)
    r = wrap(build, "--run", sc, "--", exe, "{port}")
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(r"^ok   .*connect\.sd", r.stdout, re.M), r.stdout
    assert "FINDING: the server printed a sanitizer report:\n" in r.stdout
    assert re.search(r"^  server: ==\d+==ERROR: LeakSanitizer: detected memory leaks$", r.stdout,
                     re.M), r.stdout
    assert "wrap: 1 finding\n" in r.stdout


def test_every_listed_mark_is_a_finding_of_wrap_run(build, tmp_path):
    """Each mark `list --sanitizer-marks` prints, and only a report line, makes wrap --run find
    something; a server printing none of them is clean."""
    script = tmp_path / "marks.py"
    script.write_text(MARK_SERVER)
    sc = tmp_path / "connect.sd"
    sc.write_text(CONNECT_ONLY)
    lines = [f"{m} in something" if m.startswith(("ERROR", "WARNING"))
             else f"x.c:1:2: {m} something" for m in sanitizer_marks(build)]
    for line in lines + ["WARNING: nothing a sanitizer says"]:
        r = wrap(build, "--run", sc, "--", sys.executable, script, "{port}", line)
        clean = line.startswith("WARNING: nothing")
        assert r.returncode == (0 if clean else 1), (line, r.stdout + r.stderr)
        assert ("FINDING: the server printed a sanitizer report:" in r.stdout) != clean, line


def test_python_fixture_judges_by_the_clis_marks(build, tmp_path):
    """The Python side reads the marks from the CLI: a wrapped server that printed a
    ThreadSanitizer warning (a mark Python once spelled ERROR) is a problem."""
    from sockdrill import Sockdrill
    sd = Sockdrill(binary=build / "sockdrill")
    assert sd.sanitizer_marks() == tuple(sanitizer_marks(build))
    script = tmp_path / "marks.py"
    script.write_text(MARK_SERVER)
    line = "WARNING: ThreadSanitizer: data race (pid=4242)"
    with sd.wrap([sys.executable, str(script), "{port}", line], faults="",
                 workdir=tmp_path / "w") as server:
        server.connect().close()
        deadline = time.monotonic() + 30
        while line not in server.output() and time.monotonic() < deadline:
            time.sleep(0.05)
    assert server.problem() == f"{sys.executable} printed a sanitizer report " \
                               f"(WARNING: ThreadSanitizer)"
